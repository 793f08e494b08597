// SPDX-License-Identifier: GPL-2.0-or-later
// End-to-end tests of ksmpart-tool on the ksmpart kernel: real processes
// with duplicate pages, effects checked through /proc (ksm_stat, pagemap
// PFNs), the tool's JSON against the pages the test created, and exit codes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

const std::size_t page = sysconf(_SC_PAGESIZE);
constexpr std::size_t npages = 128; // per process: 512 KiB, quick under TCG

// --- running the tool ----------------------------------------------------

struct Run {
	int rc = -1;
	std::string out, err;
	nlohmann::ordered_json json; ///< stdout parsed, if it is one JSON document
};

std::string slurp(const std::string &path)
{
	std::ifstream f(path);
	std::stringstream ss;
	ss << f.rdbuf();
	return ss.str();
}

/// Run ksmpart-tool with `args`; as uid/gid `as` (e.g. 65534) if given.
Run tool(const std::vector<std::string> &args, std::optional<uid_t> as = std::nullopt)
{
	char out[] = "/tmp/tool-out.XXXXXX", err[] = "/tmp/tool-err.XXXXXX";
	int ofd = mkstemp(out), efd = mkstemp(err);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(ofd, 1);
		dup2(efd, 2);
		if (as && (setgroups(0, nullptr) != 0 || setgid(*as) != 0 || setuid(*as) != 0))
			_exit(120);
		std::vector<char *> argv{const_cast<char *>(KSMPART_TOOL)};
		for (const auto &a : args)
			argv.push_back(const_cast<char *>(a.c_str()));
		argv.push_back(nullptr);
		execv(KSMPART_TOOL, argv.data());
		_exit(121);
	}
	Run r;
	int status = 0;
	waitpid(pid, &status, 0);
	r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	r.out = slurp(out);
	r.err = slurp(err);
	// JSON output is checked in its compact form (key order is the tool's):
	// a whole document, or one per line (watch, stats --interval).
	if (!r.out.empty() && r.out.front() == '{') {
		auto whole = json::parse(r.out, nullptr, false);
		if (!whole.is_discarded()) {
			r.json = whole;
			r.out = whole.dump() + "\n";
		}
	}
	close(ofd);
	close(efd);
	unlink(out);
	unlink(err);
	return r;
}

std::string describe(const Run &r)
{
	return "rc=" + std::to_string(r.rc) + "\nstdout:\n" + r.out + "stderr:\n" + r.err;
}

/// The unsigned number after "key": in `json`, searching from `from`
/// (e.g. the position of an object's "pid":N). nullopt if absent.
std::optional<long long> json_num(const std::string &json, const std::string &key,
                                  std::size_t from = 0)
{
	auto k = json.find("\"" + key + "\":", from);
	if (k == std::string::npos)
		return std::nullopt;
	// Unsigned, then cast: partition ids use all 64 bits (and strtoull
	// still gives a negative general_profit back exactly).
	return static_cast<long long>(std::stoull(json.substr(k + key.size() + 3)));
}

/// Position of the object of process `pid` in a merge/watch JSON output.
std::size_t pid_pos(const std::string &json, pid_t pid)
{
	return json.find("\"pid\":" + std::to_string(pid) + ",");
}

// --- ground truth from /proc ---------------------------------------------

long long ksm_stat(pid_t pid, const std::string &key)
{
	std::ifstream f("/proc/" + std::to_string(pid) + "/ksm_stat");
	std::string k;
	long long v;
	while (f >> k >> v)
		if (k == key)
			return v;
	return -1;
}

std::uint64_t pfn(pid_t pid, const void *addr)
{
	int fd = open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY);
	std::uint64_t e = 0;
	if (fd >= 0) {
		if (pread(fd, &e, 8, reinterpret_cast<std::uintptr_t>(addr) / page * 8) != 8)
			e = 0;
		close(fd);
	}
	return e & (1ull << 63) ? e & ((1ull << 55) - 1) : 0;
}

// --- processes with duplicate memory --------------------------------------

enum class Fill { pattern, zeros, unique };

/// Content of word w of page i for Fill::pattern: distinct per page, the
/// same in every process (so the duplicates are across processes).
std::uint64_t pattern(std::size_t i, std::size_t w)
{
	return (i + 1) * 0x9e3779b97f4a7c15ull ^ w;
}

/// A child that fills `pages` pages at `addr` (mapped by the parent before
/// fork, so it is at the same address in every child) and waits. When told
/// to finish, it checks its content byte for byte and exits 0 if intact.
class Child {
public:
	Child(char *addr, std::size_t pages, Fill fill, unsigned seed = 0)
	    : addr_(addr), pages_(pages)
	{
		int ready[2], cmd[2];
		if (pipe(ready) != 0 || pipe(cmd) != 0)
			throw std::runtime_error("pipe");
		pid_ = fork();
		if (pid_ == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			// Other children's pipe ends must not be kept open here, or
			// their finish() would never see EOF.
			for (int fd = 3; fd < 1024; fd++)
				if (fd != ready[1] && fd != cmd[0])
					close(fd);
			auto words = page / 8;
			auto *w = reinterpret_cast<std::uint64_t *>(addr);
			for (std::size_t i = 0; i < pages; i++)
				for (std::size_t j = 0; j < words; j++)
					w[i * words + j] = value(fill, seed, i, j);
			char c = 'r';
			if (write(ready[1], &c, 1) != 1)
				_exit(3);
			while (read(cmd[0], &c, 1) > 0) {
			}
			for (std::size_t i = 0; i < pages; i++)
				for (std::size_t j = 0; j < words; j++)
					if (w[i * words + j] != value(fill, seed, i, j))
						_exit(1);
			_exit(0);
		}
		close(ready[1]);
		close(cmd[0]);
		cmd_ = cmd[1];
		fcntl(cmd_, F_SETFD, FD_CLOEXEC); // not into the tool and its holder
		char c;
		if (read(ready[0], &c, 1) != 1)
			throw std::runtime_error("child did not start");
		close(ready[0]);
	}
	~Child()
	{
		if (pid_ > 0) {
			kill(pid_, SIGKILL);
			waitpid(pid_, nullptr, 0);
		}
		if (cmd_ >= 0)
			close(cmd_);
	}
	pid_t pid() const { return pid_; }
	std::string spid() const { return std::to_string(pid_); }
	char *page_addr(std::size_t i) const { return addr_ + i * page; }
	/// Tell it to verify and exit; true if its memory was intact.
	bool finish()
	{
		close(cmd_);
		cmd_ = -1;
		int status = 0;
		waitpid(pid_, &status, 0);
		pid_ = -1;
		return WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}

private:
	static std::uint64_t value(Fill f, unsigned seed, std::size_t i, std::size_t j)
	{
		switch (f) {
		case Fill::zeros:
			return 0;
		case Fill::unique:
			return pattern(i, j) + seed * 0x100000001ull + 1;
		case Fill::pattern:
			break;
		}
		return pattern(i, j);
	}
	char *addr_;
	std::size_t pages_;
	pid_t pid_ = -1;
	int cmd_ = -1;
};

