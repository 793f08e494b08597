// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ksmpart/pidfd.hpp"

#include "backend.hpp"
#include "internal.hpp"
#include "ksmpart/syscall.hpp"

#include <cerrno>
#include <charconv>
#include <unistd.h>

namespace ksmpart {

Pidfd Pidfd::self() noexcept
{
	return Pidfd(pidfd_self, getpid());
}

Result<Pidfd> Pidfd::open(pid_t pid)
{
	if (pid == 0 || pid == getpid())
		return self();
	if (pid < 0)
		return describe_error(Op::pidfd_open, EINVAL, detail::pid_context(pid));
	int fd = sys::backend().pidfd_open(pid, 0);
	if (fd < 0)
		return describe_error(Op::pidfd_open, errno, detail::pid_context(pid));
	return Pidfd(fd, pid);
}

Pidfd Pidfd::adopt(int fd, pid_t pid) noexcept
{
	if (fd == pidfd_self)
		return self();
	if (pid == 0 && fd >= 0)
		pid = pidfd_to_pid(fd);
	return Pidfd(fd, pid > 0 ? pid : 0);
}

Pidfd::Pidfd(Pidfd &&other) noexcept : fd_(other.fd_), pid_(other.pid_)
{
	other.fd_ = -1;
	other.pid_ = 0;
}

Pidfd &Pidfd::operator=(Pidfd &&other) noexcept
{
	if (this != &other) {
		if (fd_ >= 0)
			detail::close_fd(fd_);
		fd_ = other.fd_;
		pid_ = other.pid_;
		other.fd_ = -1;
		other.pid_ = 0;
	}
	return *this;
}

Pidfd::~Pidfd()
{
	if (fd_ >= 0)
		detail::close_fd(fd_);
}

bool Pidfd::is_self() const noexcept
{
	return fd_ == pidfd_self;
}

int Pidfd::release() noexcept
{
	int fd = fd_;
	fd_ = -1;
	pid_ = 0;
	return fd;
}

pid_t pidfd_to_pid(int pidfd) noexcept
{
	try {
		auto info = detail::read_file("/proc/self/fdinfo/" + std::to_string(pidfd));
		if (!info)
			return -1;
		auto pos = info->find("\nPid:");
		if (pos == std::string::npos)
			return -1;
		std::string_view rest(*info);
		rest.remove_prefix(pos + 5);
		while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t'))
			rest.remove_prefix(1);
		long pid = -1;
		auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
		if (ec != std::errc())
			return -1;
		return pid < 0 ? 0 : static_cast<pid_t>(pid); // -1: reaped
	} catch (...) {
		return -1;
	}
}

} // namespace ksmpart
