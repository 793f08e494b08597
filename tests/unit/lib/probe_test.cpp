// SPDX-License-Identifier: GPL-2.0-or-later
// The library issues no ksmpart system call number unless the running
// kernel shows a positive ksmpart marker. On this host (not a ksmpart
// kernel) a child process runs under a seccomp filter that kills it on any
// number from 463 to 475 (the old and the new ksmpart numbers, and what
// other kernels give them: the *xattrat calls and later ones), then calls
// the probe and every public entry point that could reach the kernel, C and
// C++. It must exit normally, every call having failed with ENOSYS.
#include "backend.hpp"

#include <ksmpart.h>
#include <ksmpart/ksmpart.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <string>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ksmpart;

namespace {

constexpr unsigned first_nr = 463, last_nr = 475;

bool host_has_marker()
{
	struct stat st;
	if (stat("/sys/kernel/mm/ksm/partitions", &st) == 0)
		return true;
	std::ifstream f("/proc/self/ksm_stat");
	std::string line;
	while (std::getline(f, line))
		if (line.starts_with("ksm_partition "))
			return true;
	return false;
}

/// SECCOMP_RET_KILL_PROCESS for first_nr..last_nr on x86_64.
bool install_filter()
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, first_nr, 0, 2),
	    BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, last_nr, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {static_cast<unsigned short>(sizeof(f) / sizeof(f[0])), f};
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0;
}

struct ChildResult {
	bool exited = false;
	int code = -1;
	int signal = 0;
	std::string out;
};

/// Run f in a child under the filter; f's return is the exit code, what
/// it prints to `out` comes back.
template <typename F> ChildResult filtered_child(F f)
{
	int p[2];
	if (pipe(p) != 0)
		return {};
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		FILE *out = fdopen(p[1], "w");
		if (!install_filter())
			_exit(99);
		int rc = f(out);
		fflush(out);
		_exit(rc);
	}
	close(p[1]);
	ChildResult r;
	char buf[4096];
	ssize_t n;
	while ((n = read(p[0], buf, sizeof(buf))) > 0)
		r.out.append(buf, n);
	close(p[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	r.exited = WIFEXITED(status);
	r.code = r.exited ? WEXITSTATUS(status) : -1;
	r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	return r;
}

class NoSyscallWithoutMarker : public ::testing::Test {
protected:
	void SetUp() override
	{
#if !defined(__x86_64__)
		GTEST_SKIP() << "the filter checks x86_64 syscall numbers";
#endif
		if (host_has_marker())
			GTEST_SKIP()
			    << "this host runs a ksmpart kernel: the calls are legitimate here";
	}
};

} // namespace

TEST_F(NoSyscallWithoutMarker, FilterKillsOnTheNumbers)
{
	// Positive control: the filter does kill a process making such a call.
	for (unsigned nr : {first_nr, 466u, 472u, last_nr}) {
		auto r = filtered_child([nr](FILE *) {
			syscall(nr, 0, 0, 0, 0, 0, 0);
			return 0;
		});
		EXPECT_FALSE(r.exited) << nr;
		EXPECT_EQ(r.signal, SIGSYS) << nr;
	}
}