/// A cgroup v2 directory for the test, removed (with its children) at the
/// end after moving any process left back to the root cgroup.
class Cgroup {
public:
	explicit Cgroup(const std::string &name)
	{
		root_ = "/sys/fs/cgroup";
		if (!fs::exists(root_ / "cgroup.procs"))
			mount("cgroup2", root_.c_str(), "cgroup2", 0, nullptr);
		path_ = root_ / name;
		fs::create_directories(path_);
	}
	~Cgroup()
	{
		std::vector<fs::path> dirs;
		for (auto &e : fs::recursive_directory_iterator(path_))
			if (e.is_directory())
				dirs.push_back(e.path());
		dirs.push_back(path_);
		std::sort(dirs.begin(), dirs.end(), std::greater<>());
		for (auto &d : dirs) {
			std::ifstream in(d / "cgroup.procs");
			pid_t p;
			while (in >> p)
				std::ofstream(root_ / "cgroup.procs") << p;
			rmdir(d.c_str());
		}
	}
	bool usable() const { return fs::exists(path_ / "cgroup.procs"); }
	fs::path path(const std::string &sub = "") const
	{
		if (sub.empty())
			return path_;
		fs::create_directories(path_ / sub);
		return path_ / sub;
	}
	static void add(const fs::path &dir, pid_t pid)
	{
		std::ofstream(dir / "cgroup.procs") << pid;
	}

private:
	fs::path root_, path_;
};

/// The kernel has the statistics ioctl and sysfs (the issue 4 kernel).
bool have_stats()
{
	return fs::exists("/sys/kernel/mm/ksm/partitions");
}

class Tool : public ::testing::Test {
protected:
	std::string name; ///< a partition name unique to the test
	char *region = nullptr;

	void SetUp() override
	{
		ASSERT_EQ(geteuid(), 0u) << "the VM tests run as root";
		ASSERT_EQ(access(KSMPART_TOOL, X_OK), 0) << KSMPART_TOOL;
		name = std::string("vmtool-") +
		       ::testing::UnitTest::GetInstance()->current_test_info()->name();
		// Mapped before the children fork: same address in all of them;
		// the parent never touches it, so only the children have pages.
		void *m = mmap(nullptr, npages * page, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(m, MAP_FAILED);
		madvise(m, npages * page, MADV_NOHUGEPAGE);
		region = static_cast<char *>(m);
	}
	void TearDown() override
	{
		tool({"release", name}); // if a test left a holder
		munmap(region, npages * page);
	}
	/// --range argument covering the children's buffer.
	std::string range() const
	{
		char buf[64];
		snprintf(buf, sizeof(buf), "%lx+%zu", reinterpret_cast<unsigned long>(region),
		         npages * page);
		return buf;
	}
	/// PFNs of page i equal in a and b, for every page; distinct pages differ.
	void expect_shared(const Child &a, const Child &b)
	{
		for (std::size_t i = 0; i < npages; i++) {
			auto pa = pfn(a.pid(), a.page_addr(i));
			ASSERT_NE(pa, 0u) << "page " << i;
			EXPECT_EQ(pa, pfn(b.pid(), b.page_addr(i))) << "page " << i;
			if (i) {
				EXPECT_NE(pa, pfn(a.pid(), a.page_addr(i - 1))) << "page " << i;
			}
		}
	}
	void expect_not_shared(const Child &a, const Child &b)
	{
		for (std::size_t i = 0; i < npages; i++)
			EXPECT_NE(pfn(a.pid(), a.page_addr(i)), pfn(b.pid(), b.page_addr(i)))
			    << "page " << i;
	}
};

} // namespace

// --- merge -------------------------------------------------------------

// What the README tells a new admin to run: --version names the running
// kernel and says it has ksmpart, and says so when the admin switch is off.
TEST_F(Tool, VersionSaysTheKernelHasKsmpart)
{
	struct utsname uts {};
	ASSERT_EQ(uname(&uts), 0);
	auto v = tool({"--version"});
	ASSERT_EQ(v.rc, 0) << describe(v);
	EXPECT_NE(v.out.find("kernel " + std::string(uts.release) + ": ksmpart available"),
	          std::string::npos)
	    << v.out;
	EXPECT_EQ(v.out.find("disabled"), std::string::npos) << v.out;

	auto set_enabled = [](const char *value) {
		std::ofstream f("/sys/kernel/mm/ksm/partitions/enabled");
		f << value;
		f.flush();
		return f.good();
	};
	ASSERT_TRUE(set_enabled("0"));
	auto off = tool({"--version"});
	ASSERT_TRUE(set_enabled("1"));
	EXPECT_NE(off.out.find("ksmpart available, disabled"), std::string::npos) << off.out;
}

