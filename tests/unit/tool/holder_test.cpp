// SPDX-License-Identifier: GPL-2.0-or-later
// The holder process of create --hold, with any fd standing in for a
// partition fd (the holder only keeps it open).
#include "holder.hpp"
#include "util.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <sys/eventfd.h>
#include <unistd.h>

using namespace ksmtool;
namespace fs = std::filesystem;

TEST(Pidfile, Defaults)
{
	EXPECT_EQ(default_pidfile("db", 0, "/run/user/0"), "/run/ksmpart/db.pid");
	EXPECT_EQ(default_pidfile("db", 1000, "/run/user/1000"), "/run/user/1000/ksmpart/db.pid");
	EXPECT_EQ(default_pidfile("db", 1000, nullptr), "/tmp/ksmpart-1000/db.pid");
	EXPECT_EQ(default_pidfile("db", 1000, ""), "/tmp/ksmpart-1000/db.pid");
}

class Holder : public ::testing::Test {
protected:
	fs::path dir;
	std::string pidfile;

	void SetUp() override
	{
		char tmpl[] = "/tmp/ksmpart-holder-test.XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
		pidfile = (dir / "sub" / "db.pid").string();
	}
	void TearDown() override
	{
		std::error_code ec;
		stop_holder(pidfile, ec);
		fs::remove_all(dir, ec);
	}
	/// The fds the process holds that refer to the same file as `fd` here.
	static bool holds_same_file(pid_t pid, int fd)
	{
		std::string mine = fs::read_symlink("/proc/self/fd/" + std::to_string(fd));
		std::error_code ec;
		for (auto &e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec))
			if (fs::read_symlink(e.path(), ec) == mine)
				return true;
		return false;
	}
};

TEST_F(Holder, KeepsTheFdUntilStopped)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(efd, 0);
	auto part = ksmpart::Partition::adopt(efd);

	std::error_code ec;
	pid_t pid = start_holder(part, pidfile, ec);
	ASSERT_GT(pid, 0) << ec.message();
	EXPECT_NE(pid, getpid());

	// Pid file written, holder alive, in its own session, holding the fd.
	std::string text;
	ASSERT_TRUE(read_file(pidfile, text, ec)) << ec.message();
	EXPECT_EQ(text, std::to_string(pid) + "\n");
	EXPECT_EQ(kill(pid, 0), 0);
	EXPECT_EQ(getsid(pid), getpgid(pid));
	EXPECT_NE(getsid(pid), getsid(0));
	std::string comm;
	ASSERT_TRUE(read_file("/proc/" + std::to_string(pid) + "/comm", comm, ec));
	EXPECT_EQ(trim(comm), holder_comm);
	EXPECT_TRUE(holds_same_file(pid, efd));

	// A second holder of the same name is refused and names the first.
	pid_t other = 0;
	EXPECT_EQ(start_holder(part, pidfile, ec, &other), -1);
	EXPECT_EQ(ec.value(), EEXIST);
	EXPECT_EQ(other, pid);

	// Stop: the process is gone (or a zombie of init) and the file removed.
	EXPECT_EQ(stop_holder(pidfile, ec), pid) << ec.message();
	EXPECT_FALSE(fs::exists(pidfile));
	std::string status;
	if (read_file("/proc/" + std::to_string(pid) + "/status", status, ec)) {
		EXPECT_NE(status.find("State:\tZ"), std::string::npos) << status;
	}

	// Nothing left to stop.
	EXPECT_EQ(stop_holder(pidfile, ec), -1);
	EXPECT_EQ(ec.value(), ENOENT);
}

TEST_F(Holder, StalePidfileIsRemoved)
{
	fs::create_directories(fs::path(pidfile).parent_path());
	std::ofstream(pidfile) << "999999\n"; // nobody holds its lock
	std::error_code ec;
	EXPECT_EQ(stop_holder(pidfile, ec), -1);
	EXPECT_EQ(ec.value(), ESRCH);
	EXPECT_FALSE(fs::exists(pidfile));
}

TEST_F(Holder, UnwritablePidfileDirectory)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	auto part = ksmpart::Partition::adopt(efd);
	std::error_code ec;
	EXPECT_EQ(start_holder(part, "/proc/ksmpart-no/db.pid", ec), -1);
	EXPECT_TRUE(ec);
}