TEST_F(NoSyscallWithoutMarker, EveryEntryPointSaysNotSupported)
{
	auto r = filtered_child([](FILE *out) {
		sys::reset_probe(); // probe inside the filtered child
		int bad = 0;
		auto expect = [&](const char *what, int err) {
			if (err != ENOSYS) {
				fprintf(out, "%s: errno %d, not ENOSYS\n", what, err);
				bad++;
			}
		};
		auto pr = probe();
		expect("probe", pr ? 0 : pr.error().errnum());
		fprintf(out, "%s\n", pr ? "supported?" : pr.error().message().c_str());

		// C++ API.
		expect("Partition::anonymous", Partition::anonymous().error().errnum());
		expect("Partition::create", Partition::create("t").error().errnum());
		CreateOptions excl;
		excl.exclusive = true;
		expect("Partition::create excl", Partition::create("t", excl).error().errnum());
		expect("Partition::open", Partition::open("t").error().errnum());
		expect("Partition::open_or_create",
		       Partition::open_or_create("t").error().errnum());
		errno = 0;
		expect("sys::ksm_open", sys::ksm_open("t", open_create, 0600) < 0 ? errno : 0);
		expect("sys::ksm_open NULL", sys::ksm_open(nullptr, 0, 0) < 0 ? errno : 0);
		char page[4096] = {1};
		struct iovec iov = {page, sizeof(page)};
		expect("sys::ksm_merge",
		       sys::ksm_merge(3, pidfd_self, &iov, 1, nullptr, 0) < 0 ? errno : 0);
		expect("sys::ksm_unmerge",
		       sys::ksm_unmerge(3, pidfd_self, &iov, 1, 0) < 0 ? errno : 0);
		expect("sys::ksm_leave", sys::ksm_leave(3, pidfd_self, 0) < 0 ? errno : 0);
		auto fd = Partition::adopt(dup(0));
		std::vector<Range> ranges{Range::of(page, sizeof(page))};
		expect("merge ranges",
		       fd.merge(Pidfd::self(), std::span<const Range>(ranges)).error.errnum());
		expect(
		    "merge iovec",
		    fd.merge(Pidfd::self(), std::span<const struct iovec>(&iov, 1)).error.errnum());
		expect("merge selector",
		       fd.merge(Pidfd::self(), Selector::anonymous()).error.errnum());
		expect("join", fd.join(Pidfd::self()).error.errnum());
		expect("unmerge ranges",
		       fd.unmerge(Pidfd::self(), std::span<const Range>(ranges)).error.errnum());
		expect("unmerge selector",
		       fd.unmerge(Pidfd::self(), Selector::anonymous()).error.errnum());
		expect("leave", fd.leave(Pidfd::self()).error().errnum());

		// C API.
		ksmpart_partition *p = nullptr;
		expect("ksmpart_available", -ksmpart_available());
		expect("ksmpart_open", -ksmpart_open("t", 0, 0, &p));
		expect("ksmpart_open CREATE", -ksmpart_open("t", KSMPART_CREATE, 0600, &p));
		expect("ksmpart_open CREATE|EXCL",
		       -ksmpart_open("t", KSMPART_CREATE | KSMPART_EXCL, 0600, &p));
		int created = -1;
		expect("ksmpart_open_or_create",
		       -ksmpart_open_or_create("t", 0, 0600, &p, &created));
		expect("ksmpart_open_anonymous", -ksmpart_open_anonymous(0, &p));
		if (ksmpart_adopt_fd(dup(0), &p) != 0) {
			fprintf(out, "ksmpart_adopt_fd failed\n");
			return 2;
		}
		ksmpart_merge_report rep{};
		rep.size = sizeof(rep);
		expect("ksmpart_merge", -ksmpart_merge(p, KSMPART_PIDFD_SELF, &iov, 1, &rep));
		expect("ksmpart_merge vlen 0",
		       -ksmpart_merge(p, KSMPART_PIDFD_SELF, nullptr, 0, &rep));
		expect("ksmpart_merge_anonymous", -ksmpart_merge_anonymous(p, 0, &rep));
		expect("ksmpart_merge_anonymous_pidfd",
		       -ksmpart_merge_anonymous_pidfd(p, KSMPART_PIDFD_SELF, &rep));
		expect("ksmpart_unmerge", -ksmpart_unmerge(p, KSMPART_PIDFD_SELF, &iov, 1, &rep));
		expect("ksmpart_leave", -ksmpart_leave(p, KSMPART_PIDFD_SELF));
		ksmpart_close(p);
		fprintf(out, "%s\n", ksmpart_last_error());
		return bad ? 1 : 0;
	});
	ASSERT_TRUE(r.exited) << "killed by signal " << r.signal
	                      << " (SIGSYS: a ksmpart number was called)\n"
	                      << r.out;
	EXPECT_EQ(r.code, 0) << r.out;
	EXPECT_NE(r.out.find("this kernel has no ksmpart support"), std::string::npos) << r.out;
}

// The positive path: a marker makes the kernel backend report support.
// The markers are files here; no system call of ksmpart's is made.
class Marker : public ::testing::Test {
protected:
	std::string dir;
	void SetUp() override
	{
		char tmpl[] = "/tmp/ksmpart-probe.XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
	}
	void TearDown() override
	{
		sys::set_probe_paths("/sys/kernel/mm/ksm", "/proc/self/ksm_stat");
		std::string cmd = "rm -rf '" + dir + "'";
		EXPECT_EQ(system(cmd.c_str()), 0);
	}
	void write(const std::string &file, const std::string &text)
	{
		std::ofstream(dir + "/" + file) << text;
	}
};

TEST_F(Marker, PartitionsDirectory)
{
	ASSERT_EQ(mkdir((dir + "/partitions").c_str(), 0755), 0);
	sys::set_probe_paths(dir, dir + "/nonexistent");
	EXPECT_TRUE(sys::kernel().supported());
	EXPECT_TRUE(probe());
}

TEST_F(Marker, KsmStatLine)
{
	write("ksm_stat", "ksm_rmap_items 0\nksm_zero_pages 0\nksm_merging_pages 0\n"
	                  "ksm_process_profit 0\nksm_merge_any: no\nksm_mergeable: no\n"
	                  "ksm_partition 0\n");
	sys::set_probe_paths(dir, dir + "/ksm_stat");
	EXPECT_TRUE(sys::kernel().supported());
	EXPECT_TRUE(probe());
}

TEST_F(Marker, UpstreamKsmStatIsNotAMarker)
{
	// 6.12's own lines, and a look-alike key, prove nothing.
	write("ksm_stat", "ksm_rmap_items 0\nksm_zero_pages 0\nksm_merging_pages 0\n"
	                  "ksm_process_profit 0\nksm_merge_any: no\nksm_mergeable: no\n"
	                  "ksm_partitions 1\n");
	write("partitions", "a file, not a directory\n");
	sys::set_probe_paths(dir, dir + "/ksm_stat");
	EXPECT_FALSE(sys::kernel().supported());
	auto r = probe();
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().errnum(), ENOSYS);
	EXPECT_EQ(Partition::anonymous().error().errnum(), ENOSYS);
}

TEST_F(Marker, AnswerIsCachedUntilReset)
{
	sys::set_probe_paths(dir, dir + "/ksm_stat");
	EXPECT_FALSE(sys::kernel().supported());
	ASSERT_EQ(mkdir((dir + "/partitions").c_str(), 0755), 0);
	EXPECT_FALSE(sys::kernel().supported()); // cached
	sys::reset_probe();
	EXPECT_TRUE(sys::kernel().supported());
}
