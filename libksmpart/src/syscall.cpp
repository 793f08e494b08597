// SPDX-License-Identifier: LGPL-2.1-or-later
// The system call layer: raw calls behind the ksmpart-kernel check, no policy.
#include "ksmpart/syscall.hpp"

#include "backend.hpp"
#include "internal.hpp"

#include <atomic>
#include <cerrno>
#include <linux/ksmpart.h>
#include <mutex>
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

std::mutex probe_lock;
std::string ksm_dir = "/sys/kernel/mm/ksm";
std::string ksm_stat_marker = "/proc/self/ksm_stat";
// -1: not probed yet, 0: not ksmpart, 1: ksmpart.
std::atomic<int> probed{-1};

/// A positive marker of a ksmpart kernel; no system call of ours is made.
/// Linux 6.13 gave 463-466 to the *xattrat calls and later kernels may give
/// any number to anything, so "the call did not fail with ENOSYS" proves
/// nothing, and calling a stranger's syscall with our arguments is never
/// acceptable.
bool find_marker()
{
	struct stat st;
	if (stat((ksm_dir + "/partitions").c_str(), &st) == 0 && S_ISDIR(st.st_mode))
		return true;
	std::string text;
	if (detail::read_proc_file(ksm_stat_marker, text) < 0)
		return false;
	std::string_view rest(text);
	while (!rest.empty()) {
		auto nl = rest.find('\n');
		auto line = rest.substr(0, nl);
		if (line.starts_with("ksm_partition "))
			return true;
		rest.remove_prefix(nl == rest.npos ? rest.size() : nl + 1);
	}
	return false;
}

bool numbers_are_ksmpart() noexcept
{
	int v = probed.load(std::memory_order_acquire);
	if (v >= 0)
		return v;
	int saved = errno;
	bool yes = false;
	try {
		std::lock_guard g(probe_lock);
		yes = find_marker();
	} catch (...) {
		yes = false;
	}
	errno = saved;
	probed.store(yes, std::memory_order_release);
	return yes;
}

long no_ksmpart() noexcept
{
	errno = ENOSYS;
	return -1;
}

class Kernel final : public Backend {
public:
	bool supported() override { return numbers_are_ksmpart(); }
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

void set_probe_paths(std::string sysfs_ksm_dir, std::string ksm_stat)
{
	std::lock_guard g(probe_lock);
	ksm_dir = std::move(sysfs_ksm_dir);
	ksm_stat_marker = std::move(ksm_stat);
	probed.store(-1);
}

void reset_probe() noexcept
{
	probed.store(-1);
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

namespace detail {
std::string ksm_sysfs_dir()
{
	std::lock_guard g(sys::probe_lock);
	return sys::ksm_dir;
}
} // namespace detail

Result<void> probe()
{
	if (sys::backend().supported())
		return {};
	return describe_error(Op::open, ENOSYS);
}

} // namespace ksmpart