TEST_F(Tool, MergeTwoPidsThenUnmergeAndLeave)
{
	Child a(region, npages, Fill::pattern), b(region, npages, Fill::pattern);
	expect_not_shared(a, b);

	auto r =
	    tool({"merge", "--create", name, a.spid(), b.spid(), "--range", range(), "--json"});
	ASSERT_EQ(r.rc, 0) << describe(r);
	// a first: its pages become candidates; b: each page merges with one.
	auto pa = pid_pos(r.out, a.pid()), pb = pid_pos(r.out, b.pid());
	ASSERT_NE(pa, std::string::npos) << r.out;
	ASSERT_NE(pb, std::string::npos) << r.out;
	EXPECT_NE(r.out.find("\"joined\":true", pa), std::string::npos);
	EXPECT_EQ(json_num(r.out, "pages_scanned", pa), (long long)npages);
	EXPECT_EQ(json_num(r.out, "pages_unshared", pa), (long long)npages);
	EXPECT_EQ(json_num(r.out, "pages_merged", pa), 0);
	EXPECT_EQ(json_num(r.out, "pages_merged", pb), (long long)npages);
	auto total = r.out.find("\"total\":");
	EXPECT_EQ(json_num(r.out, "pages_merged", total), (long long)npages);
	EXPECT_EQ(json_num(r.out, "bytes_saved", total), (long long)(npages * page));

	// Effects: both processes map the same physical pages.
	EXPECT_EQ(ksm_stat(a.pid(), "ksm_merging_pages"), (long long)npages);
	EXPECT_EQ(ksm_stat(b.pid(), "ksm_merging_pages"), (long long)npages);
	expect_shared(a, b);

	// The partition outlived the tool: the members hold it.
	auto o = tool({"open", name});
	EXPECT_EQ(o.rc, 0) << describe(o);

	// Unmerge b: it gets private copies, a keeps its KSM pages.
	auto u = tool({"unmerge", name, b.spid(), "--range", range(), "--json"});
	ASSERT_EQ(u.rc, 0) << describe(u);
	EXPECT_EQ(json_num(u.out, "bytes_processed"), (long long)(npages * page));
	EXPECT_EQ(ksm_stat(b.pid(), "ksm_merging_pages"), 0);
	expect_not_shared(a, b);

	// Leave a: nothing of it is merged any more, and it is no member.
	auto l = tool({"leave", name, a.spid()});
	ASSERT_EQ(l.rc, 0) << describe(l);
	EXPECT_EQ(ksm_stat(a.pid(), "ksm_merging_pages"), 0);
	auto again = tool({"leave", name, a.spid()});
	EXPECT_EQ(again.rc, 5) << describe(again);
	EXPECT_NE(again.err.find("not a member"), std::string::npos) << again.err;

	EXPECT_TRUE(a.finish());
	EXPECT_TRUE(b.finish());
}

TEST_F(Tool, MergeSeveralPidsHumanOutput)
{
	Child a(region, npages, Fill::pattern), b(region, npages, Fill::pattern),
	    c(region, npages, Fill::pattern);
	auto r =
	    tool({"merge", "--create", name, a.spid(), b.spid(), c.spid(), "--range", range()});
	ASSERT_EQ(r.rc, 0) << describe(r);
	EXPECT_NE(r.out.find("PID"), std::string::npos) << r.out;
	EXPECT_NE(r.out.find("total"), std::string::npos) << r.out;
	// 2 * npages merged = 1 MiB saved with 128 pages of 4 KiB.
	EXPECT_NE(r.out.find(std::to_string(2 * npages)), std::string::npos) << r.out;
	for (Child *ch : {&a, &b, &c})
		EXPECT_EQ(ksm_stat(ch->pid(), "ksm_merging_pages"), (long long)npages);
	expect_shared(a, c);
	for (Child *ch : {&a, &b, &c})
		EXPECT_TRUE(ch->finish());
}

TEST_F(Tool, MergeAllAnonymousMemory)
{
	Child a(region, npages, Fill::pattern), b(region, npages, Fill::pattern);
	auto r = tool({"merge", "--create", name, a.spid(), b.spid(), "--json"});
	ASSERT_EQ(r.rc, 0) << describe(r);
	// Their buffers at least; other anonymous memory (stack, heap) may
	// merge too.
	auto total = r.out.find("\"total\":");
	EXPECT_GE(json_num(r.out, "pages_merged", total).value_or(0), (long long)npages);
	expect_shared(a, b);
	EXPECT_TRUE(a.finish());
	EXPECT_TRUE(b.finish());
}

