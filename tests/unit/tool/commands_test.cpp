// SPDX-License-Identifier: GPL-2.0-or-later
// Whole commands on a fake kernel (libksmpart's ScopedBackend): the errors
// a real kernel cannot produce on demand (ENOSYS, EPERM, EBUSY, ...) map to
// the documented exit codes, and merge results reach the output intact.
#include "backend.hpp"
#include "cli.hpp"
#include "commands.hpp"

#include <ksmpart/syscall.hpp>
#include <linux/ksmpart.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>

#include <sys/eventfd.h>
#include <unistd.h>

using namespace ksmtool;

namespace {

/// A kernel whose calls fail with configured errnos; merge "merges" every
/// page of the ranges; pid 666 has no ptrace access, 777 is in another
/// partition, 888 does not exist.
class FakeKernel : public ksmpart::sys::Backend {
public:
	int open_errno = 0;
	int stats_errno = 0;
	bool is_ksmpart = true;
	std::map<int, pid_t> pidfds; ///< fake pidfd -> pid

	bool supported() override { return is_ksmpart; }

	int ksm_open(const char *, unsigned, unsigned) override
	{
		if (open_errno) {
			errno = open_errno;
			return -1;
		}
		return eventfd(0, EFD_CLOEXEC);
	}
	ssize_t ksm_merge(int, int pidfd, const struct iovec *vec, std::size_t vlen,
	                  struct ksm_merge_result *res, unsigned) override
	{
		if (int e = target_errno(pidfd)) {
			errno = e;
			return -1;
		}
		std::size_t bytes = 0;
		for (std::size_t i = 0; i < vlen; i++)
			bytes += vec[i].iov_len;
		if (res) {
			std::uint32_t size = res->size;
			std::memset(res, 0, size);
			res->size = size;
			res->flags = KSM_MERGE_RESULT_JOINED;
			res->pages_scanned = res->pages_merged = bytes / 4096;
		}
		return static_cast<ssize_t>(bytes);
	}
	ssize_t ksm_unmerge(int, int pidfd, const struct iovec *vec, std::size_t vlen,
	                    unsigned) override
	{
		if (int e = target_errno(pidfd)) {
			errno = e;
			return -1;
		}
		std::size_t bytes = 0;
		for (std::size_t i = 0; i < vlen; i++)
			bytes += vec[i].iov_len;
		return static_cast<ssize_t>(bytes);
	}
	int ksm_leave(int, int pidfd, unsigned) override
	{
		if (int e = target_errno(pidfd)) {
			errno = e == EBUSY ? ENOENT : e;
			return -1;
		}
		return 0;
	}
	int get_stats(int, struct ksm_partition_stats *st, std::size_t size) override
	{
		if (stats_errno) {
			errno = stats_errno;
			return -1;
		}
		std::memset(st, 0, size);
		st->size = KSM_PARTITION_STATS_SIZE_VER0;
		st->id = 9;
		st->members = 2;
		st->pages_sharing = 100;
		return 0;
	}
	int pidfd_open(pid_t pid, unsigned) override
	{
		if (pid == 888) {
			errno = ESRCH;
			return -1;
		}
		int fd = eventfd(0, EFD_CLOEXEC);
		pidfds[fd] = pid;
		return fd;
	}
	int pidfd_alive(int) override { return 0; }

private:
	int target_errno(int pidfd)
	{
		switch (pidfds[pidfd]) {
		case 666:
			return EPERM;
		case 777:
			return EBUSY;
		default:
			return 0;
		}
	}
};

struct Outcome {
	int rc;
	std::string out, err;
};

Outcome run_cmd(std::initializer_list<const char *> args)
{
	std::vector<const char *> argv{"ksmpart-tool"};
	argv.insert(argv.end(), args);
	Options o;
	auto p = parse_command_line(static_cast<int>(argv.size()), argv.data(), o);
	if (p.exit_code)
		return {*p.exit_code, p.out, p.err};
	std::ostringstream out, err;
	int rc = run(o, out, err);
	return {rc, out.str(), err.str()};
}

class Commands : public ::testing::Test {
protected:
	FakeKernel k;
	ksmpart::sys::ScopedBackend scope{k};
};

} // namespace

TEST_F(Commands, KernelWithoutKsmpartIsExit3)
{
	k.open_errno = ENOSYS;
	k.is_ksmpart = false;
	for (auto args : {std::initializer_list<const char *>{"create", "db"},
	                  {"open", "db"},
	                  {"stats", "db"},
	                  {"merge", "--create", "db", "100"},
	                  {"watch", "db", "100", "--once"},
	                  {"list", "--table", "/nonexistent/ksm_partitions"},
	                  {"members", "--id", "5"},
	                  {"which", "1"}}) {
		auto r = run_cmd(args);
		EXPECT_EQ(r.rc, 3) << *args.begin() << ": " << r.err;
		EXPECT_NE(r.err.find("CONFIG_KSM_PARTITION"), std::string::npos) << r.err;
	}
}

