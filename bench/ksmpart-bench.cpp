// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpart-bench: one measurement per invocation, one JSON object on stdout.
//
//   ksmpart-bench merge    [workload options] [--partitions P] [--threads T]
//                          [--pin-cpu C] [--unmerge]
//   ksmpart-bench ksmd     [workload options] [--timeout SEC]
//   ksmpart-bench readonce [workload options]
//
// Workload options: --workload dup|unique|zero|thp|worst --total-mib M
// --procs N [--cross R] [--within R] [--group G] [--tag TAG].
//
// Member processes are forked children that write their pages (content fixed
// by workload, process and page index), report readiness through a pipe and
// then wait for commands or SIGKILL. Every measurement is validated against
// the number of pages the workload must save, computed from the same content
// function; a mismatch marks the row invalid instead of giving a wrong ratio.
// See docs/performance.md.
#include <ksmpart/ksmpart.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <mutex>
#include <new>
#include <sched.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <thread>
#include <time.h>
#include <type_traits>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <xxhash.h>

namespace {

constexpr std::size_t thp_size = 2u << 20;

[[noreturn]] void fail(const std::string &what)
{
	throw std::runtime_error(what);
}

[[noreturn]] void fail_errno(const std::string &what)
{
	throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::uint64_t now_ns(clockid_t clk)
{
	timespec ts{};
	clock_gettime(clk, &ts);
	return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}
std::uint64_t wall_ns()
{
	return now_ns(CLOCK_MONOTONIC);
}
std::uint64_t thread_cpu_ns()
{
	return now_ns(CLOCK_THREAD_CPUTIME_ID);
}

std::uint64_t mix64(std::uint64_t x)
{
	// splitmix64 finaliser: cheap, well distributed content ids.
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

std::uint64_t content_key(std::uint64_t a, std::uint64_t b, std::uint64_t c)
{
	std::uint64_t h = mix64(mix64(mix64(a) ^ b) ^ c);
	return h ? h : 1; // 0 means "zero-filled page"
}

// ---------------------------------------------------------------- workload

enum class Kind { dup, unique, zero, thp, worst };

Kind parse_kind(const std::string &s)
{
	if (s == "dup")
		return Kind::dup;
	if (s == "unique")
		return Kind::unique;
	if (s == "zero")
		return Kind::zero;
	if (s == "thp")
		return Kind::thp;
	if (s == "worst")
		return Kind::worst;
	fail("unknown workload '" + s + "' (dup, unique, zero, thp, worst)");
}

struct Workload {
	std::string name = "dup";
	Kind kind = Kind::dup;
	unsigned procs = 4;
	unsigned partitions = 1;
	std::size_t page_size = 4096;
	std::size_t pages_per_proc = 0;
	double cross = 0.5;   // fraction of a process's pages equal in every process
	double within = 0.25; // fraction duplicated within the process
	unsigned group = 4;   // within-process duplicates come in groups of this size
	std::size_t cross_pages = 0, within_pages = 0;

	void finish(double total_mib)
	{
		if (procs == 0 || partitions == 0 || procs % partitions)
			fail("--procs must be a positive multiple of --partitions");
		page_size = std::size_t(sysconf(_SC_PAGESIZE));
		auto total_pages = std::size_t(total_mib * 1048576.0) / page_size;
		pages_per_proc = total_pages / procs;
		if (pages_per_proc == 0)
			fail("less than one page per process");
		if (kind == Kind::worst) {
			cross = 1.0; // every page has a twin in each other process
			within = 0.0;
		}
		if (cross < 0 || within < 0 || cross + within > 1.0 || group < 2)
			fail("need 0 <= cross, within; cross + within <= 1; group >= 2");
		cross_pages = std::size_t(std::llround(cross * double(pages_per_proc)));
		within_pages = std::size_t(std::llround(within * double(pages_per_proc)));
		within_pages = std::min(within_pages, pages_per_proc - cross_pages);
		within_pages -= within_pages % group;
	}
	std::size_t total_pages() const { return pages_per_proc * procs; }
	std::size_t bytes_per_proc() const { return pages_per_proc * page_size; }
	unsigned partition_of(unsigned p) const { return p / (procs / partitions); }

	/// Content id of page i of process p: 0 is a zero-filled page; equal ids
	/// are equal pages. Cross-process ids include the partition so that no
	/// page is equal across partitions (ksmd and ksm_merge then expect the
	/// same count).
	std::uint64_t content(unsigned p, std::size_t i) const
	{
		switch (kind) {
		case Kind::zero:
			return 0;
		case Kind::unique:
			return content_key('U', p, i);
		case Kind::worst:
			return content_key('X', partition_of(p), i);
		case Kind::dup:
		case Kind::thp:
			break;
		}
		if (i < cross_pages)
			return content_key('S', partition_of(p), i);
		if (i < cross_pages + within_pages)
			return content_key('W', p, (i - cross_pages) / group);
		return content_key('U', p, i);
	}

	void fill_page(unsigned char *page, std::uint64_t id) const
	{
		auto *w = reinterpret_cast<std::uint64_t *>(page);
		std::size_t words = page_size / 8;
		if (id == 0) {
			std::memset(page, 0, page_size);
		} else if (kind == Kind::worst) {
			// Andrea Arcangeli's worst case: equal but for the last 8
			// bytes, so every comparison reads almost the whole page.
			std::memset(page, 0xa5, page_size - 8);
			w[words - 1] = id;
		} else {
			// xorshift64* stream seeded by the id: random-looking pages.
			std::uint64_t x = id;
			for (std::size_t k = 0; k < words; k++) {
				x ^= x >> 12;
				x ^= x << 25;
				x ^= x >> 27;
				w[k] = x * 0x2545f4914f6cdd1dull;
			}
		}
	}

	void fill(unsigned char *base, unsigned p) const
	{
		for (std::size_t i = 0; i < pages_per_proc; i++)
			fill_page(base + i * page_size, content(p, i));
	}

	/// Pages saved at full dedup: sum over contents of (k - ceil(k / mps))
	/// with k the number of pages holding it (max_page_sharing mps caps
	/// the mappings of one KSM page; 0 = unlimited). Per partition if
	/// per_partition, else over all processes (global KSM).
	std::uint64_t expected_saved(bool per_partition, std::uint64_t mps) const
	{
		struct H {
			std::size_t operator()(const std::pair<unsigned, std::uint64_t> &k) const
			{
				return std::size_t(
				    mix64(k.second ^ (std::uint64_t(k.first) << 48)));
			}
		};
		std::unordered_map<std::pair<unsigned, std::uint64_t>, std::uint64_t, H> count;
		count.reserve(total_pages());
		for (unsigned p = 0; p < procs; p++)
			for (std::size_t i = 0; i < pages_per_proc; i++)
				count[{per_partition ? partition_of(p) : 0u, content(p, i)}]++;
		std::uint64_t saved = 0;
		for (auto &[key, k] : count)
			saved += mps ? k - (k + mps - 1) / mps : k - 1;
		return saved;
	}
};

// ---------------------------------------------------------------- JSON

class Json {
public:
	Json &add(const std::string &k, const std::string &v)
	{
		std::string e;
		for (char c : v) {
			if (c == '"' || c == '\\')
				e += '\\';
			if (static_cast<unsigned char>(c) < 0x20)
				c = ' ';
			e += c;
		}
		return raw(k, "\"" + e + "\"");
	}
	Json &add(const std::string &k, const char *v) { return add(k, std::string(v)); }
	Json &add(const std::string &k, bool v) { return raw(k, v ? "true" : "false"); }
	template <typename T>
	requires std::is_integral_v<T> Json &add(const std::string &k, T v)
	{
		return raw(k, std::to_string(v));
	}
	Json &add(const std::string &k, double v)
	{
		char b[64];
		std::snprintf(b, sizeof(b), "%.6g", v);
		return raw(k, std::isfinite(v) ? b : "null");
	}
	std::string str() const { return "{" + body_ + "}"; }

private:
	Json &raw(const std::string &k, const std::string &v)
	{
		body_ += (body_.empty() ? "\"" : ", \"") + k + "\": " + v;
		return *this;
	}
	std::string body_;
};

// ---------------------------------------------------------------- sysfs

const std::string ksm_dir = "/sys/kernel/mm/ksm/";

std::string read_text(const std::string &path)
{
	std::ifstream f(path);
	if (!f)
		fail_errno("cannot read " + path);
	std::stringstream ss;
	ss << f.rdbuf();
	return ss.str();
}

std::uint64_t read_u64(const std::string &path)
{
	return std::strtoull(read_text(path).c_str(), nullptr, 10);
}

std::uint64_t ksm_value(const std::string &f)
{
	return read_u64(ksm_dir + f);
}

/// Bytes of a slab cache's active objects (/proc/slabinfo, root), 0 if the
/// cache is not listed (merged into another without slab_nomerge).
std::uint64_t slab_bytes(const std::string &cache)
{
	std::ifstream in("/proc/slabinfo");
	std::string line;
	while (std::getline(in, line)) {
		std::istringstream f(line);
		std::string name;
		std::uint64_t active = 0, total = 0, size = 0;
		if (f >> name >> active >> total >> size && name == cache)
			return active * size;
	}
	return 0;
}

void ksm_write(const std::string &f, const std::string &v)
{
	int fd = open((ksm_dir + f).c_str(), O_WRONLY);
	if (fd < 0)
		fail_errno("cannot open " + ksm_dir + f);
	// Writing run=2 can take a while (it unmerges everything); EINTR-safe.
	ssize_t n;
	do
		n = write(fd, v.data(), v.size());
	while (n < 0 && errno == EINTR);
	int e = errno;
	close(fd);
	if (n != ssize_t(v.size())) {
		errno = e;
		fail_errno("cannot write " + v + " to " + ksm_dir + f);
	}
}

/// pid of the ksmd kernel thread (0 if not found).
pid_t find_ksmd()
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	pid_t found = 0;
	while (dirent *e = readdir(d)) {
		char *end;
		long pid = std::strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		std::ifstream f(std::string("/proc/") + e->d_name + "/comm");
		std::string comm;
		if (std::getline(f, comm) && comm == "ksmd") {
			found = pid_t(pid);
			break;
		}
	}
	closedir(d);
	return found;
}

/// utime + stime of a task in clock ticks (/proc/<pid>/stat fields 14, 15).
std::uint64_t task_ticks(pid_t pid)
{
	std::string s = read_text("/proc/" + std::to_string(pid) + "/stat");
	auto rp = s.rfind(')');
	if (rp == std::string::npos)
		fail("bad /proc/" + std::to_string(pid) + "/stat");
	std::istringstream in(s.substr(rp + 2));
	std::string field;
	std::uint64_t ut = 0, st = 0;
	// Fields after ")" start at field 3 (state).
	for (int i = 3; i <= 15 && in >> field; i++) {
		if (i == 14)
			ut = std::strtoull(field.c_str(), nullptr, 10);
		if (i == 15)
			st = std::strtoull(field.c_str(), nullptr, 10);
	}
	return ut + st;
}

/// AnonHugePages of a process in KiB (smaps_rollup).
std::uint64_t anon_huge_kib(pid_t pid)
{
	std::ifstream f("/proc/" + std::to_string(pid) + "/smaps_rollup");
	std::string line;
	while (std::getline(f, line))
		if (line.rfind("AnonHugePages:", 0) == 0)
			return std::strtoull(line.c_str() + 14, nullptr, 10);
	return 0;
}

/// The KSM rmap items global KSM keeps for a process (/proc/PID/ksm_stat),
/// to compare the kernel memory of ksmd's tracking with a partition's.
std::uint64_t ksm_rmap_items(pid_t pid)
{
	std::ifstream f("/proc/" + std::to_string(pid) + "/ksm_stat");
	std::string key;
	std::uint64_t value;
	while (f >> key >> value)
		if (key == "ksm_rmap_items")
			return value;
	return 0;
}

std::size_t count_partitions()
{
	DIR *d = opendir((ksm_dir + "partitions").c_str());
	if (!d)
		return 0;
	std::size_t n = 0;
	while (dirent *e = readdir(d))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

// ---------------------------------------------------------------- children

struct CmdResult {
	int err;
	int pad;
	std::uint64_t wall_ns;
	std::uint64_t cpu_ns;
	// Command 'W' (write every page in turn until told to stop): the
	// writes made and their latency.
	std::uint64_t writes, p50_ns, p99_ns, max_ns;
};

/// Median, 99th percentile and maximum of latency samples, in place.
struct Latency {
	std::uint64_t n = 0, p50 = 0, p99 = 0, max = 0;
};
template <typename T> Latency latency_of(std::vector<T> &v)
{
	Latency l;
	if (v.empty())
		return l;
	std::sort(v.begin(), v.end());
	l.n = v.size();
	l.p50 = v[v.size() / 2];
	l.p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
	l.max = v.back();
	return l;
}

/// The member processes: forked children owning the workload's pages at the
/// same address. Killed and reaped on destruction.
class Children {
public:
	Children(const Workload &w, bool commands) : w_(w)
	{
		try {
			start(commands);
		} catch (...) {
			reap(); // no destructor runs for a throwing constructor
			throw;
		}
	}

	~Children()
	{
		reap();
		if (stop_)
			munmap(stop_, sizeof(*stop_));
	}

	/// Kill and reap every child (idempotent).
	void reap()
	{
		for (pid_t pid : pids_)
			kill(pid, SIGKILL);
		for (pid_t pid : pids_)
			while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
			}
		pids_.clear();
		for (int fd : cmd_fds_)
			if (fd >= 0)
				close(fd);
		cmd_fds_.clear();
		if (ready_fd_ >= 0)
			close(ready_fd_);
		if (res_fd_ >= 0)
			close(res_fd_);
		ready_fd_ = res_fd_ = -1;
	}

	Children(const Children &) = delete;
	Children &operator=(const Children &) = delete;

	const ksmpart::Pidfd &pidfd(unsigned p) const { return pidfds_[p]; }
	pid_t pid(unsigned p) const { return pids_[p]; }
	ksmpart::Range range() const { return ksmpart::Range::of(base_, w_.bytes_per_proc()); }
	std::uint64_t fill_ns() const { return fill_ns_; }

	/// Run command 'M' (MADV_MERGEABLE) or 'U' (MADV_UNMERGEABLE) in child p.
	CmdResult command(unsigned p, char c)
	{
		send(p, c);
		return result();
	}

	/// Child p writes one byte of each of its pages in turn, the value that
	/// is there (content unchanged), timing each write, until stop_writing().
	void start_writing(unsigned p)
	{
		stop_->store(0);
		send(p, 'W');
	}
	CmdResult stop_writing()
	{
		stop_->store(1);
		return result();
	}

private:
	void send(unsigned p, char c)
	{
		if (write(cmd_fds_[p], &c, 1) != 1)
			fail_errno("command to child");
	}

	CmdResult result()
	{
		CmdResult r{};
		ssize_t n;
		do
			n = read(res_fd_, &r, sizeof(r));
		while (n < 0 && errno == EINTR);
		if (n != ssize_t(sizeof(r)))
			fail("a child died running a command");
		if (r.err) {
			errno = r.err;
			fail_errno("madvise in child");
		}
		return r;
	}

	void start(bool commands)
	{
		const Workload &w = w_;
		std::size_t len = w.bytes_per_proc();
		// Reserve with slack to align to a THP boundary, then trim.
		std::size_t map_len = len + thp_size;
		void *m = mmap(nullptr, map_len, PROT_READ | PROT_WRITE,
		               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			fail_errno("mmap of the workload area");
		auto a = reinterpret_cast<std::uintptr_t>(m);
		auto aligned = (a + thp_size - 1) & ~(thp_size - 1);
		if (aligned > a)
			munmap(m, aligned - a);
		if (aligned + len < a + map_len)
			munmap(reinterpret_cast<void *>(aligned + len),
			       a + map_len - aligned - len);
		base_ = reinterpret_cast<unsigned char *>(aligned);
		// Base pages unless the workload asks for THPs: the result must not
		// depend on the distribution's THP default.
		if (madvise(base_, len, w.kind == Kind::thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
			fail_errno("madvise(MADV_[NO]HUGEPAGE)");

		void *flag = mmap(nullptr, sizeof(*stop_), PROT_READ | PROT_WRITE,
		                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (flag == MAP_FAILED)
			fail_errno("mmap of the stop flag");
		stop_ = new (flag) std::atomic<int>(0);

		int ready[2], res[2];
		if (pipe2(ready, O_CLOEXEC) || pipe2(res, O_CLOEXEC))
			fail_errno("pipe");
		ready_fd_ = ready[0];
		res_fd_ = res[0];
		std::uint64_t t0 = wall_ns();
		for (unsigned p = 0; p < w.procs; p++) {
			int cmd[2] = {-1, -1};
			if (commands && pipe2(cmd, O_CLOEXEC))
				fail_errno("pipe");
			pid_t pid = fork();
			if (pid < 0)
				fail_errno("fork (child " + std::to_string(p) + ")");
			if (pid == 0)
				child(p, ready[1], cmd[0], res[1]);
			if (commands)
				close(cmd[0]);
			pids_.push_back(pid);
			cmd_fds_.push_back(cmd[1]);
		}
		close(ready[1]);
		close(res[1]);
		// The parent never touched the area; drop it so that only the
		// children's copies exist.
		munmap(base_, len);
		for (unsigned p = 0; p < w.procs; p++) {
			char c;
			ssize_t n;
			do
				n = read(ready_fd_, &c, 1);
			while (n < 0 && errno == EINTR);
			if (n != 1)
				fail("a child died while filling its memory");
		}
		fill_ns_ = wall_ns() - t0;
		for (pid_t pid : pids_) {
			auto fd = ksmpart::Pidfd::open(pid);
			if (!fd)
				fail("pidfd_open: " + fd.error().message());
			pidfds_.push_back(std::move(*fd));
		}
	}

	[[noreturn]] void child(unsigned p, int ready_w, int cmd_r, int res_w)
	{
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		std::size_t len = w_.bytes_per_proc();
		w_.fill(base_, p);
		char c = 'r';
		if (write(ready_w, &c, 1) != 1)
			_exit(1);
		if (cmd_r < 0)
			for (;;)
				pause();
		while (read(cmd_r, &c, 1) == 1) {
			CmdResult r{};
			if (c == 'W') {
				write_pages(r);
				if (write(res_w, &r, sizeof(r)) != ssize_t(sizeof(r)))
					_exit(1);
				continue;
			}
			std::uint64_t t0 = wall_ns(), c0 = thread_cpu_ns();
			int adv = c == 'M' ? MADV_MERGEABLE : MADV_UNMERGEABLE;
			if (madvise(base_, len, adv))
				r.err = errno;
			r.cpu_ns = thread_cpu_ns() - c0;
			r.wall_ns = wall_ns() - t0;
			if (write(res_w, &r, sizeof(r)) != ssize_t(sizeof(r)))
				_exit(1);
		}
		_exit(0);
	}

	void write_pages(CmdResult &r)
	{
		std::vector<std::uint32_t> t;
		t.reserve(std::size_t(1) << 22); // allocated before the clock starts
		std::size_t i = 0;
		while (!stop_->load(std::memory_order_relaxed)) {
			volatile unsigned char *q = base_ + i * w_.page_size;
			std::uint64_t t0 = wall_ns();
			*q = *q;
			std::uint64_t dt = wall_ns() - t0;
			if (t.size() < t.capacity())
				t.push_back(std::uint32_t(std::min<std::uint64_t>(dt, UINT32_MAX)));
			i = (i + 1) % w_.pages_per_proc;
		}
		Latency l = latency_of(t);
		r.writes = l.n;
		r.p50_ns = l.p50;
		r.p99_ns = l.p99;
		r.max_ns = l.max;
	}

	const Workload &w_;
	unsigned char *base_ = nullptr;
	std::atomic<int> *stop_ = nullptr;
	std::vector<pid_t> pids_;
	std::vector<int> cmd_fds_;
	std::vector<ksmpart::Pidfd> pidfds_;
	int ready_fd_ = -1, res_fd_ = -1;
	std::uint64_t fill_ns_ = 0;
};

/// Distinct physical pages behind the children's workload pages
/// (/proc/<pid>/pagemap, PFN bits 0-54 of present entries; needs root): the
/// ground truth for merge counts, independent of KSM's own counters.
/// Returns total_pages - distinct, the pages saved; non-present pages count
/// as not saved.
std::uint64_t pages_saved_by_pfn(const Workload &w, const Children &ch)
{
	std::unordered_set<std::uint64_t> pfns;
	pfns.reserve(w.total_pages());
	std::vector<std::uint64_t> ent(w.pages_per_proc);
	std::uint64_t absent = 0;
	for (unsigned p = 0; p < w.procs; p++) {
		std::string path = "/proc/" + std::to_string(ch.pid(p)) + "/pagemap";
		int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail_errno("open " + path);
		off_t off = off_t(ch.range().start / w.page_size * 8);
		ssize_t n = pread(fd, ent.data(), ent.size() * 8, off);
		close(fd);
		if (n != ssize_t(ent.size() * 8))
			fail_errno("read " + path);
		for (std::uint64_t e : ent) {
			std::uint64_t pfn = e & ((1ull << 55) - 1);
			if (!(e >> 63) || pfn == 0)
				absent++;
			else
				pfns.insert(pfn);
		}
	}
	return w.total_pages() - pfns.size() - absent;
}

// ---------------------------------------------------------------- options

struct Options {
	std::string mode;
	std::string tag;
	Workload w;
	double total_mib = 64;
	unsigned threads = 1;
	int pin_cpu = -1;
	bool unmerge = false;
	unsigned timeout_s = 600;
};

void usage()
{
	std::fputs("usage: ksmpart-bench merge|ksmd|readonce|latency\n"
	           "  [--workload dup|unique|zero|thp|worst]\n"
	           "  [--total-mib M] [--procs N] [--partitions P] [--cross R] [--within R]\n"
	           "  [--group G] [--threads T] [--pin-cpu C] [--unmerge] [--timeout SEC]\n"
	           "  [--tag TAG]\n",
	           stderr);
	std::exit(2);
}

Options parse(int argc, char **argv)
{
	if (argc < 2)
		usage();
	Options o;
	o.mode = argv[1];
	if (o.mode != "merge" && o.mode != "ksmd" && o.mode != "readonce" && o.mode != "latency")
		usage();
	for (int i = 2; i < argc; i++) {
		std::string a = argv[i];
		auto val = [&]() -> std::string {
			if (i + 1 >= argc)
				usage();
			return argv[++i];
		};
		if (a == "--workload") {
			o.w.name = val();
			o.w.kind = parse_kind(o.w.name);
		} else if (a == "--total-mib")
			o.total_mib = std::stod(val());
		else if (a == "--procs")
			o.w.procs = unsigned(std::stoul(val()));
		else if (a == "--partitions")
			o.w.partitions = unsigned(std::stoul(val()));
		else if (a == "--cross")
			o.w.cross = std::stod(val());
		else if (a == "--within")
			o.w.within = std::stod(val());
		else if (a == "--group")
			o.w.group = unsigned(std::stoul(val()));
		else if (a == "--threads")
			o.threads = unsigned(std::stoul(val()));
		else if (a == "--pin-cpu")
			o.pin_cpu = std::stoi(val());
		else if (a == "--unmerge")
			o.unmerge = true;
		else if (a == "--timeout")
			o.timeout_s = unsigned(std::stoul(val()));
		else if (a == "--tag")
			o.tag = val();
		else
			usage();
	}
	if (o.threads == 0)
		usage();
	o.w.finish(o.total_mib);
	return o;
}

/// Time of a fixed CPU-bound job (XXH3 over 1 MiB, 32 times) just before
/// a measurement: under QEMU TCG the guest slows down whenever the host is
/// busy, so the report can tell measurements taken at different speeds apart.
std::uint64_t calibrate()
{
	std::vector<unsigned char> buf(1u << 20);
	for (std::size_t i = 0; i < buf.size(); i++)
		buf[i] = static_cast<unsigned char>(mix64(i));
	std::uint64_t t0 = thread_cpu_ns();
	XXH64_hash_t acc = 0;
	for (int k = 0; k < 32; k++)
		acc ^= XXH3_64bits_withSeed(buf.data(), buf.size(), XXH64_hash_t(k));
	std::uint64_t t = thread_cpu_ns() - t0;
	return acc == 0x5a5a5a5a5a5a5a5aull ? t + 1 : t; // keep acc alive
}

Json common(const Options &o)
{
	utsname u{};
	uname(&u);
	Json j;
	j.add("mode", o.mode)
	    .add("tag", o.tag)
	    .add("workload", o.w.name)
	    .add("total_mib", double(o.w.total_pages() * o.w.page_size) / 1048576.0)
	    .add("procs", o.w.procs)
	    .add("partitions", o.w.partitions)
	    .add("page_size", std::uint64_t(o.w.page_size))
	    .add("pages_per_proc", std::uint64_t(o.w.pages_per_proc))
	    .add("total_pages", std::uint64_t(o.w.total_pages()))
	    .add("cross", o.w.cross)
	    .add("within", o.w.within)
	    .add("group", o.w.group)
	    .add("kernel", u.release)
	    .add("cpus", int(sysconf(_SC_NPROCESSORS_ONLN)))
	    .add("calib_ns", calibrate());
	return j;
}

void pin_to(int cpu)
{
	if (cpu < 0)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		fail_errno("sched_setaffinity to CPU " + std::to_string(cpu));
}

std::uint64_t max_page_sharing()
{
	return ksm_value("max_page_sharing");
}

// ---------------------------------------------------------------- merge

Json run_merge(const Options &o)
{
	const Workload &w = o.w;
	Json j = common(o);
	std::uint64_t expected = w.expected_saved(true, max_page_sharing());
	std::vector<ksmpart::Partition> parts;
	for (unsigned i = 0; i < w.partitions; i++) {
		auto p = ksmpart::Partition::anonymous();
		if (!p)
			fail("ksm_open: " + p.error().message());
		parts.push_back(std::move(*p));
	}
	Children ch(w, false);
	std::uint64_t thp_kib = 0;
	for (unsigned p = 0; p < w.procs; p++)
		thp_kib += anon_huge_kib(ch.pid(p));

	std::vector<ksmpart::Range> range{ch.range()};
	struct PerThread {
		ksmpart::MergeCounters c;
		std::uint64_t cpu_ns = 0, wall_ns = 0, calls = 0;
		std::string error;
		bool complete = true;
	};
	std::vector<PerThread> res(o.threads);
	std::atomic<unsigned> ready{0};
	std::atomic<bool> go{false};
	unsigned per_part = w.procs / w.partitions;
	auto worker = [&](unsigned t) {
		try {
			pin_to(o.pin_cpu);
		} catch (const std::exception &e) {
			res[t].error = e.what();
		}
		ready++;
		while (!go.load())
			std::this_thread::yield();
		std::uint64_t c0 = thread_cpu_ns(), t0 = wall_ns();
		for (unsigned part = t; part < w.partitions; part += o.threads)
			for (unsigned p = part * per_part; p < (part + 1) * per_part; p++) {
				auto rep = parts[part].merge(ch.pidfd(p), range);
				res[t].c += rep.counters;
				res[t].calls += rep.calls;
				if (!rep.complete()) {
					res[t].complete = false;
					if (res[t].error.empty())
						res[t].error = rep.error.message();
				}
			}
		res[t].cpu_ns = thread_cpu_ns() - c0;
		res[t].wall_ns = wall_ns() - t0;
	};
	std::vector<std::thread> threads;
	for (unsigned t = 1; t < o.threads; t++)
		threads.emplace_back(worker, t);
	while (ready.load() + 1 < o.threads)
		std::this_thread::yield();
	// The members' xarrays of rmap items, in the radix tree node cache.
	std::uint64_t xarray0 = slab_bytes("radix_tree_node");
	std::uint64_t t0 = wall_ns();
	go = true;
	worker(0);
	for (auto &t : threads)
		t.join();
	std::uint64_t wall = wall_ns() - t0;

	ksmpart::MergeCounters sum;
	std::uint64_t cpu = 0, calls = 0;
	std::string error;
	bool complete = true;
	for (auto &r : res) {
		sum += r.c;
		cpu += r.cpu_ns;
		calls += r.calls;
		complete = complete && r.complete;
		if (error.empty())
			error = r.error;
	}
	// Partition statistics (ioctl) as the second source of truth.
	bool stats_ok = true;
	std::uint64_t st_sharing = 0, st_shared = 0, st_merged = 0, st_time = 0, st_rmap = 0;
	for (auto &p : parts) {
		auto s = p.stats();
		if (!s) {
			stats_ok = false;
			j.add("stats_error", s.error().message());
			break;
		}
		st_sharing += s->pages_sharing;
		st_shared += s->pages_shared;
		st_merged += s->pages_merged;
		st_time += s->merge_time_ns;
		st_rmap += s->rmap_items;
	}
	std::uint64_t xarray1 = slab_bytes("radix_tree_node");
	std::uint64_t global_sharing = ksm_value("pages_sharing");
	std::uint64_t pfn_saved = pages_saved_by_pfn(w, ch);

	std::string reason;
	if (!error.empty() || !complete)
		reason = "merge did not complete: " + error;
	else if (sum.pages_merged != expected)
		reason = "pages_merged " + std::to_string(sum.pages_merged) + " != expected " +
		         std::to_string(expected);
	else if (stats_ok && st_sharing != expected)
		reason = "stats pages_sharing " + std::to_string(st_sharing) + " != expected " +
		         std::to_string(expected);
	else if (sum.pages_scanned != w.total_pages())
		reason = "pages_scanned " + std::to_string(sum.pages_scanned) +
		         " != " + std::to_string(w.total_pages());
	else if (pfn_saved != expected)
		reason = "pagemap shows " + std::to_string(pfn_saved) + " pages saved, expected " +
		         std::to_string(expected);
	else if (w.kind == Kind::thp && thp_kib == 0)
		reason = "THP workload without AnonHugePages";

	j.add("threads", o.threads)
	    .add("pin_cpu", o.pin_cpu)
	    .add("expected_merged", expected)
	    .add("fill_ns", ch.fill_ns())
	    .add("thp_kib", thp_kib)
	    .add("wall_ns", wall)
	    .add("cpu_ns", cpu)
	    .add("calls", calls)
	    .add("pages_scanned", sum.pages_scanned)
	    .add("pages_merged", sum.pages_merged)
	    .add("pages_already_shared", sum.pages_already_shared)
	    .add("pages_unshared", sum.pages_unshared)
	    .add("pages_failed", sum.pages_failed)
	    .add("pages_absent", sum.pages_absent)
	    .add("pages_skipped", sum.pages_skipped)
	    .add("stats_ok", stats_ok)
	    .add("stats_pages_sharing", st_sharing)
	    .add("stats_pages_shared", st_shared)
	    .add("stats_pages_merged", st_merged)
	    .add("stats_rmap_items", st_rmap)
	    .add("xarray_bytes", xarray1 > xarray0 ? xarray1 - xarray0 : 0)
	    .add("stats_merge_time_ns", st_time)
	    .add("global_pages_sharing", global_sharing)
	    .add("pfn_saved", pfn_saved);
	for (unsigned t = 0; t < o.threads && o.threads > 1; t++)
		j.add("thread" + std::to_string(t) + "_wall_ns", res[t].wall_ns)
		    .add("thread" + std::to_string(t) + "_cpu_ns", res[t].cpu_ns);

	if (o.unmerge && reason.empty()) {
		std::uint64_t c0 = thread_cpu_ns(), u0 = wall_ns();
		std::string uerr;
		for (unsigned p = 0; p < w.procs; p++) {
			auto rep = parts[w.partition_of(p)].unmerge(ch.pidfd(p), range);
			if (!rep.complete() && uerr.empty())
				uerr = rep.error.message();
		}
		std::uint64_t uwall = wall_ns() - u0, ucpu = thread_cpu_ns() - c0;
		std::uint64_t left = 0;
		for (auto &p : parts) {
			auto s = p.stats();
			if (s)
				left += s->pages_sharing + s->pages_shared;
		}
		std::uint64_t pfn_left = pages_saved_by_pfn(w, ch);
		j.add("unmerge_wall_ns", uwall)
		    .add("unmerge_cpu_ns", ucpu)
		    .add("unmerge_left", left)
		    .add("unmerge_pfn_left", pfn_left);
		if (!uerr.empty())
			reason = "unmerge failed: " + uerr;
		else if (stats_ok && left)
			reason = "pages still shared after unmerge: " + std::to_string(left);
		else if (pfn_left)
			reason = "pagemap shows " + std::to_string(pfn_left) +
			         " pages still shared after unmerge";
	}
	j.add("valid", reason.empty()).add("reason", reason);
	return j;
}

// ---------------------------------------------------------------- ksmd

/// Global KSM settings for a run at full speed, restored (and everything
/// unmerged) on destruction.
class KsmdSession {
public:
	KsmdSession()
	{
		sleep_ = read_text(ksm_dir + "sleep_millisecs");
		scan_ = read_text(ksm_dir + "pages_to_scan");
		ksm_write("run", "2");
	}
	~KsmdSession()
	{
		try {
			// 2 unmerges everything (within the write), 0 then leaves
			// ksmd stopped: partitions refuse to merge while run is 2.
			ksm_write("run", "2");
			ksm_write("run", "0");
			ksm_write("sleep_millisecs", sleep_);
			ksm_write("pages_to_scan", scan_);
		} catch (const std::exception &e) {
			std::fprintf(stderr, "ksmpart-bench: restoring ksm settings: %s\n",
			             e.what());
		}
	}
	KsmdSession(const KsmdSession &) = delete;
	KsmdSession &operator=(const KsmdSession &) = delete;

private:
	std::string sleep_, scan_;
};

Json run_ksmd(const Options &o)
{
	const Workload &w = o.w;
	if (w.partitions != 1)
		fail("ksmd mode has no partitions");
	Json j = common(o);
	std::uint64_t mps = max_page_sharing();
	std::uint64_t expected = w.expected_saved(false, mps);
	KsmdSession session;
	// pages_sharing also counts partitions: it must start at 0, which run=2
	// ensures for every KSM page (global and partitions).
	std::uint64_t deadline = wall_ns() + 60ull * 1000000000u;
	while (ksm_value("pages_sharing") || ksm_value("pages_shared")) {
		if (wall_ns() > deadline)
			fail("KSM pages remain after run=2");
		usleep(10000);
	}
	j.add("partitions_present", std::uint64_t(count_partitions()));
	ksm_write("sleep_millisecs", "0");
	ksm_write("pages_to_scan", "100000");

	Children ch(w, true);
	std::uint64_t thp_kib = 0;
	for (unsigned p = 0; p < w.procs; p++)
		thp_kib += anon_huge_kib(ch.pid(p));
	for (unsigned p = 0; p < w.procs; p++)
		ch.command(p, 'M');

	pid_t ksmd = find_ksmd();
	if (!ksmd)
		fail("no ksmd thread");
	long hz = sysconf(_SC_CLK_TCK);
	std::uint64_t ticks0 = task_ticks(ksmd);
	std::uint64_t scans0 = ksm_value("full_scans");
	std::uint64_t t0 = wall_ns();
	ksm_write("run", "1");
	std::uint64_t limit = t0 + std::uint64_t(o.timeout_s) * 1000000000u;
	bool reached = false;
	std::uint64_t sharing = 0, scans = scans0;
	for (;;) {
		sharing = ksm_value("pages_sharing");
		scans = ksm_value("full_scans");
		// Unique pages never share: the same state as ksm_merge's (every
		// page a candidate in the unstable tree) takes ksmd two full scans.
		if (expected ? sharing >= expected : scans >= scans0 + 2) {
			reached = true;
			break;
		}
		if (wall_ns() > limit)
			break;
		usleep(5000);
	}
	std::uint64_t wall = wall_ns() - t0;
	std::uint64_t ticks1 = task_ticks(ksmd);
	ksm_write("run", "0");
	std::uint64_t rmap_items = 0;
	for (unsigned p = 0; p < w.procs; p++)
		rmap_items += ksm_rmap_items(ch.pid(p));
	std::uint64_t final_sharing = ksm_value("pages_sharing");
	std::uint64_t final_shared = ksm_value("pages_shared");
	std::uint64_t final_scans = ksm_value("full_scans");
	std::uint64_t pfn_saved = pages_saved_by_pfn(w, ch);

	std::string reason;
	if (!reached)
		reason = "ksmd did not reach " + std::to_string(expected) + " pages_sharing in " +
		         std::to_string(o.timeout_s) + " s (at " + std::to_string(sharing) + ")";
	else if (final_sharing != expected)
		reason = "pages_sharing " + std::to_string(final_sharing) + " != expected " +
		         std::to_string(expected);
	else if (pfn_saved != expected)
		reason = "pagemap shows " + std::to_string(pfn_saved) + " pages saved, expected " +
		         std::to_string(expected);
	else if (w.kind == Kind::thp && thp_kib == 0)
		reason = "THP workload without AnonHugePages";

	// MADV_UNMERGEABLE of the same pages, each child in turn (as ksm_unmerge
	// does them one after another).
	std::uint64_t uwall = 0, ucpu = 0;
	for (unsigned p = 0; p < w.procs; p++) {
		CmdResult r = ch.command(p, 'U');
		uwall += r.wall_ns;
		ucpu += r.cpu_ns;
	}
	// pages_sharing is updated lazily (by ksmd's next scan) after
	// MADV_UNMERGEABLE, so check the page tables instead.
	std::uint64_t left = pages_saved_by_pfn(w, ch);
	if (reason.empty() && left)
		reason = "pagemap shows " + std::to_string(left) +
		         " pages still shared after MADV_UNMERGEABLE";

	j.add("expected_merged", expected)
	    .add("max_page_sharing", mps)
	    .add("fill_ns", ch.fill_ns())
	    .add("thp_kib", thp_kib)
	    .add("wall_ns", wall)
	    .add("ksmd_ticks", ticks1 - ticks0)
	    .add("clk_tck", std::uint64_t(hz))
	    .add("cpu_ns", (ticks1 - ticks0) * (1000000000ull / std::uint64_t(hz)))
	    .add("full_scans", scans - scans0)
	    .add("pages_sharing", final_sharing)
	    .add("pages_shared", final_shared)
	    .add("rmap_items", rmap_items)
	    .add("full_scans_final", final_scans - scans0)
	    .add("pfn_saved", pfn_saved)
	    .add("smart_scan", ksm_value("smart_scan"))
	    .add("unmerge_wall_ns", uwall)
	    .add("unmerge_cpu_ns", ucpu)
	    .add("unmerge_pfn_left", left)
	    .add("valid", reason.empty())
	    .add("reason", reason);
	return j;
}

// ---------------------------------------------------------------- readonce

std::uint64_t read_xxh3(const unsigned char *p, std::size_t n)
{
	return XXH3_64bits(p, n);
}

std::uint64_t read_xxh64(const unsigned char *p, std::size_t n)
{
	return XXH64(p, n, 0);
}

/// Plain 8-byte loads: no hashing at all, the floor of reading a page.
std::uint64_t read_words(const unsigned char *p, std::size_t n)
{
	const auto *q = reinterpret_cast<const std::uint64_t *>(p);
	std::uint64_t x = 0;
	for (std::size_t i = 0; i < n / sizeof(*q); i++)
		x ^= q[i];
	return x;
}

Json run_readonce(const Options &o)
{
	const Workload &w = o.w;
	Json j = common(o);
	std::size_t len = w.total_pages() * w.page_size;
	void *m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		fail_errno("mmap");
	madvise(m, len, w.kind == Kind::thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	auto *base = static_cast<unsigned char *>(m);
	for (unsigned p = 0; p < w.procs; p++)
		w.fill(base + std::size_t(p) * w.bytes_per_proc(), p);
	// The limit is the fastest of several ways to read every page once, in
	// the same boot over the same memory: XXH3 (SIMD, which TCG emulates
	// slowly), scalar XXH64, and plain 8-byte loads, each timed alone.
	struct Pass {
		const char *name;
		std::uint64_t (*page)(const unsigned char *, std::size_t);
		std::uint64_t wall = 0, cpu = 0;
	};
	Pass passes[] = {{"xxh3", read_xxh3}, {"xxh64", read_xxh64}, {"words", read_words}};
	// Two rounds, each pass's faster one counts: the first pass over the
	// memory must not pay for whatever the fill left behind.
	std::uint64_t acc = 0;
	for (int round = 0; round < 2; round++) {
		for (Pass &pass : passes) {
			std::uint64_t c0 = thread_cpu_ns(), t0 = wall_ns();
			for (std::size_t off = 0; off < len; off += w.page_size)
				acc ^= pass.page(base + off, w.page_size);
			std::uint64_t wall = wall_ns() - t0, cpu = thread_cpu_ns() - c0;
			if (!pass.wall || wall < pass.wall) {
				pass.wall = wall;
				pass.cpu = cpu;
			}
		}
	}
	const Pass *best = &passes[0];
	for (const Pass &pass : passes) {
		j.add(std::string(pass.name) + "_wall_ns", pass.wall);
		if (pass.wall < best->wall)
			best = &pass;
	}
	munmap(m, len);
	j.add("hash", best->name)
	    .add("wall_ns", best->wall)
	    .add("cpu_ns", best->cpu)
	    .add("sink", std::uint64_t(acc & 0xffff))
	    .add("valid", true)
	    .add("reason", "");
	return j;
}

// ---------------------------------------------------------------- latency

/// What a merge costs others (issue 18), one partition, procs >= 2, in two
/// merges of every member, so that each probe has a vCPU of its own beside
/// the merging thread (two vCPUs): (1) another thread merges member 1's
/// first page every 200 us and times each call: each call takes part->lock
/// once, so its longest time during the merge minus its median without one
/// bounds the longest time the merging thread held part->lock at a stretch;
/// (2) after everything is unmerged, member 0 writes a byte of each of its
/// pages in turn, the value that is there, timing each write during the
/// second merge: a write to a page merged meanwhile takes a COW fault, one
/// to a page being write-protected waits for the merge. Then each probe
/// again with no merge running, as its baseline (member 0's pages merged
/// again first, so that its writes fault as often).
Json run_latency(const Options &o)
{
	const Workload &w = o.w;
	if (w.procs < 2 || w.partitions != 1)
		fail("latency needs --procs 2 or more and one partition");
	Json j = common(o);
	auto part = ksmpart::Partition::anonymous();
	if (!part)
		fail("ksm_open: " + part.error().message());
	Children ch(w, true);
	std::vector<ksmpart::Range> all{ch.range()};
	std::vector<ksmpart::Range> one{
	    ksmpart::Range::of(reinterpret_cast<const void *>(ch.range().start), w.page_size)};
	std::string error;
	std::mutex error_lock; // the probe thread merges too
	auto note = [&](bool complete, const ksmpart::Error &e) {
		std::lock_guard<std::mutex> guard(error_lock);
		if (!complete && error.empty())
			error = e.message();
	};
	auto merge = [&](unsigned p, const std::vector<ksmpart::Range> &r) {
		auto rep = part->merge(ch.pidfd(p), r);
		note(rep.complete(), rep.error);
	};
	auto merge_all = [&]() {
		std::uint64_t t0 = wall_ns();
		for (unsigned p = 0; p < w.procs; p++)
			merge(p, all);
		return wall_ns() - t0;
	};
	// The lock probe, until stopped, or 200 calls at least.
	std::atomic<bool> running{false};
	auto lock_probe = [&](std::vector<std::uint64_t> &out) {
		while (running.load() || out.size() < 200) {
			std::uint64_t t0 = wall_ns();
			merge(1, one);
			out.push_back(wall_ns() - t0);
			std::this_thread::sleep_for(std::chrono::microseconds(200));
		}
	};

	// (1) part->lock: during the first merge, then without.
	std::vector<std::uint64_t> busy_calls, idle_calls;
	running = true;
	std::thread probe(lock_probe, std::ref(busy_calls));
	std::uint64_t wall = merge_all();
	running = false;
	probe.join();
	probe = std::thread(lock_probe, std::ref(idle_calls));
	probe.join();

	// (2) faults: everything unmerged, then merged again while member 0
	// writes, then member 0's writes alone.
	for (unsigned p = 0; p < w.procs; p++) {
		auto rep = part->unmerge(ch.pidfd(p), all);
		note(rep.complete(), rep.error);
	}
	ch.start_writing(0);
	std::uint64_t wall2 = merge_all();
	CmdResult busy_faults = ch.stop_writing();
	merge(0, all);
	ch.start_writing(0);
	std::this_thread::sleep_for(std::chrono::nanoseconds(wall2));
	CmdResult idle_faults = ch.stop_writing();

	Latency busy = latency_of(busy_calls), idle = latency_of(idle_calls);
	j.add("wall_ns", wall)
	    .add("wall2_ns", wall2)
	    .add("lock_calls", busy.n)
	    .add("lock_p50_ns", busy.p50)
	    .add("lock_p99_ns", busy.p99)
	    .add("lock_max_ns", busy.max)
	    .add("idle_lock_calls", idle.n)
	    .add("idle_lock_p50_ns", idle.p50)
	    .add("idle_lock_p99_ns", idle.p99)
	    .add("idle_lock_max_ns", idle.max)
	    .add("hold_max_ns", busy.max > idle.p50 ? busy.max - idle.p50 : 0)
	    .add("fault_writes", busy_faults.writes)
	    .add("fault_p50_ns", busy_faults.p50_ns)
	    .add("fault_p99_ns", busy_faults.p99_ns)
	    .add("fault_max_ns", busy_faults.max_ns)
	    .add("idle_fault_writes", idle_faults.writes)
	    .add("idle_fault_p50_ns", idle_faults.p50_ns)
	    .add("idle_fault_p99_ns", idle_faults.p99_ns)
	    .add("idle_fault_max_ns", idle_faults.max_ns)
	    .add("valid", error.empty())
	    .add("reason", error.empty() ? "" : "a merge did not complete: " + error);
	return j;
}

} // namespace

int main(int argc, char **argv)
{
	Options o = [&] {
		try {
			return parse(argc, argv);
		} catch (const std::exception &e) {
			std::fprintf(stderr, "ksmpart-bench: %s\n", e.what());
			std::exit(2);
		}
	}();
	// 1000 member processes need pidfds and partition fds beyond 1024.
	rlimit rl{};
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	try {
		Json j = o.mode == "merge"     ? run_merge(o)
		         : o.mode == "ksmd"    ? run_ksmd(o)
		         : o.mode == "latency" ? run_latency(o)
		                               : run_readonce(o);
		std::printf("%s\n", j.str().c_str());
		return 0;
	} catch (const std::exception &e) {
		Json j = common(o);
		j.add("valid", false).add("reason", std::string("error: ") + e.what());
		std::printf("%s\n", j.str().c_str());
		std::fprintf(stderr, "ksmpart-bench %s: %s\n", o.mode.c_str(), e.what());
		return 1;
	}
}