TEST_F(Tool, MergeRegionOfPrivateFileMapping)
{
	// Copied-on-write pages of a private file mapping are anonymous; the
	// region is named by the file's path in /proc/PID/maps.
	std::string file = "/tmp/" + name + ".map";
	{
		std::ofstream f(file);
		f << std::string(npages * page, 'x');
	}
	int fd = open(file.c_str(), O_RDONLY);
	ASSERT_GE(fd, 0);
	munmap(region, npages * page);
	void *m =
	    mmap(region, npages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
	close(fd);
	ASSERT_EQ(m, region);
	Child a(region, npages, Fill::pattern), b(region, npages, Fill::pattern);
	auto r = tool({"merge", "--create", name, a.spid(), b.spid(), "--region", file, "--json"});
	ASSERT_EQ(r.rc, 0) << describe(r);
	auto total = r.out.find("\"total\":");
	EXPECT_EQ(json_num(r.out, "pages_merged", total), (long long)npages) << r.out;
	expect_shared(a, b);

	// A region the process does not have: not found.
	auto n = tool({"merge", name, a.spid(), "--region", "[nosuchregion]"});
	EXPECT_EQ(n.rc, 5) << describe(n);
	EXPECT_TRUE(a.finish());
	EXPECT_TRUE(b.finish());
	unlink(file.c_str());
}

TEST_F(Tool, MergeCgroupRecursively)
{
	Cgroup cg("ksmpart-tool-vmtest");
	if (!cg.usable())
		GTEST_SKIP() << "no cgroup v2 at /sys/fs/cgroup";
	Child a(region, npages, Fill::pattern), b(region, npages, Fill::pattern),
	    c(region, npages, Fill::pattern), other(region, npages, Fill::pattern);
	Cgroup::add(cg.path(), a.pid());
	Cgroup::add(cg.path("sub"), b.pid());
	Cgroup::add(cg.path("sub/deeper"), c.pid());
	// `other` stays outside: it must not be touched.

	auto r = tool({"merge", "--create", name, "--cgroup", cg.path().string(), "--range",
	               range(), "--json"});
	ASSERT_EQ(r.rc, 0) << describe(r);
	for (Child *ch : {&a, &b, &c}) {
		EXPECT_NE(pid_pos(r.out, ch->pid()), std::string::npos) << r.out;
		EXPECT_EQ(ksm_stat(ch->pid(), "ksm_merging_pages"), (long long)npages);
	}
	EXPECT_EQ(pid_pos(r.out, other.pid()), std::string::npos) << r.out;
	EXPECT_EQ(ksm_stat(other.pid(), "ksm_merging_pages"), 0);
	auto total = r.out.find("\"total\":");
	EXPECT_EQ(json_num(r.out, "processes", total), 3);
	EXPECT_EQ(json_num(r.out, "pages_merged", total), (long long)(2 * npages));
	expect_shared(a, c);

	// leave by cgroup
	auto l = tool({"leave", name, "--cgroup", cg.path().string()});
	EXPECT_EQ(l.rc, 0) << describe(l);
	for (Child *ch : {&a, &b, &c})
		EXPECT_EQ(ksm_stat(ch->pid(), "ksm_merging_pages"), 0);
	for (Child *ch : {&a, &b, &c, &other})
		EXPECT_TRUE(ch->finish());
}

// --- watch -------------------------------------------------------------

TEST_F(Tool, WatchOnceMergesNewProcesses)
{
	Cgroup cg("ksmpart-tool-watch");
	if (!cg.usable())
		GTEST_SKIP() << "no cgroup v2 at /sys/fs/cgroup";
	Child a(region, npages, Fill::pattern);
	Cgroup::add(cg.path(), a.pid());
	auto r1 = tool({"watch", "--create", name, "--cgroup", cg.path().string(), "--once",
	                "--range", range(), "--json"});
	ASSERT_EQ(r1.rc, 0) << describe(r1);
	EXPECT_EQ(json_num(r1.out, "round"), 1);
	EXPECT_EQ(json_num(r1.out, "processes"), 1);
	EXPECT_EQ(json_num(r1.out, "pages_merged"), 0); // a alone: only candidates
	EXPECT_NE(r1.out.find("\"new\":[" + a.spid() + "]"), std::string::npos) << r1.out;

	// A new process appears in the cgroup: the next round merges it.
	Child b(region, npages, Fill::pattern);
	Cgroup::add(cg.path("late"), b.pid());
	auto r2 = tool({"watch", name, "--cgroup", cg.path().string(), "--once", "--range", range(),
	                "--json"});
	ASSERT_EQ(r2.rc, 0) << describe(r2);
	EXPECT_EQ(json_num(r2.out, "processes"), 2);
	EXPECT_EQ(json_num(r2.out, "pages_merged"), (long long)npages) << r2.out;
	EXPECT_EQ(ksm_stat(b.pid(), "ksm_merging_pages"), (long long)npages);
	expect_shared(a, b);
	if (have_stats()) {
		auto st = r2.out.find("\"stats\":{");
		ASSERT_NE(st, std::string::npos) << r2.out;
		EXPECT_EQ(json_num(r2.out, "members", st), 2);
		EXPECT_EQ(json_num(r2.out, "pages_sharing", st), (long long)npages);
	}
	EXPECT_TRUE(a.finish());
	EXPECT_TRUE(b.finish());
}

TEST_F(Tool, WatchToleratesExitsAndStopsOnSigterm)
{
	Cgroup cg("ksmpart-tool-watch2");
	if (!cg.usable())
		GTEST_SKIP() << "no cgroup v2 at /sys/fs/cgroup";
	auto a = std::make_unique<Child>(region, npages, Fill::pattern);
	Child b(region, npages, Fill::pattern);
	Cgroup::add(cg.path(), a->pid());
	Cgroup::add(cg.path(), b.pid());

	char out[] = "/tmp/watch-out.XXXXXX";
	int ofd = mkstemp(out);
	pid_t w = fork();
	if (w == 0) {
		dup2(ofd, 1);
		execl(KSMPART_TOOL, KSMPART_TOOL, "watch", "--create", name.c_str(), "--cgroup",
		      cg.path().c_str(), "--interval", "0.3", "--range", range().c_str(), "--json",
		      nullptr);
		_exit(121);
	}
	auto lines = [&] {
		auto s = slurp(out);
		return std::count(s.begin(), s.end(), '\n');
	};
	for (int i = 0; i < 200 && lines() < 1; i++)
		usleep(50000);
	ASSERT_GE(lines(), 1) << slurp(out);
	// a exits between rounds: later rounds report it gone, no failure.
	pid_t apid = a->pid();
	EXPECT_TRUE(a->finish());
	a.reset();
	auto n = lines();
	for (int i = 0; i < 200 && lines() < n + 2; i++)
		usleep(50000);
	kill(w, SIGTERM);
	int status = 0;
	waitpid(w, &status, 0);
	ASSERT_TRUE(WIFEXITED(status)) << status;
	EXPECT_EQ(WEXITSTATUS(status), 0);
	auto s = slurp(out);
	EXPECT_NE(s.find("\"gone\":[" + std::to_string(apid) + "]"), std::string::npos) << s;
	EXPECT_EQ(s.find("\"error\""), std::string::npos) << s;
	EXPECT_EQ(ksm_stat(b.pid(), "ksm_merging_pages"), (long long)npages);
	close(ofd);
	unlink(out);
	EXPECT_TRUE(b.finish());
}

// --- create, hold, release ----------------------------------------------

TEST_F(Tool, CreateWithoutHoldVanishes)
{
	auto c = tool({"create", name});
	ASSERT_EQ(c.rc, 0) << describe(c);
	EXPECT_NE(c.err.find("--hold"), std::string::npos) << c.err;
	auto o = tool({"open", name});
	EXPECT_EQ(o.rc, 5) << describe(o);
}

TEST_F(Tool, CreateHoldKeepsPartitionUntilRelease)
{
	auto c = tool({"create", name, "--hold", "--json"});
	ASSERT_EQ(c.rc, 0) << describe(c);
	auto holder = json_num(c.out, "holder_pid");
	ASSERT_TRUE(holder) << c.out;
	std::string pidfile = "/run/ksmpart/" + name + ".pid";
	EXPECT_EQ(slurp(pidfile), std::to_string(*holder) + "\n");
	EXPECT_EQ(kill(*holder, 0), 0);

	// The tool has exited; the holder keeps the partition.
	auto o = tool({"open", name});
	EXPECT_EQ(o.rc, 0) << describe(o);
	// Held twice: refused, naming the holder.
	auto twice = tool({"create", name, "--hold"});
	EXPECT_EQ(twice.rc, 7) << describe(twice);
	EXPECT_NE(twice.err.find(std::to_string(*holder)), std::string::npos) << twice.err;
	// Exclusive create of an existing one.
	auto excl = tool({"create", name, "--excl"});
	EXPECT_EQ(excl.rc, 7) << describe(excl);

	auto r = tool({"release", name, "--json"});
	ASSERT_EQ(r.rc, 0) << describe(r);
	EXPECT_NE(r.out.find("\"exists\":false"), std::string::npos) << r.out;
	EXPECT_FALSE(fs::exists(pidfile));
	auto gone = tool({"open", name});
	EXPECT_EQ(gone.rc, 5) << describe(gone);
	auto again = tool({"release", name});
	EXPECT_EQ(again.rc, 5) << describe(again);
}

TEST_F(Tool, ReleaseKeepsPartitionWithMembers)
{
	auto c = tool({"create", name, "--hold"});
	ASSERT_EQ(c.rc, 0) << describe(c);
	Child a(region, npages, Fill::pattern);
	auto m = tool({"merge", name, a.spid(), "--range", range()});
	ASSERT_EQ(m.rc, 0) << describe(m);
	auto r = tool({"release", name, "--json"});
	ASSERT_EQ(r.rc, 0) << describe(r);
	EXPECT_NE(r.out.find("\"exists\":true"), std::string::npos) << r.out;
	EXPECT_TRUE(a.finish()); // the last member exits: the partition goes
	auto o = tool({"open", name});
	EXPECT_EQ(o.rc, 5) << describe(o);
}

// --- stats, list, zero pages (need the issue 4 kernel) ------------------

TEST_F(Tool, StatsAndListMatchTheDuplicates)
{
	Child a(region, npages, Fill::pattern), b(region, npages, Fill::pattern),
	    u(region, npages, Fill::unique, 7);
	auto m = tool({"merge", "--create", "--mode", "0640", name, a.spid(), b.spid(), u.spid(),
	               "--range", range()});
	ASSERT_EQ(m.rc, 0) << describe(m);

	auto s = tool({"stats", name, "--json"});
	if (!have_stats()) {
		EXPECT_EQ(s.rc, 3) << describe(s);
		GTEST_SKIP() << "kernel without partition statistics (KSM_IOC_GET_STATS, sysfs)";
	}
	ASSERT_EQ(s.rc, 0) << describe(s);
	EXPECT_EQ(json_num(s.out, "members"), 3);
	EXPECT_EQ(json_num(s.out, "pages_shared"), (long long)npages);
	EXPECT_EQ(json_num(s.out, "pages_sharing"), (long long)npages);
	EXPECT_EQ(json_num(s.out, "pages_unshared"), (long long)npages); // u's candidates
	EXPECT_EQ(json_num(s.out, "pages_merged"), (long long)npages);
	EXPECT_EQ(json_num(s.out, "pages_scanned"), (long long)(3 * npages));
	EXPECT_EQ(json_num(s.out, "merge_calls"), 3);
	auto id = json_num(s.out, "id");
	ASSERT_TRUE(id);

	auto human = tool({"stats", name});
	EXPECT_EQ(human.rc, 0) << describe(human);
	EXPECT_NE(human.out.find("pages_sharing"), std::string::npos) << human.out;

	if (!fs::exists("/proc/ksm_partitions")) {
		for (Child *ch : {&a, &b, &u})
			EXPECT_TRUE(ch->finish());
		GTEST_SKIP()
		    << "kernel with the old ABI (no /proc/ksm_partitions): list not checked";
	}
	auto l = tool({"list", "-J", "-o", "ID,NAME,UID,MODE,MEMBERS,PIDS,SHARING,SAVED"});
	ASSERT_EQ(l.rc, 0) << describe(l);
	json mine;
	for (const auto &p : l.json["partitions"])
		if (p["id"] == static_cast<std::uint64_t>(*id))
			mine = p;
	ASSERT_FALSE(mine.is_null()) << l.out;
	EXPECT_EQ(mine["name"], name);
	EXPECT_EQ(mine["mode"], "0640");
	EXPECT_EQ(mine["uid"], 0);
	EXPECT_EQ(mine["members"], 3);
	EXPECT_EQ(mine["sharing"], npages);
	EXPECT_EQ(mine["saved"], npages * page);
	auto pids = a.spid() + "," + b.spid() + "," + u.spid(); // children fork in order
	EXPECT_EQ(mine["pids"], pids);
	auto lt = tool({"list"});
	EXPECT_EQ(lt.rc, 0) << describe(lt);
	EXPECT_NE(lt.out.find(name), std::string::npos) << lt.out;

	// Not root: only partitions its own processes hold; root's is not shown.
	auto ln = tool({"list", "-J"}, 65534);
	EXPECT_EQ(ln.rc, 0) << describe(ln);
	EXPECT_EQ(ln.out.find(name), std::string::npos) << ln.out;
	for (Child *ch : {&a, &b, &u})
		EXPECT_TRUE(ch->finish());
}

TEST_F(Tool, ZeroPages)
{
	Child a(region, npages, Fill::zeros);
	auto m = tool(
	    {"merge", "--create", "--zero-pages", name, a.spid(), "--range", range(), "--json"});
	if (m.rc == 3)
		GTEST_SKIP() << "kernel without KSM_OPEN_ZERO_PAGES: " << m.err;
	ASSERT_EQ(m.rc, 0) << describe(m);
	EXPECT_EQ(json_num(m.out, "zero_pages_merged"), (long long)npages) << m.out;
	auto total = m.out.find("\"total\":");
	EXPECT_EQ(json_num(m.out, "bytes_saved", total), (long long)(npages * page));
	EXPECT_EQ(ksm_stat(a.pid(), "ksm_zero_pages"), (long long)npages);
	auto s = tool({"stats", name, "--json"});
	ASSERT_EQ(s.rc, 0) << describe(s);
	EXPECT_NE(s.out.find("\"zero_pages\":true"), std::string::npos) << s.out;
	EXPECT_EQ(json_num(s.out, "ksm_zero_pages"), (long long)npages);
	EXPECT_TRUE(a.finish());
}

// --- errors and exit codes -----------------------------------------------

TEST_F(Tool, NoSuchPartition)
{
	for (const char *cmd : {"open", "stats"}) {
		auto r = tool({cmd, name});
		EXPECT_EQ(r.rc, 5) << cmd << ": " << describe(r);
		EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
	}
	auto m = tool({"merge", name, std::to_string(getpid())});
	EXPECT_EQ(m.rc, 5) << describe(m);
}

TEST_F(Tool, NoSuchProcessAndPartialMerge)
{
	Child a(region, npages, Fill::pattern);
	// A pid that surely does not exist: a reaped child's.
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, nullptr, 0);

	auto c = tool({"create", name, "--hold"});
	ASSERT_EQ(c.rc, 0) << describe(c);
	auto r = tool({"merge", name, std::to_string(dead)});
	EXPECT_EQ(r.rc, 5) << describe(r);
	EXPECT_NE(r.err.find(std::to_string(dead)), std::string::npos) << r.err;

	auto p =
	    tool({"merge", name, a.spid(), std::to_string(dead), "--range", range(), "--json"});
	EXPECT_EQ(p.rc, 6) << describe(p);
	EXPECT_NE(p.out.find("\"status\":\"failed\""), std::string::npos) << p.out;
	EXPECT_TRUE(a.finish());
}

