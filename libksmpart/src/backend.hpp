// SPDX-License-Identifier: LGPL-2.1-or-later
// The kernel interface as the library uses it (not installed). Everything
// in the library goes through the current Backend, so that host tests can
// replace the kernel by a fake (ScopedBackend) and point the feature probe
// at files of their own (set_probe_paths).
#pragma once

#include <cstddef>
#include <string>
#include <sys/types.h>
#include <sys/uio.h>

struct ksm_merge_result;
struct ksm_partition_stats;

namespace ksmpart::sys {

/// Every member but supported() behaves like the system call: returns -1
/// and sets errno on failure.
class Backend {
public:
	virtual ~Backend() = default;
	/// Whether the running kernel is a ksmpart kernel (see kernel()).
	virtual bool supported() = 0;
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

/// The real kernel. Its ksm_* members issue a system call only after the
/// kernel has been proven, once per process, to be a ksmpart kernel by a
/// positive marker: the directory /sys/kernel/mm/ksm/partitions, or a
/// "ksm_partition " line in /proc/self/ksm_stat (only ksmpart kernels print
/// it). Otherwise they fail with ENOSYS without entering the kernel: the
/// provisional numbers belong to other calls on other kernels.
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

/// Tests: where the kernel backend looks for its markers and knobs
/// (/sys/kernel/mm/ksm and /proc/self/ksm_stat), and forgetting the cached
/// answer (the next ksm_* call probes again).
void set_probe_paths(std::string sysfs_ksm_dir, std::string ksm_stat);
void reset_probe() noexcept;

} // namespace ksmpart::sys
