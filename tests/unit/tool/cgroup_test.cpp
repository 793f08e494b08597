// SPDX-License-Identifier: GPL-2.0-or-later
// Enumerating a cgroup v2 hierarchy, on a fake tree in a temporary directory.
#include "cgroup.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <fstream>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ksmtool;
namespace fs = std::filesystem;

class Cgroup : public ::testing::Test {
protected:
	fs::path root;

	void SetUp() override
	{
		char tmpl[] = "/tmp/ksmpart-cgroup-test.XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		root = tmpl;
	}
	void TearDown() override
	{
		std::error_code ec;
		fs::permissions(root / "a" / "locked", fs::perms::owner_all, ec);
		fs::remove_all(root, ec);
	}
	/// A cgroup directory with these pids in its cgroup.procs.
	void cg(const fs::path &rel, const std::string &procs)
	{
		fs::create_directories(root / rel);
		std::ofstream(root / rel / "cgroup.procs") << procs;
		// Real cgroup directories hold many other files.
		std::ofstream(root / rel / "memory.current") << "4096\n";
	}
};

TEST_F(Cgroup, SingleDirectory)
{
	cg("a", "30\n10\n20\n");
	std::error_code ec;
	EXPECT_EQ(cgroup_pids(root / "a", ec), (std::vector<pid_t>{10, 20, 30}));
	EXPECT_FALSE(ec);
}

TEST_F(Cgroup, RecursiveWithDuplicatesRemoved)
{
	cg("a", "5\n");
	cg("a/b", "7\n8\n");
	cg("a/b/c", "9\n");
	cg("a/d", "");
	cg("a/e", "5\n"); // cannot happen in the kernel, but must not count twice
	cg("other", "100\n");
	std::error_code ec;
	EXPECT_EQ(cgroup_pids(root / "a", ec), (std::vector<pid_t>{5, 7, 8, 9}));
	EXPECT_FALSE(ec) << ec.message();
}

TEST_F(Cgroup, EmptyCgroup)
{
	cg("a", "");
	std::error_code ec;
	EXPECT_TRUE(cgroup_pids(root / "a", ec).empty());
	EXPECT_FALSE(ec);
}

TEST_F(Cgroup, MissingDirectory)
{
	std::error_code ec;
	EXPECT_TRUE(cgroup_pids(root / "nope", ec).empty());
	EXPECT_EQ(ec.value(), ENOENT);
}

TEST_F(Cgroup, NotADirectory)
{
	cg("a", "1\n");
	std::error_code ec;
	EXPECT_TRUE(cgroup_pids(root / "a" / "cgroup.procs", ec).empty());
	EXPECT_EQ(ec.value(), ENOTDIR);
}

TEST_F(Cgroup, DirectoryWithoutProcsIsNotACgroup)
{
	fs::create_directories(root / "plain");
	std::error_code ec;
	EXPECT_TRUE(cgroup_pids(root / "plain", ec).empty());
	EXPECT_EQ(ec.value(), EMEDIUMTYPE);
}

TEST_F(Cgroup, ChildWithoutProcsIsIgnored)
{
	// A child removed while walking looks like a directory without
	// cgroup.procs (or no directory at all): its processes are gone.
	cg("a", "1\n");
	fs::create_directories(root / "a" / "vanishing");
	std::error_code ec;
	EXPECT_EQ(cgroup_pids(root / "a", ec), std::vector<pid_t>{1});
	EXPECT_FALSE(ec);
}

TEST_F(Cgroup, MalformedProcs)
{
	cg("a", "1\nbogus\n");
	std::error_code ec;
	EXPECT_TRUE(cgroup_pids(root / "a", ec).empty());
	EXPECT_EQ(ec.value(), EBADMSG);
}

TEST_F(Cgroup, UnreadableChildIsAnError)
{
	cg("a", "1\n");
	cg("a/locked", "2\n");
	fs::permissions(root / "a" / "locked", fs::perms::none);
	if (geteuid() != 0) {
		std::error_code ec;
		EXPECT_TRUE(cgroup_pids(root / "a", ec).empty());
		EXPECT_EQ(ec.value(), EACCES);
		return;
	}
	// Root reads a mode-000 directory anyway: check as nobody, in a child.
	fs::permissions(root,
	                fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
	pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		std::error_code ec;
		auto pids = cgroup_pids(root / "a", ec);
		_exit(pids.empty() && ec.value() == EACCES ? 0 : 1);
	}
	int status = 0;
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0) << "2: cannot become nobody, 1: no EACCES";
}