TEST_F(Tool, NoSuchCgroup)
{
	auto r =
	    tool({"merge", "--create", name, "--cgroup", "/sys/fs/cgroup/ksmpart-nonexistent"});
	EXPECT_EQ(r.rc, 5) << describe(r);
	EXPECT_NE(r.err.find("cgroup"), std::string::npos) << r.err;
	// Paths are below the cgroup2 mount, never the filesystem's: /tmp is
	// /sys/fs/cgroup/tmp.
	auto nc = tool({"merge", "--create", name, "--cgroup", "/tmp"});
	EXPECT_EQ(nc.rc, 5) << describe(nc);
	EXPECT_NE(nc.err.find("no such cgroup directory '/sys/fs/cgroup/tmp'"), std::string::npos)
	    << nc.err;
	auto file = tool({"merge", "--create", name, "--cgroup", "/cgroup.procs"});
	EXPECT_EQ(file.rc, 5) << describe(file);
	EXPECT_NE(file.err.find("not a directory"), std::string::npos) << file.err;
}

TEST_F(Tool, MemberOfAnotherPartitionIsConflict)
{
	Child a(region, npages, Fill::pattern);
	auto m = tool({"merge", "--create", name, a.spid(), "--range", range()});
	ASSERT_EQ(m.rc, 0) << describe(m);
	auto other = tool({"merge", "--create", name + "-2", a.spid(), "--range", range()});
	EXPECT_EQ(other.rc, 7) << describe(other);
	EXPECT_NE(other.err.find("another partition"), std::string::npos) << other.err;
	EXPECT_TRUE(a.finish());
}

