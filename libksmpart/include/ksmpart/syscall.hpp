// SPDX-License-Identifier: LGPL-2.1-or-later
// The thin system call layer: the four ksmpart calls, pidfd_open and the
// stats ioctl, each returning what the kernel returns (-1 and errno on
// failure). Everything in the library goes through the current Backend, so
// tests can replace the kernel by a fake (see ScopedBackend).
//
// The UAPI structures are only declared here; include <linux/ksmpart.h> (from
// the kernel headers or this project's uapi/) to fill them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/types.h>
#include <sys/uio.h>

#include "ksmpart/result.hpp"

struct ksm_merge_result;
struct ksm_partition_stats;

namespace ksmpart {

/// KSM_PIDFD_SELF: the pidfd value naming the calling process.
inline constexpr int pidfd_self = -10000;
/// UIO_MAXIOV: most iovecs the kernel accepts per call.
inline constexpr std::size_t max_iovecs = 1024;
/// MAX_RW_COUNT for 4 KiB pages (INT_MAX & PAGE_MASK): most bytes per call.
inline constexpr std::size_t max_bytes_per_call = 0x7ffff000;
/// KSM_NAME_MAX: longest partition name.
inline constexpr std::size_t name_max = 255;

/// ksm_open() flags (KSM_OPEN_*).
inline constexpr unsigned open_create = 0x01;
inline constexpr unsigned open_excl = 0x02;
inline constexpr unsigned open_cloexec = 0x04;
inline constexpr unsigned open_zero_pages = 0x08;

/// KSM_MERGE_RESULT_JOINED.
inline constexpr unsigned merge_result_joined = 0x01;

namespace sys {

/// The kernel interface as the library uses it. Every member behaves like the
/// system call: returns -1 and sets errno on failure.
class Backend {
public:
	virtual ~Backend() = default;
	virtual int ksm_open(const char *name, unsigned flags, unsigned mode) = 0;
	virtual ssize_t ksm_merge(int fd, int pidfd, const struct iovec *vec, std::size_t vlen,
	                          struct ksm_merge_result *res, unsigned flags) = 0;
	virtual ssize_t ksm_unmerge(int fd, int pidfd, const struct iovec *vec, std::size_t vlen,
	                            unsigned flags) = 0;
	virtual int ksm_leave(int fd, int pidfd, unsigned flags) = 0;
	/// ioctl(fd, KSM_IOC_GET_STATS with _IOC_SIZE = size, st).
	virtual int get_stats(int fd, struct ksm_partition_stats *st, std::size_t size) = 0;
	virtual int pidfd_open(pid_t pid, unsigned flags) = 0;
	/// pidfd_send_signal(pidfd, 0): is the process still alive?
	virtual int pidfd_alive(int pidfd) = 0;
};

/// The real kernel. The numbers 463-466 are provisional and belong to other
/// calls (the *xattrat family) since Linux 6.13, so the first call checks,
/// once, that they are ksmpart's (its sysfs directory, or the anon inode of a
/// partition fd); if not, every ksm_* call fails with ENOSYS without
/// entering the kernel.
Backend &kernel() noexcept;
/// The backend in use (the kernel unless a ScopedBackend is active).
Backend &backend() noexcept;

/// Replaces the backend for the whole process while it lives (tests only;
/// not thread-safe against concurrent library calls).
class ScopedBackend {
public:
	explicit ScopedBackend(Backend &b) noexcept;
	~ScopedBackend();
	ScopedBackend(const ScopedBackend &) = delete;
	ScopedBackend &operator=(const ScopedBackend &) = delete;

private:
	Backend *previous_;
};

// Direct calls through backend(), for callers that want the raw ABI.
int ksm_open(const char *name, unsigned flags, unsigned mode) noexcept;
ssize_t ksm_merge(int fd, int pidfd, const struct iovec *vec, std::size_t vlen,
                  struct ksm_merge_result *res, unsigned flags) noexcept;
ssize_t ksm_unmerge(int fd, int pidfd, const struct iovec *vec, std::size_t vlen,
                    unsigned flags) noexcept;
int ksm_leave(int fd, int pidfd, unsigned flags) noexcept;
int pidfd_open(pid_t pid, unsigned flags) noexcept;

} // namespace sys

/// Feature probe: ksm_open(NULL, ~0U, 0) gives EINVAL when the calls exist,
/// ENOSYS when the kernel lacks them. On ENOSYS the Error says "this kernel
/// has no ksmpart system calls (needs a kernel with CONFIG_KSM_PARTITION)".
Result<void> probe();

} // namespace ksmpart
