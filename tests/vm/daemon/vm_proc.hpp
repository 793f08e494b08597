// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers of the daemon and OCI VM tests: ground truth from /proc (PFNs,
// ksm_stat), tenant processes with known pages, cgroups, running programs.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace vmp {

namespace fs = std::filesystem;

inline std::size_t page()
{
	static const std::size_t ps = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
	return ps;
}

inline std::string slurp(const std::string &path)
{
	std::ifstream f(path);
	std::stringstream ss;
	ss << f.rdbuf();
	return ss.str();
}

/// A value of /proc/PID/ksm_stat as text ("" if absent); ksm_partition is a u64.
inline std::string ksm_stat(pid_t pid, const std::string &key)
{
	std::istringstream in(slurp("/proc/" + std::to_string(pid) + "/ksm_stat"));
	std::string k, v;
	while (in >> k >> v)
		if (k == key || k == key + ":")
			return v;
	return "";
}

inline std::uint64_t pfn(pid_t pid, std::uintptr_t addr)
{
	int fd = open(("/proc/" + std::to_string(pid) + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC);
	std::uint64_t e = 0;
	if (fd >= 0) {
		if (pread(fd, &e, 8, static_cast<off_t>(addr / page() * 8)) != 8)
			e = 0;
		close(fd);
	}
	return e & (1ull << 63) ? e & ((1ull << 55) - 1) : 0;
}

/// Poll `cond` until true or `seconds` pass.
inline bool eventually(const std::function<bool()> &cond, double seconds = 30)
{
	auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
	while (std::chrono::steady_clock::now() < end) {
		if (cond())
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(100));
	}
	return cond();
}