TEST_F(Tool, PermissionDeniedByMode)
{
	auto c = tool({"create", name, "--hold", "--mode", "0600"});
	ASSERT_EQ(c.rc, 0) << describe(c);
	auto r = tool({"open", name}, 65534);
	EXPECT_EQ(r.rc, 4) << describe(r);
	// Names the cause: the mode, and the capability that would override it.
	EXPECT_NE(r.err.find("mode"), std::string::npos) << r.err;
	EXPECT_NE(r.err.find("CAP_IPC_OWNER"), std::string::npos) << r.err;
}

TEST_F(Tool, PermissionDeniedByPtrace)
{
	// Anyone may open the partition, but nobody may not attach to root's
	// process: the merge is refused and nothing is merged.
	auto c = tool({"create", name, "--hold", "--mode", "0666"});
	ASSERT_EQ(c.rc, 0) << describe(c);
	Child a(region, npages, Fill::pattern), b(region, npages, Fill::pattern);
	auto r = tool({"merge", name, a.spid(), b.spid(), "--range", range()}, 65534);
	EXPECT_EQ(r.rc, 4) << describe(r);
	EXPECT_NE(r.err.find("ptrace"), std::string::npos) << r.err;
	EXPECT_EQ(ksm_stat(a.pid(), "ksm_merging_pages"), 0);
	EXPECT_EQ(ksm_stat(b.pid(), "ksm_merging_pages"), 0);
	// Without --range the maps are read first, also refused.
	auto all = tool({"merge", name, a.spid()}, 65534);
	EXPECT_EQ(all.rc, 4) << describe(all);
	EXPECT_TRUE(a.finish());
	EXPECT_TRUE(b.finish());
}

TEST_F(Tool, UsageErrors)
{
	auto bare = tool({});
	EXPECT_EQ(bare.rc, 2);
	EXPECT_NE(bare.err.find("Usage:"), std::string::npos) << bare.err;
	auto typo = tool({"stat", name});
	EXPECT_EQ(typo.rc, 2);
	EXPECT_NE(typo.err.find("did you mean 'stats'?"), std::string::npos) << typo.err;
	EXPECT_EQ(tool({"merge", name}).rc, 2);
	EXPECT_EQ(tool({"create", ".bad"}).rc, 2);
	EXPECT_EQ(tool({"merge", name, "1", "--range", "2000-1000"}).rc, 2);
	EXPECT_EQ(tool({"--help"}).rc, 0);
}

