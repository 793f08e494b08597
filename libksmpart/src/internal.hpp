// SPDX-License-Identifier: LGPL-2.1-or-later
// Library-internal helpers shared by the sources (not installed).
#pragma once

#include "ksmpart/error.hpp"

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace ksmpart::detail {

/// Whether the caller has `cap` in its effective set; nullopt if unknown.
std::optional<bool> has_capability(int cap) noexcept;

/// Contents of a small file, or nullopt if it cannot be read.
std::optional<std::string> read_file(const std::string &path);

/// Read a whole /proc file (any size) into a string; -errno on failure.
int read_proc_file(const std::string &path, std::string &out);

/// An Error for errno `e` in the library's own checks (bad arguments).
Error invalid_argument(std::string message);

/// A context naming only the target pid.
inline ErrorContext pid_context(pid_t pid) noexcept
{
	ErrorContext c;
	c.pid = pid;
	return c;
}

/// /sys/kernel/mm/ksm (tests point it elsewhere: sys::set_probe_paths).
std::string ksm_sysfs_dir();

}

namespace ksmpart {
struct MapEntry;
/// Tests: the VMAs of pid (0: self) through PROCMAP_QUERY alone; `err` is
/// 0 or -errno (-ENOTTY: the kernel lacks it).
std::vector<MapEntry> query_maps_for_tests(pid_t pid, int &err);
}

namespace ksmpart::detail {

/// Close an fd preserving errno.
void close_fd(int fd) noexcept;

} // namespace ksmpart::detail