/// A tenant: fills `pages` pages (page i: word j = f(i, j, seed)) in a fresh
/// mapping and waits; reports its buffer address; checks content at the end.
class Tenant {
public:
	Tenant(std::size_t pages, unsigned seed, const fs::path &cgroup = {}) : pages_(pages)
	{
		int ready[2], cmd[2];
		if (pipe(ready) != 0 || pipe(cmd) != 0)
			throw std::runtime_error("pipe");
		pid_ = fork();
		if (pid_ == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (int fd = 3; fd < 1024; fd++)
				if (fd != ready[1] && fd != cmd[0])
					close(fd);
			if (!cgroup.empty())
				std::ofstream(cgroup / "cgroup.procs") << getpid();
			void *m = mmap(nullptr, pages * page(), PROT_READ | PROT_WRITE,
			               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			madvise(m, pages * page(), MADV_NOHUGEPAGE);
			auto *w = static_cast<std::uint64_t *>(m);
			const std::size_t words = page() / 8;
			for (std::size_t i = 0; i < pages; i++)
				for (std::size_t j = 0; j < words; j++)
					w[i * words + j] = value(seed, i, j);
			auto addr = reinterpret_cast<std::uintptr_t>(m);
			if (write(ready[1], &addr, sizeof(addr)) != sizeof(addr))
				_exit(3);
			char c;
			while (read(cmd[0], &c, 1) > 0) {
			}
			for (std::size_t i = 0; i < pages; i++)
				for (std::size_t j = 0; j < words; j++)
					if (w[i * words + j] != value(seed, i, j))
						_exit(1);
			_exit(0);
		}
		close(ready[1]);
		close(cmd[0]);
		cmd_ = cmd[1];
		fcntl(cmd_, F_SETFD, FD_CLOEXEC);
		if (read(ready[0], &addr_, sizeof(addr_)) != sizeof(addr_))
			throw std::runtime_error("tenant did not start");
		close(ready[0]);
	}
	~Tenant()
	{
		if (pid_ > 0) {
			kill(pid_, SIGKILL);
			waitpid(pid_, nullptr, 0);
		}
		if (cmd_ >= 0)
			close(cmd_);
	}
	Tenant(const Tenant &) = delete;
	Tenant &operator=(const Tenant &) = delete;
	pid_t pid() const { return pid_; }
	std::uintptr_t addr(std::size_t i) const { return addr_ + i * page(); }
	std::size_t pages() const { return pages_; }
	std::string partition() const { return ksm_stat(pid_, "ksm_partition"); }
	/// Verify content and exit; true if intact.
	bool finish()
	{
		close(cmd_);
		cmd_ = -1;
		int status = 0;
		waitpid(pid_, &status, 0);
		pid_ = -1;
		return WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
	static std::uint64_t value(unsigned seed, std::size_t i, std::size_t j)
	{
		return ((i + 1) * 0x9e3779b97f4a7c15ull ^ j) + seed * 0x100000001ull;
	}

private:
	std::size_t pages_;
	pid_t pid_ = -1;
	int cmd_ = -1;
	std::uintptr_t addr_ = 0;
};

/// Pages i of a and b map the same frame, for every page.
inline bool all_shared(const Tenant &a, const Tenant &b)
{
	for (std::size_t i = 0; i < a.pages(); i++) {
		auto pa = pfn(a.pid(), a.addr(i));
		if (pa == 0 || pa != pfn(b.pid(), b.addr(i)))
			return false;
	}
	return true;
}

/// No page of a maps a frame that b maps (anywhere in b's buffer).
inline bool none_shared(const Tenant &a, const Tenant &b)
{
	std::vector<std::uint64_t> fb;
	for (std::size_t i = 0; i < b.pages(); i++)
		fb.push_back(pfn(b.pid(), b.addr(i)));
	for (std::size_t i = 0; i < a.pages(); i++) {
		auto pa = pfn(a.pid(), a.addr(i));
		if (pa && std::find(fb.begin(), fb.end(), pa) != fb.end())
			return false;
	}
	return true;
}

/// A cgroup v2 subtree for a test, emptied into the root and removed after.
class Cgroup {
public:
	explicit Cgroup(const std::string &name)
	{
		if (!fs::exists(root_ / "cgroup.procs"))
			mount("cgroup2", root_.c_str(), "cgroup2", 0, nullptr);
		path_ = root_ / name;
		fs::create_directories(path_);
	}
	~Cgroup()
	{
		std::vector<fs::path> dirs;
		std::error_code ec;
		for (auto &e : fs::recursive_directory_iterator(path_, ec))
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
	fs::path sub(const std::string &s) const
	{
		fs::create_directories(path_ / s);
		return path_ / s;
	}
	/// As /proc/PID/cgroup prints it.
	std::string rel(const std::string &s) const
	{
		return "/" + fs::relative(path_ / s, root_).string();
	}

private:
	fs::path root_ = "/sys/fs/cgroup", path_;
};

/// Run a command line with /bin/sh; its stdout, and its exit status.
inline int sh(const std::string &cmd, std::string *out = nullptr)
{
	std::string file = "/tmp/vmp-sh.out." + std::to_string(getpid());
	int rc = system((cmd + " >" + file + " 2>&1").c_str());
	if (out)
		*out = slurp(file);
	unlink(file.c_str());
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

/// ksmpartd as ksmpartd.service runs it.
class Daemon {
public:
	Daemon(std::string bin, std::string dir) : bin_(std::move(bin)), dir_(std::move(dir))
	{
		fs::create_directories(dir_);
		notify_path_ = dir_ + "/notify";
		unlink(notify_path_.c_str());
		notify_fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		sockaddr_un a{};
		a.sun_family = AF_UNIX;
		std::strcpy(a.sun_path, notify_path_.c_str());
		if (bind(notify_fd_, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0)
			throw std::runtime_error("bind notify socket");
	}
	~Daemon()
	{
		if (pid_ > 0) {
			kill(pid_, SIGKILL);
			waitpid(pid_, nullptr, 0);
		}
		close(notify_fd_);
	}
	std::string config() const { return dir_ + "/ksmpartd.toml"; }
	std::string log() const { return slurp(dir_ + "/log"); }
	void write_config(const std::string &text) const { std::ofstream(config()) << text; }

	void start()
	{
		// What an earlier run said does not count for this one.
		messages_.clear();
		pollfd p{notify_fd_, POLLIN, 0};
		char buf[4096];
		while (poll(&p, 1, 0) > 0 && recv(notify_fd_, buf, sizeof(buf), 0) > 0) {
		}
		pid_ = fork();
		if (pid_ == 0) {
			setenv("NOTIFY_SOCKET", notify_path_.c_str(), 1);
			setenv("JOURNAL_STREAM", "8:1", 1); // priority prefixes, as journald gets
			int fd = open((dir_ + "/log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
			dup2(fd, 2);
			// CapabilityBoundingSet=CAP_SYS_PTRACE CAP_DAC_READ_SEARCH and
			// NoNewPrivileges=yes: exec gives root exactly these two.
			for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
				if (cap != CAP_SYS_PTRACE && cap != CAP_DAC_READ_SEARCH)
					prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
			prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
			execl(bin_.c_str(), bin_.c_str(), "--config", config().c_str(), nullptr);
			_exit(121);
		}
	}
	/// Wait for a notification containing `what`; all messages are kept.
	bool notified(const std::string &what, double seconds = 30)
	{
		return eventually(
		    [&] {
			    pollfd p{notify_fd_, POLLIN, 0};
			    while (poll(&p, 1, 0) > 0) {
				    char buf[4096];
				    ssize_t n = recv(notify_fd_, buf, sizeof(buf), 0);
				    if (n > 0)
					    messages_.emplace_back(buf,
					                           static_cast<std::size_t>(n));
			    }
			    for (auto &m : messages_)
				    if (m.find(what) != std::string::npos) {
					    m.clear(); // each notification counts once
					    return true;
				    }
			    return false;
		    },
		    seconds);
	}
	void signal(int sig) const { kill(pid_, sig); }
	/// SIGTERM and wait: the exit status.
	int stop()
	{
		kill(pid_, SIGTERM);
		int status = 0;
		waitpid(pid_, &status, 0);
		pid_ = -1;
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	bool alive() const { return pid_ > 0 && kill(pid_, 0) == 0; }
	pid_t pid() const { return pid_; }

private:
	std::string bin_, dir_, notify_path_;
	int notify_fd_ = -1;
	pid_t pid_ = -1;
	std::vector<std::string> messages_;
};

} // namespace vmp
