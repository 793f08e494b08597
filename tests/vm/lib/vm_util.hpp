// SPDX-License-Identifier: GPL-2.0-or-later
// Ground truth for the VM tests: PFNs from pagemap, /proc/<pid>/ksm_stat,
// page-filled buffers, capability dropping, and child processes.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/capability.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace vm {

inline std::size_t page_size()
{
	static const std::size_t ps = sysconf(_SC_PAGESIZE);
	return ps;
}

/// PFN of the page at addr in pid (0 = self); 0 if not present. Needs root
/// (unprivileged readers get PFN 0).
inline std::uint64_t pfn(const void *addr, pid_t pid = 0)
{
	std::string path = pid ? "/proc/" + std::to_string(pid) + "/pagemap" : "/proc/self/pagemap";
	int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		throw std::runtime_error("open " + path + ": " + strerror(errno));
	std::uint64_t e = 0;
	off_t off = reinterpret_cast<std::uintptr_t>(addr) / page_size() * 8;
	ssize_t n = pread(fd, &e, sizeof(e), off);
	close(fd);
	if (n != sizeof(e))
		throw std::runtime_error("pread pagemap failed");
	if (!(e & (1ull << 63)))
		return 0;
	return e & ((1ull << 55) - 1);
}

/// /proc/<pid>/ksm_stat as name -> value.
inline std::map<std::string, long long> ksm_stat(pid_t pid = 0)
{
	std::ifstream f(pid ? "/proc/" + std::to_string(pid) + "/ksm_stat" : "/proc/self/ksm_stat");
	std::map<std::string, long long> m;
	std::string k;
	long long v;
	while (f >> k >> v)
		m[k] = v;
	return m;
}

/// An anonymous private mapping of n pages, THP off (so counts are in
/// base pages without splits), unmapped on destruction.
struct Buffer {
	char *p = nullptr;
	std::size_t pages = 0;
	explicit Buffer(std::size_t n, int prot = PROT_READ | PROT_WRITE) : pages(n)
	{
		void *m = mmap(nullptr, n * page_size(), prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			throw std::runtime_error("mmap failed");
		p = static_cast<char *>(m);
		madvise(p, n * page_size(), MADV_NOHUGEPAGE);
	}
	~Buffer()
	{
		if (p)
			munmap(p, pages * page_size());
	}
	Buffer(const Buffer &) = delete;
	Buffer &operator=(const Buffer &) = delete;
	char *page(std::size_t i) const { return p + i * page_size(); }
	std::size_t bytes() const { return pages * page_size(); }
	/// Page i gets content determined by seed (same seed, same content).
	void fill(std::size_t i, unsigned seed) const
	{
		for (std::size_t b = 0; b < page_size(); b += 8) {
			std::uint64_t v =
			    (std::uint64_t(seed) << 32) ^ (b * 0x9e3779b97f4a7c15ull) ^ 1;
			std::memcpy(page(i) + b, &v, 8);
		}
	}
	bool holds(std::size_t i, unsigned seed) const
	{
		Buffer tmp(1);
		tmp.fill(0, seed);
		return std::memcmp(tmp.p, page(i), page_size()) == 0;
	}
};

/// Remove capabilities from the effective and permitted sets (for good).
inline bool drop_caps(std::initializer_list<cap_value_t> caps)
{
	cap_t c = cap_get_proc();
	if (!c)
		return false;
	std::vector<cap_value_t> v(caps);
	bool ok = cap_set_flag(c, CAP_EFFECTIVE, v.size(), v.data(), CAP_CLEAR) == 0 &&
	          cap_set_flag(c, CAP_PERMITTED, v.size(), v.data(), CAP_CLEAR) == 0 &&
	          cap_set_proc(c) == 0;
	cap_free(c);
	return ok;
}

/// Run f in a child process; the child's exit status is f's return.
template <typename F> int in_child(F f)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int r = 1;
		try {
			r = f();
		} catch (const std::exception &e) {
			fprintf(stderr, "child: %s\n", e.what());
		}
		_exit(r);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// A pipe used to hand a line of text from a child back to the parent or
/// to make one side wait for the other.
struct Pipe {
	int fd[2] = {-1, -1};
	Pipe()
	{
		if (pipe2(fd, O_CLOEXEC) != 0)
			throw std::runtime_error("pipe2");
	}
	~Pipe()
	{
		for (int f : fd)
			if (f >= 0)
				close(f);
	}
	void send(const std::string &s) const
	{
		std::string line = s + "\n";
		if (write(fd[1], line.data(), line.size()) < 0)
			throw std::runtime_error("pipe write");
	}
	std::string receive() const
	{
		std::string s;
		char c;
		while (read(fd[0], &c, 1) == 1 && c != '\n')
			s += c;
		return s;
	}
};

} // namespace vm