// --- membership: members, which, leave --all ------------------------------

TEST_F(Tool, MembersWhichAndLeaveAll)
{
	Cgroup cg("ksmpart-tool-members");
	if (!cg.usable())
		GTEST_SKIP() << "no cgroup v2 at /sys/fs/cgroup";
	Child a(region, npages, Fill::pattern), b(region, npages, Fill::pattern),
	    outsider(region, npages, Fill::pattern);
	Cgroup::add(cg.path("web"), a.pid());
	auto m = tool({"merge", "--create", name, a.spid(), b.spid(), "--range", range()});
	ASSERT_EQ(m.rc, 0) << describe(m);

	auto mem = tool({"members", name, "-J", "-b", "-o", "PID,COMM,CGROUP,MERGING"});
	ASSERT_EQ(mem.rc, 0) << describe(mem);
	auto rows = mem.json["members"];
	ASSERT_EQ(rows.size(), 2u) << mem.out;
	EXPECT_EQ(rows[0]["pid"], std::min(a.pid(), b.pid()));
	EXPECT_EQ(rows[1]["pid"], std::max(a.pid(), b.pid()));
	for (const auto &r : rows) {
		EXPECT_EQ(r["merging"], npages * page) << r; // ground truth: ksm_stat
		if (r["pid"] == a.pid()) {
			EXPECT_EQ(r["cgroup"], "/ksmpart-tool-members/web");
		}
	}
	auto human = tool({"members", name});
	EXPECT_EQ(human.rc, 0);
	EXPECT_NE(human.out.find("CGROUP"), std::string::npos) << human.out;

	auto w = tool({"which", a.spid(), outsider.spid(), "-J"});
	ASSERT_EQ(w.rc, 0) << describe(w);
	auto id = w.json["processes"][0]["partition"];
	EXPECT_NE(id, 0);
	if (fs::exists("/proc/ksm_partitions")) { // root learns names there
		EXPECT_EQ(w.json["processes"][0]["name"], name);
	}
	EXPECT_EQ(w.json["processes"][1]["partition"], 0);
	EXPECT_EQ(w.json["processes"][1]["name"], nullptr);
	auto byid =
	    tool({"members", "--id", std::to_string(id.get<std::uint64_t>()), "-n", "-o", "PID"});
	EXPECT_EQ(byid.rc, 0) << describe(byid);
	EXPECT_NE(byid.out.find(a.spid()), std::string::npos) << byid.out;

	// leave --all empties it: nothing stays merged, nobody is a member.
	auto l = tool({"leave", name, "--all", "--json"});
	ASSERT_EQ(l.rc, 0) << describe(l);
	EXPECT_EQ(l.json["processes"].size(), 2u) << l.out;
	EXPECT_EQ(ksm_stat(a.pid(), "ksm_merging_pages"), 0);
	EXPECT_EQ(ksm_stat(b.pid(), "ksm_merging_pages"), 0);
	EXPECT_EQ(ksm_stat(a.pid(), "ksm_partition"), 0);
	expect_not_shared(a, b);
	// Nobody holds it any more: it is gone.
	EXPECT_EQ(tool({"open", name}).rc, 5);
	for (Child *ch : {&a, &b, &outsider})
		EXPECT_TRUE(ch->finish());
}

// --- cgroup paths as /proc/PID/cgroup prints them, and --unit --------------

TEST_F(Tool, CgroupPathsAsProcAndSystemdPrintThem)
{
	Cgroup cg("ksmpart-tool-paths");
	if (!cg.usable())
		GTEST_SKIP() << "no cgroup v2 at /sys/fs/cgroup";
	Child a(region, npages, Fill::pattern), b(region, npages, Fill::pattern);
	Cgroup::add(cg.path("a"), a.pid());
	Cgroup::add(cg.path("web.service"), b.pid());
	// What /proc/PID/cgroup says, pasted as it is, from another cwd.
	std::string line = slurp("/proc/" + a.spid() + "/cgroup");
	ASSERT_EQ(line, "0::/ksmpart-tool-paths/a\n");
	char cwd[4096];
	ASSERT_NE(getcwd(cwd, sizeof(cwd)), nullptr);
	ASSERT_EQ(chdir("/tmp"), 0);
	auto r = tool({"merge", "--create", name, "--cgroup", "/ksmpart-tool-paths/a", "--unit",
	               "web.service", "--range", range(), "--json"});
	ASSERT_EQ(chdir(cwd), 0);
	ASSERT_EQ(r.rc, 0) << describe(r);
	ASSERT_EQ(r.json["processes"].size(), 2u) << r.out;
	EXPECT_EQ(r.json["processes"][0]["source"], "cgroup");
	EXPECT_EQ(r.json["processes"][1]["source"], "unit");
	expect_shared(a, b);
	// The root cgroup is "/", not the filesystem root.
	auto root = tool({"leave", name, "--cgroup", "/", "--json"});
	EXPECT_EQ(root.rc, 6) << describe(root); // not every process is a member
	EXPECT_EQ(ksm_stat(a.pid(), "ksm_merging_pages"), 0);
	EXPECT_EQ(ksm_stat(b.pid(), "ksm_merging_pages"), 0);
	auto none = tool({"merge", "--create", name, "--unit", "surely-absent.service"});
	EXPECT_EQ(none.rc, 5) << describe(none);
	EXPECT_NE(none.err.find("surely-absent.service"), std::string::npos) << none.err;
	EXPECT_TRUE(a.finish());
	EXPECT_TRUE(b.finish());
}

// --- another user's name, the enabled switch ------------------------------

