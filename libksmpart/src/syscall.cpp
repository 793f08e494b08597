// SPDX-License-Identifier: LGPL-2.1-or-later
// The system call layer: raw calls, no policy.
#include "ksmpart/syscall.hpp"

#include <atomic>
#include <cerrno>
#include <linux/ksmpart.h>
#include <signal.h>
#include <string>
#include <string_view>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

namespace ksmpart {

// The public header repeats these so that it needs no kernel header.
static_assert(pidfd_self == KSM_PIDFD_SELF);
static_assert(name_max == KSM_NAME_MAX);
static_assert(open_create == KSM_OPEN_CREATE && open_excl == KSM_OPEN_EXCL &&
              open_cloexec == KSM_OPEN_CLOEXEC && open_zero_pages == KSM_OPEN_ZERO_PAGES);
static_assert(merge_result_joined == KSM_MERGE_RESULT_JOINED);

namespace sys {
namespace {

/// Whether the numbers 463-466 are ksmpart's. They are provisional: since
/// Linux 6.13 they are setxattrat/getxattrat/listxattrat/removexattrat, which
/// must never be called with our arguments, and which would answer a plain
/// ENOSYS probe with EINVAL/EFAULT. So identify ksmpart positively, once: by
/// its sysfs directory, or by an anonymous partition fd's anon inode name.
bool numbers_are_ksmpart() noexcept
{
	static const bool yes = [] {
		struct stat st;
		if (stat("/sys/kernel/mm/ksm/partitions", &st) == 0 && S_ISDIR(st.st_mode))
			return true;
		int saved = errno;
		long fd = ::syscall(__NR_ksm_open, nullptr, KSM_OPEN_CLOEXEC, 0);
		bool ok;
		if (fd >= 0) {
			char buf[64];
			std::string link = "/proc/self/fd/" + std::to_string(fd);
			ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
			ok = n > 0 && std::string_view(buf, n) == "anon_inode:[ksm_partition]";
			::close(static_cast<int>(fd));
		} else {
			// Resource shortage says nothing about the call; let the real
			// call report it. Anything else (ENOSYS, or EFAULT/EINVAL that
			// an anonymous ksm_open cannot give) means not ksmpart.
			ok = errno == EMFILE || errno == ENFILE || errno == ENOMEM;
		}
		errno = saved;
		return ok;
	}();
	return yes;
}

long no_ksmpart() noexcept
{
	errno = ENOSYS;
	return -1;
}

class Kernel final : public Backend {
public:
	int ksm_open(const char *name, unsigned flags, unsigned mode) override
	{
		if (!numbers_are_ksmpart())
			return static_cast<int>(no_ksmpart());
		return static_cast<int>(::syscall(__NR_ksm_open, name, flags, mode));
	}
	ssize_t ksm_merge(int fd, int pidfd, const struct iovec *vec, std::size_t vlen,
	                  struct ksm_merge_result *res, unsigned flags) override
	{
		if (!numbers_are_ksmpart())
			return no_ksmpart();
		return ::syscall(__NR_ksm_merge, fd, pidfd, vec, vlen, res, flags);
	}
	ssize_t ksm_unmerge(int fd, int pidfd, const struct iovec *vec, std::size_t vlen,
	                    unsigned flags) override
	{
		if (!numbers_are_ksmpart())
			return no_ksmpart();
		return ::syscall(__NR_ksm_unmerge, fd, pidfd, vec, vlen, flags);
	}
	int ksm_leave(int fd, int pidfd, unsigned flags) override
	{
		if (!numbers_are_ksmpart())
			return static_cast<int>(no_ksmpart());
		return static_cast<int>(::syscall(__NR_ksm_leave, fd, pidfd, flags));
	}
	int get_stats(int fd, struct ksm_partition_stats *st, std::size_t size) override
	{
		// The kernel learns our struct size from the command (section 8).
		unsigned long cmd = _IOC(_IOC_READ, KSM_IOC_MAGIC, 0x01, size);
		return ::ioctl(fd, cmd, st);
	}
	int pidfd_open(pid_t pid, unsigned flags) override
	{
		return static_cast<int>(::syscall(SYS_pidfd_open, pid, flags));
	}
	int pidfd_alive(int pidfd) override
	{
		return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0));
	}
};

Kernel the_kernel;
std::atomic<Backend *> current{&the_kernel};

} // namespace

Backend &kernel() noexcept
{
	return the_kernel;
}

Backend &backend() noexcept
{
	return *current.load(std::memory_order_acquire);
}

ScopedBackend::ScopedBackend(Backend &b) noexcept : previous_(current.exchange(&b)) {}

ScopedBackend::~ScopedBackend()
{
	current.store(previous_);
}

int ksm_open(const char *name, unsigned flags, unsigned mode) noexcept
{
	return backend().ksm_open(name, flags, mode);
}

ssize_t ksm_merge(int fd, int pidfd, const struct iovec *vec, std::size_t vlen,
                  struct ksm_merge_result *res, unsigned flags) noexcept
{
	return backend().ksm_merge(fd, pidfd, vec, vlen, res, flags);
}

ssize_t ksm_unmerge(int fd, int pidfd, const struct iovec *vec, std::size_t vlen,
                    unsigned flags) noexcept
{
	return backend().ksm_unmerge(fd, pidfd, vec, vlen, flags);
}

int ksm_leave(int fd, int pidfd, unsigned flags) noexcept
{
	return backend().ksm_leave(fd, pidfd, flags);
}

int pidfd_open(pid_t pid, unsigned flags) noexcept
{
	return backend().pidfd_open(pid, flags);
}

} // namespace sys

Result<void> probe()
{
	int fd = sys::backend().ksm_open(nullptr, ~0U, 0);
	if (fd >= 0) {
		// Cannot happen with an ABI that rejects unknown flags; be tidy.
		::close(fd);
		return {};
	}
	if (errno == EINVAL)
		return {};
	return describe_error(Op::open, errno);
}

} // namespace ksmpart