TEST_F(Cgroup, SymlinksAreNotFollowed)
{
	cg("a", "1\n");
	cg("elsewhere", "2\n");
	fs::create_directory_symlink(root / "elsewhere", root / "a" / "link");
	std::error_code ec;
	EXPECT_EQ(cgroup_pids(root / "a", ec), std::vector<pid_t>{1});
}

TEST(CgroupProcs, Parse)
{
	std::vector<pid_t> p;
	EXPECT_TRUE(parse_cgroup_procs("1\n22\n333\n", p));
	EXPECT_EQ(p, (std::vector<pid_t>{1, 22, 333}));
	p.clear();
	EXPECT_TRUE(parse_cgroup_procs("", p));
	EXPECT_TRUE(p.empty());
	EXPECT_FALSE(parse_cgroup_procs("0\n", p));
	EXPECT_FALSE(parse_cgroup_procs("-1\n", p));
	EXPECT_FALSE(parse_cgroup_procs("12 13\n", p));
}

TEST(CgroupResolve, PathsAsProcAndSystemdPrintThem)
{
	const fs::path root = "/sys/fs/cgroup";
	// /proc/PID/cgroup and systemctl show -p ControlGroup: below the mount.
	EXPECT_EQ(resolve_cgroup("/ux/a", root), fs::path("/sys/fs/cgroup/ux/a"));
	EXPECT_EQ(resolve_cgroup("/system.slice/web.service", root),
	          fs::path("/sys/fs/cgroup/system.slice/web.service"));
	EXPECT_EQ(resolve_cgroup("0::/ux/a", root), fs::path("/sys/fs/cgroup/ux/a"));
	// The root cgroup, however it is written.
	EXPECT_EQ(resolve_cgroup("/", root), root);
	EXPECT_EQ(resolve_cgroup("0::/", root), root);
	// Already below the mount: as it is.
	EXPECT_EQ(resolve_cgroup("/sys/fs/cgroup/ux/a", root), fs::path("/sys/fs/cgroup/ux/a"));
	// Relative paths are below the mount, never below the cwd.
	EXPECT_EQ(resolve_cgroup("ux/a", root), fs::path("/sys/fs/cgroup/ux/a"));
	EXPECT_EQ(resolve_cgroup(".", root), root);
	// Another mount point.
	EXPECT_EQ(resolve_cgroup("/a", "/mnt/cg2"), fs::path("/mnt/cg2/a"));
}

TEST_F(Cgroup, Cgroup2MountFromMountinfo)
{
	auto mi = root / "mountinfo";
	std::ofstream(mi) << "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
	                     "30 22 0:26 / /mnt/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw\n";
	EXPECT_EQ(cgroup2_mount(mi.string()), "/mnt/unified");
	std::ofstream(mi) << "22 1 0:21 / /proc rw,nosuid - proc proc rw\n";
	EXPECT_EQ(cgroup2_mount(mi.string()), "/sys/fs/cgroup");
	EXPECT_EQ(cgroup2_mount((root / "nonexistent").string()), "/sys/fs/cgroup");
}

TEST_F(Cgroup, UnitsAreFoundWhereSystemdPutsThem)
{
	cg("system.slice", "");
	cg("system.slice/web.service", "10\n");
	cg("system.slice/web.service/sub", "11\n");
	cg("user.slice/user-1000.slice/user@1000.service/app.slice/web.service", "20\n");
	cg("system.slice/db.service", "30\n");
	std::error_code ec;
	auto dirs = unit_cgroups("db", root, ec); // ".service" is implied
	ASSERT_FALSE(ec) << ec.message();
	ASSERT_EQ(dirs.size(), 1u);
	EXPECT_EQ(dirs[0], root / "system.slice/db.service");
	auto web = unit_cgroups("web.service", root, ec);
	ASSERT_EQ(web.size(), 2u); // the system one and a user's, not .../sub
	auto slice = unit_cgroups("system.slice", root, ec);
	ASSERT_EQ(slice.size(), 1u);
	auto pids = cgroup_pids(slice[0], ec);
	EXPECT_EQ(pids, (std::vector<pid_t>{10, 11, 30}));
	unit_cgroups("nope.service", root, ec);
	EXPECT_EQ(ec.value(), ENOENT);
}
