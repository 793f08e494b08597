// SPDX-License-Identifier: LGPL-2.1-or-later
// Pidfd: the target of merge/unmerge/leave, as an owned pidfd or the
// KSM_PIDFD_SELF sentinel. A pidfd, unlike a pid, cannot be recycled.
#pragma once

#include "ksmpart/result.hpp"

#include <sys/types.h>

namespace ksmpart {

class Pidfd {
public:
	/// The calling process (KSM_PIDFD_SELF; nothing is opened or closed).
	static Pidfd self() noexcept;
	/// pidfd_open(pid); pid 0 or getpid() give self(). ESRCH if no such process.
	static Result<Pidfd> open(pid_t pid);
	/// Takes ownership of an existing pidfd (e.g. from clone3 or
	/// pidfd_getfd); the pid, if not given, is read from its fdinfo.
	static Pidfd adopt(int fd, pid_t pid = 0) noexcept;

	Pidfd() noexcept = default; ///< empty: refers to nothing (fd() == -1)
	Pidfd(Pidfd &&other) noexcept;
	Pidfd &operator=(Pidfd &&other) noexcept;
	Pidfd(const Pidfd &) = delete;
	Pidfd &operator=(const Pidfd &) = delete;
	~Pidfd();

	/// The value to pass as the pidfd argument (-10000 for self).
	int fd() const noexcept { return fd_; }
	/// The pid, for messages and /proc; 0 if unknown (or the process is gone).
	pid_t pid() const noexcept { return pid_; }
	bool is_self() const noexcept;
	bool valid() const noexcept { return fd_ != -1; }
	/// Gives up ownership; returns the fd (the caller closes it).
	int release() noexcept;

private:
	Pidfd(int fd, pid_t pid) noexcept : fd_(fd), pid_(pid) {}
	int fd_ = -1;
	pid_t pid_ = 0;
};

/// The pid a pidfd refers to (the "Pid:" line of its fdinfo); 0 if the
/// process has been reaped, -1 if it is not a pidfd.
pid_t pidfd_to_pid(int pidfd) noexcept;

} // namespace ksmpart
