// SPDX-License-Identifier: GPL-2.0-or-later
#include "holder.hpp"
#include "util.hpp"

#include <ksmpart/syscall.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef KSMPART_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace ksmtool {

void notify_ready(const std::string &status)
{
#ifdef KSMPART_HAVE_LIBSYSTEMD
	sd_notifyf(0, "READY=1\nSTATUS=holding %s\nMAINPID=%d", status.c_str(),
	           static_cast<int>(::getpid()));
#else
	(void)status;
#endif
}

void notify_stopping()
{
#ifdef KSMPART_HAVE_LIBSYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
}

namespace {

std::error_code errno_code(int e = errno)
{
	return {e, std::generic_category()};
}

/// RAII for the few raw fds of this file.
struct Fd {
	int fd = -1;
	explicit Fd(int f = -1) : fd(f) {}
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
	~Fd()
	{
		if (fd >= 0)
			::close(fd);
	}
};

bool write_all(int fd, const void *buf, size_t len)
{
	auto p = static_cast<const char *>(buf);
	while (len) {
		ssize_t n = ::write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

/// Open and lock the pid file. Retries when the file was unlinked by an
/// exiting holder between our open and lock, so the locked file is the one
/// at `path`. EEXIST if another live holder has it locked.
int lock_pidfile(const std::string &path, std::error_code &ec)
{
	for (int tries = 0; tries < 10; tries++) {
		int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			ec = errno_code();
			return -1;
		}
		if (::flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			::close(fd);
			ec = errno_code(e == EWOULDBLOCK ? EEXIST : e);
			return -1;
		}
		struct stat a, b;
		if (::fstat(fd, &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev)
			return fd;
		::close(fd);
	}
	ec = errno_code(EAGAIN);
	return -1;
}

pid_t read_pid(int fd)
{
	char buf[32] = {};
	ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	auto v = parse_u64(std::string_view(buf, n));
	return v && *v > 0 && *v < (1u << 22) ? static_cast<pid_t>(*v) : 0;
}

/// The holder itself: keep the partition fd until SIGTERM/SIGINT/SIGHUP.
[[noreturn]] void hold(int part_fd, int lock_fd, const std::string &pidfile, int ready_fd)
{
	// Close everything else, so the holder pins no pipe, tty or file of
	// the caller (a shell waiting for EOF on a pipe would hang).
	for (int fd = 3; fd < 1024; fd++)
		if (fd != part_fd && fd != lock_fd && fd != ready_fd)
			::close(fd);
	int null = ::open("/dev/null", O_RDWR);
	if (null >= 0) {
		::dup2(null, 0);
		::dup2(null, 1);
		::dup2(null, 2);
		if (null > 2)
			::close(null);
	}
	if (::chdir("/") < 0) {
		// Not fatal: only avoids pinning a mount point.
	}
	::prctl(PR_SET_NAME, holder_comm);

	std::string pid = std::to_string(::getpid()) + "\n";
	if (::ftruncate(lock_fd, 0) < 0 || !write_all(lock_fd, pid.data(), pid.size())) {
		int e = errno;
		::unlink(pidfile.c_str());
		(void)!::write(ready_fd, &e, sizeof(e));
		_exit(1);
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	::sigprocmask(SIG_BLOCK, &set, nullptr);
	int ok = 0;
	(void)!::write(ready_fd, &ok, sizeof(ok));
	::close(ready_fd);

	int sig;
	while (::sigwait(&set, &sig) != 0) {
	}
	// Unlink while still holding the lock, so a new holder never sees a
	// half-dead one; the partition fd closes with the process.
	::unlink(pidfile.c_str());
	_exit(0);
}

} // namespace

std::string default_pidfile(const std::string &name, uid_t euid, const char *xdg_runtime_dir)
{
	if (euid == 0)
		return "/run/ksmpart/" + name + ".pid";
	if (xdg_runtime_dir && *xdg_runtime_dir)
		return std::string(xdg_runtime_dir) + "/ksmpart/" + name + ".pid";
	return "/tmp/ksmpart-" + std::to_string(euid) + "/" + name + ".pid";
}

pid_t start_holder(const ksmpart::Partition &part, const std::string &pidfile, std::error_code &ec,
                   pid_t *other)
{
	namespace fs = std::filesystem;
	auto dir = fs::path(pidfile).parent_path();
	if (!dir.empty()) {
		fs::create_directories(dir, ec);
		if (ec)
			return -1;
	}
	Fd lock(lock_pidfile(pidfile, ec));
	if (lock.fd < 0) {
		if (ec.value() == EEXIST && other) {
			Fd f(::open(pidfile.c_str(), O_RDONLY | O_CLOEXEC));
			*other = f.fd >= 0 ? read_pid(f.fd) : 0;
		}
		return -1;
	}
	int pipefd[2];
	if (::pipe2(pipefd, O_CLOEXEC) < 0) {
		ec = errno_code();
		return -1;
	}
	Fd rd(pipefd[0]), wr(pipefd[1]);

	pid_t child = ::fork();
	if (child < 0) {
		ec = errno_code();
		return -1;
	}
	if (child == 0) {
		// First child: new session (no controlling tty), then fork again so
		// the holder is not a session leader and is reparented to init.
		::setsid();
		::signal(SIGHUP, SIG_IGN);
		pid_t holder = ::fork();
		if (holder < 0) {
			int e = errno;
			(void)!::write(wr.fd, &e, sizeof(e));
			_exit(1);
		}
		if (holder > 0)
			_exit(0);
		::signal(SIGHUP, SIG_DFL);
		hold(part.fd(), lock.fd, pidfile, wr.fd);
	}
	int status;
	while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
	}
	::close(wr.fd);
	wr.fd = -1;
	int result = EIO;
	ssize_t n;
	while ((n = ::read(rd.fd, &result, sizeof(result))) < 0 && errno == EINTR) {
	}
	if (n != sizeof(result)) {
		ec = errno_code(EIO);
		return -1;
	}
	if (result != 0) {
		ec = errno_code(result);
		return -1;
	}
	pid_t pid = read_pid(lock.fd);
	ec.clear();
	return pid;
}

pid_t stop_holder(const std::string &pidfile, std::error_code &ec, int timeout_ms)
{
	Fd f(::open(pidfile.c_str(), O_RDONLY | O_CLOEXEC));
	if (f.fd < 0) {
		ec = errno_code();
		return -1;
	}
	if (::flock(f.fd, LOCK_SH | LOCK_NB) == 0) {
		// Nobody holds the lock: the holder died without cleaning up.
		::unlink(pidfile.c_str());
		ec = errno_code(ESRCH);
		return -1;
	}
	if (errno != EWOULDBLOCK) {
		ec = errno_code();
		return -1;
	}
	pid_t pid = read_pid(f.fd);
	if (pid <= 0) {
		ec = errno_code(EBADMSG);
		return -1;
	}
	Fd pidfd(ksmpart::sys::pidfd_open(pid, 0));
	if (pidfd.fd < 0) {
		ec = errno_code();
		return -1;
	}
	// The lock proves a live holder owns the file; check the pid names it
	// before signalling, in case the file was edited.
	std::string comm;
	std::error_code cec;
	if (!read_file("/proc/" + std::to_string(pid) + "/comm", comm, cec) ||
	    trim(comm) != holder_comm) {
		ec = errno_code(EBADMSG);
		return -1;
	}
	if (::syscall(SYS_pidfd_send_signal, pidfd.fd, SIGTERM, nullptr, 0) < 0) {
		ec = errno_code();
		return -1;
	}
	struct pollfd p = {pidfd.fd, POLLIN, 0};
	int r;
	while ((r = ::poll(&p, 1, timeout_ms)) < 0 && errno == EINTR) {
	}
	if (r == 0) {
		ec = errno_code(ETIMEDOUT);
		return -1;
	}
	ec.clear();
	return pid;
}

} // namespace ksmtool