TEST_F(Tool, CreateOfAnotherUsersNameIsConflictWithAHint)
{
	if (!fs::exists("/proc/ksm_partitions"))
		GTEST_SKIP() << "kernel with the old CREATE semantics";
	auto c =
	    tool({"create", name, "--hold", "--mode", "0666", "--pidfile", "/tmp/" + name + ".pid"},
	         65534);
	ASSERT_EQ(c.rc, 0) << describe(c);
	Child a(region, npages, Fill::pattern);
	auto m = tool({"merge", "--create", name, a.spid(), "--range", range()});
	EXPECT_EQ(m.rc, 7) << describe(m);
	EXPECT_NE(m.err.find("partition '" + name +
	                     "' exists and belongs to uid 65534; open it "
	                     "without --create if you meant to join it"),
	          std::string::npos)
	    << m.err;
	EXPECT_EQ(ksm_stat(a.pid(), "ksm_partition"), 0); // did not join it
	auto join = tool({"merge", name, a.spid(), "--range", range()});
	EXPECT_EQ(join.rc, 0) << describe(join);
	EXPECT_NE(ksm_stat(a.pid(), "ksm_partition"), 0);
	EXPECT_EQ(tool({"leave", name, a.spid()}).rc, 0);
	EXPECT_EQ(tool({"release", name, "--pidfile", "/tmp/" + name + ".pid"}, 65534).rc, 0);
	EXPECT_TRUE(a.finish());
}

TEST_F(Tool, DisabledPartitionsAreSaidToBeTheAdministrators)
{
	const std::string knob = "/sys/kernel/mm/ksm/partitions/enabled";
	if (!fs::exists(knob))
		GTEST_SKIP() << "kernel without " << knob;
	Child a(region, npages, Fill::pattern);
	std::ofstream(knob) << "0\n";
	auto c = tool({"create", name});
	auto m = tool({"merge", "--create", name, a.spid(), "--range", range()});
	std::ofstream(knob) << "1\n";
	EXPECT_EQ(c.rc, 4) << describe(c);
	EXPECT_NE(c.err.find("administrator disabled"), std::string::npos) << c.err;
	EXPECT_EQ(m.rc, 4) << describe(m);
	EXPECT_EQ(ksm_stat(a.pid(), "ksm_merging_pages"), 0);
	EXPECT_TRUE(a.finish());
}

// --- hold, stats, output ---------------------------------------------------

TEST_F(Tool, HoldInTheForegroundUntilSigterm)
{
	char out[] = "/tmp/hold-out.XXXXXX";
	int ofd = mkstemp(out);
	pid_t h = fork();
	if (h == 0) {
		dup2(ofd, 1);
		execl(KSMPART_TOOL, KSMPART_TOOL, "hold", name.c_str(), "--create", nullptr);
		_exit(121);
	}
	for (int i = 0; i < 200 && slurp(out).find("holding") == std::string::npos; i++)
		usleep(50000);
	ASSERT_NE(slurp(out).find("holding partition '" + name + "'"), std::string::npos)
	    << slurp(out);
	EXPECT_EQ(tool({"open", name}).rc, 0); // it exists while held
	kill(h, SIGTERM);
	int status = 0;
	waitpid(h, &status, 0);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
	EXPECT_EQ(tool({"open", name}).rc, 5); // and is gone after
	close(ofd);
	unlink(out);
}

TEST_F(Tool, StatsPrometheusPassesPromtool)
{
	if (access("/usr/bin/promtool", X_OK) != 0)
		GTEST_SKIP() << "no /usr/bin/promtool (Debian package prometheus)";
	Child a(region, npages, Fill::pattern), b(region, npages, Fill::pattern);
	ASSERT_EQ(tool({"merge", "--create", name, a.spid(), b.spid(), "--range", range()}).rc, 0);
	auto p = tool({"stats", name, "--format", "prometheus"});
	ASSERT_EQ(p.rc, 0) << describe(p);
	EXPECT_NE(p.out.find("ksmpart_sharing_pages{partition=\""), std::string::npos) << p.out;
	EXPECT_NE(p.out.find("\",name=\"" + name + "\"} " + std::to_string(npages) + "\n"),
	          std::string::npos)
	    << p.out;
	std::string file = "/tmp/" + name + ".prom";
	std::ofstream(file) << p.out;
	std::string cmd = "promtool check metrics < " + file + " > " + file + ".log 2>&1";
	EXPECT_EQ(system(cmd.c_str()), 0) << slurp(file + ".log") << p.out;
	unlink(file.c_str());
	unlink((file + ".log").c_str());
	EXPECT_TRUE(a.finish());
	EXPECT_TRUE(b.finish());
}

TEST_F(Tool, WriteErrorIsAFailure)
{
	ASSERT_EQ(tool({"create", name, "--hold"}).rc, 0);
	pid_t p = fork();
	if (p == 0) {
		int full = open("/dev/full", O_WRONLY);
		dup2(full, 1);
		execl(KSMPART_TOOL, KSMPART_TOOL, "stats", name.c_str(), nullptr);
		_exit(121);
	}
	int status = 0;
	waitpid(p, &status, 0);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 1);
}

TEST_F(Tool, HintsForCommonMistakes)
{
	Child a(region, npages, Fill::pattern);
	// A thread id instead of the process id: the message names the process.
	std::atomic<pid_t> tid{0};
	std::atomic<bool> done{false};
	std::thread t([&] {
		tid = static_cast<pid_t>(syscall(SYS_gettid));
		while (!done)
			usleep(10000);
	});
	while (!tid)
		usleep(1000);
	auto th = tool({"merge", "--create", name, std::to_string(tid.load())});
	done = true;
	t.join();
	EXPECT_EQ(th.rc, 2) << describe(th);
	EXPECT_NE(th.err.find("is a thread of process " + std::to_string(getpid())),
	          std::string::npos)
	    << th.err;
	// A region name without its brackets.
	auto heap = tool({"merge", "--create", name, a.spid(), "--region", "heap"});
	EXPECT_EQ(heap.rc, 5) << describe(heap);
	EXPECT_NE(heap.err.find("did you mean '[heap]'?"), std::string::npos) << heap.err;
	// A range that touches nothing mergeable is said to.
	auto nothing = tool({"merge", "--create", name, a.spid(), "--range", "1000+4K"});
	EXPECT_EQ(nothing.rc, 0) << describe(nothing);
	EXPECT_NE(nothing.err.find("touch no mergeable memory"), std::string::npos) << nothing.err;
	EXPECT_TRUE(a.finish());
}