TEST_F(Commands, KernelWithoutStatisticsIsExit3)
{
	k.stats_errno = ENOTTY;
	auto r = run_cmd({"stats", "db"});
	EXPECT_EQ(r.rc, 3) << r.err;
	EXPECT_NE(r.err.find("KSM_IOC_GET_STATS"), std::string::npos) << r.err;
	// A ksmpart kernel (marker) without /proc/ksm_partitions: older ABI.
	if (geteuid() == 0) {
		auto l = run_cmd({"list", "--table", "/nonexistent/ksm_partitions"});
		EXPECT_EQ(l.rc, 3) << l.err;
		EXPECT_NE(l.err.find("lists no partitions there"), std::string::npos) << l.err;
	}
}

TEST_F(Commands, IpcNamespaceErrors)
{
	auto none = run_cmd({"stats", "db", "--ipc-ns", "/nonexistent/ns/ipc"});
	EXPECT_EQ(none.rc, 5) << none.err;
	EXPECT_NE(none.err.find("cannot enter the IPC namespace"), std::string::npos) << none.err;
	auto notns = run_cmd({"stats", "db", "--ipc-ns", "/proc/self/ns/uts"});
	EXPECT_EQ(notns.rc, 2) << notns.err; // EINVAL: a namespace of another type
	// Our own namespace is fine (as root: CAP_SYS_ADMIN).
	if (geteuid() == 0) {
		auto self = run_cmd({"stats", "db", "--ipc-ns", "/proc/self/ns/ipc"});
		EXPECT_EQ(self.rc, 0) << self.err;
	}
}

TEST_F(Commands, JsonModeErrorsAreJsonToo)
{
	k.open_errno = ENOENT;
	auto r = run_cmd({"stats", "db", "--json"});
	EXPECT_EQ(r.rc, 5);
	auto j = json::parse(r.out, nullptr, false);
	ASSERT_FALSE(j.is_discarded()) << r.out;
	EXPECT_EQ(j["error"]["exit_code"], 5);
	EXPECT_NE(j["error"]["message"].get<std::string>().find("does not exist"),
	          std::string::npos);
	EXPECT_NE(r.err.find("ksmpart-tool: "), std::string::npos); // and on stderr as before
}

TEST_F(Commands, ZeroPagesRejectedIsExit3)
{
	k.open_errno = EINVAL;
	auto r = run_cmd({"create", "db", "--zero-pages"});
	EXPECT_EQ(r.rc, 3) << r.err;
	EXPECT_NE(r.err.find("ZERO_PAGES"), std::string::npos) << r.err;
}

TEST_F(Commands, OpenErrors)
{
	k.open_errno = EACCES;
	EXPECT_EQ(run_cmd({"open", "db"}).rc, 4);
	k.open_errno = ENOENT;
	auto r = run_cmd({"merge", "db", "100"});
	EXPECT_EQ(r.rc, 5);
	EXPECT_NE(r.err.find("hint"), std::string::npos) << r.err;
	k.open_errno = EEXIST;
	EXPECT_EQ(run_cmd({"create", "db", "--excl"}).rc, 7);
	// CREATE of another user's name: EEXIST, and how to join it on purpose.
	auto other = run_cmd({"merge", "--create", "db", "100"});
	EXPECT_EQ(other.rc, 7);
	EXPECT_NE(other.err.find("partition 'db' exists and belongs to another user; open it "
	                         "without --create if you meant to join it"),
	          std::string::npos)
	    << other.err;
	k.open_errno = EPERM;
	auto off = run_cmd({"create", "db"});
	EXPECT_EQ(off.rc, 4) << off.err;
	k.open_errno = EMFILE;
	EXPECT_EQ(run_cmd({"open", "db"}).rc, 1);
}

TEST_F(Commands, MergeReportsWhatTheKernelDid)
{
	auto r = run_cmd(
	    {"merge", "db", "100", "200", "--range", "10000+64K", "--range", "40000+8K", "--json"});
	ASSERT_EQ(r.rc, 0) << r.err;
	auto j = json::parse(r.out);
	// 18 pages per process, each merged; 2 processes.
	EXPECT_EQ(j["id"], 9);
	EXPECT_EQ(j["created"], false);
	auto p = j["processes"][0];
	EXPECT_EQ(p["pid"], 100);
	EXPECT_EQ(p["status"], "ok");
	EXPECT_EQ(p["joined"], true);
	EXPECT_EQ(p["bytes_requested"], 73728);
	EXPECT_EQ(p["bytes_processed"], 73728);
	EXPECT_EQ(p["pages_scanned"], 18);
	EXPECT_EQ(p["pages_merged"], 18);
	EXPECT_EQ(j["total"]["processes"], 2);
	EXPECT_EQ(j["total"]["pages_merged"], 36);
	EXPECT_EQ(j["total"]["bytes_saved"], 147456);
	EXPECT_EQ(r.err, "");
}

