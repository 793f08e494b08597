// SPDX-License-Identifier: LGPL-2.1-or-later
// The thin system call layer: the four ksmpart calls and pidfd_open, each
// returning what the kernel returns (-1 and errno on failure). They enter
// the kernel only once it is proven to be a ksmpart kernel (see probe());
// otherwise they fail with ENOSYS without making any system call.
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

// Direct calls, for callers that want the raw ABI (struct layouts from
// <linux/ksmpart.h>, installed with the library).
int ksm_open(const char *name, unsigned flags, unsigned mode) noexcept;
ssize_t ksm_merge(int fd, int pidfd, const struct iovec *vec, std::size_t vlen,
                  struct ksm_merge_result *res, unsigned flags) noexcept;
ssize_t ksm_unmerge(int fd, int pidfd, const struct iovec *vec, std::size_t vlen,
                    unsigned flags) noexcept;
int ksm_leave(int fd, int pidfd, unsigned flags) noexcept;
int pidfd_open(pid_t pid, unsigned flags) noexcept;

} // namespace sys

/// Feature probe, without any system call of ksmpart's: the kernel is a
/// ksmpart kernel if /sys/kernel/mm/ksm/partitions/ exists or
/// /proc/self/ksm_stat has a "ksm_partition " line (only ksmpart kernels
/// print it). The syscall numbers are provisional and belong to other calls
/// on other kernels, so nothing else is trusted. Otherwise ENOSYS, "this
/// kernel has no ksmpart support (needs a kernel with CONFIG_KSM_PARTITION)".
/// The answer is cached for the process.
Result<void> probe();

} // namespace ksmpart