TEST_F(Commands, PerProcessErrors)
{
	auto perm = run_cmd({"merge", "db", "666", "--range", "1000+4K"});
	EXPECT_EQ(perm.rc, 4);
	EXPECT_NE(perm.err.find("ptrace"), std::string::npos) << perm.err;
	auto busy = run_cmd({"merge", "db", "777", "--range", "1000+4K"});
	EXPECT_EQ(busy.rc, 7);
	EXPECT_NE(busy.err.find("another partition"), std::string::npos) << busy.err;
	auto gone = run_cmd({"merge", "db", "888", "--range", "1000+4K"});
	EXPECT_EQ(gone.rc, 5);
	auto notmember = run_cmd({"leave", "db", "777"});
	EXPECT_EQ(notmember.rc, 5);
	EXPECT_NE(notmember.err.find("not a member"), std::string::npos) << notmember.err;
	auto unperm = run_cmd({"unmerge", "db", "666", "--range", "1000+4K"});
	EXPECT_EQ(unperm.rc, 4);
}

TEST_F(Commands, SomeFailSomeSucceedIsPartial)
{
	auto r = run_cmd({"merge", "db", "100", "666", "200", "--range", "1000+4K", "--json"});
	EXPECT_EQ(r.rc, 6) << r.err;
	EXPECT_EQ(json::parse(r.out)["total"]["failed"], 1) << r.out;
	auto l = run_cmd({"leave", "db", "100", "888"});
	EXPECT_EQ(l.rc, 6) << l.err;
	EXPECT_NE(l.out.find("pid 100: left"), std::string::npos) << l.out;
}

TEST_F(Commands, Stats)
{
	auto r = run_cmd({"stats", "db", "--json"});
	ASSERT_EQ(r.rc, 0) << r.err;
	auto j = json::parse(r.out);
	EXPECT_EQ(j["name"], "db");
	EXPECT_EQ(j["id"], 9);
	EXPECT_EQ(j["members"], 2);
	EXPECT_EQ(j["pages_sharing"], 100);
	auto prom = run_cmd({"stats", "db", "--format", "prometheus"});
	ASSERT_EQ(prom.rc, 0) << prom.err;
	EXPECT_NE(prom.out.find("ksmpart_sharing_pages{partition=\"9\",name=\"db\"} 100\n"),
	          std::string::npos)
	    << prom.out;
	auto live = run_cmd({"stats", "db", "--interval", "0.01", "--count", "3", "-J"});
	ASSERT_EQ(live.rc, 0) << live.err;
	EXPECT_EQ(std::count(live.out.begin(), live.out.end(), '\n'), 3) << live.out;
}

TEST_F(Commands, WatchOnceReportsARound)
{
	auto r = run_cmd({"watch", "db", "100", "666", "--once", "--range", "1000+8K", "--json"});
	EXPECT_EQ(r.rc, 6) << r.err; // one of two failed in the only round
	EXPECT_EQ(r.out.rfind(R"({"round":1,)", 0), 0u) << r.out;
	EXPECT_NE(r.out.find(R"("processes":2,"new":[100,666],"gone":[],"pages_scanned":2,)"
	                     R"("pages_merged":2,)"),
	          std::string::npos)
	    << r.out;
	EXPECT_NE(r.out.find(R"("errors":[{"pid":666,)"), std::string::npos) << r.out;
	EXPECT_NE(r.out.find(R"("stats":{"members":2,)"), std::string::npos) << r.out;
	EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
	EXPECT_FALSE(json::parse(r.out, nullptr, false).is_discarded());
}

TEST_F(Commands, WatchCountsRounds)
{
	auto r = run_cmd(
	    {"watch", "db", "100", "--count", "3", "--interval", "0.01", "--range", "1000+4K"});
	EXPECT_EQ(r.rc, 0) << r.err;
	EXPECT_NE(r.out.find(" round 3:"), std::string::npos) << r.out;
	EXPECT_EQ(r.out.find(" round 4:"), std::string::npos) << r.out;
	// Processes seen in round 1 are not new in round 2.
	EXPECT_NE(r.out.find(" round 2: 1 processes (0 new, 0 gone)"), std::string::npos) << r.out;
	// Each line starts with a timestamp, YYYY-MM-DD HH:MM:SS.
	EXPECT_EQ(r.out[4], '-') << r.out;
	EXPECT_EQ(r.out[13], ':') << r.out;
}
