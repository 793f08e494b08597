// SPDX-License-Identifier: GPL-2.0-or-later
// Processes of a cgroup v2 directory and all its descendants.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <sys/types.h>

namespace ksmtool {

/// Where cgroup2 is normally mounted; relative --cgroup paths may be under it.
inline constexpr const char *cgroup2_root = "/sys/fs/cgroup";

/// The directory meant by a --cgroup argument: the path itself if it
/// exists, else a relative path is taken below `root` (as in
/// /proc/PID/cgroup, "system.slice/x.service").
std::filesystem::path resolve_cgroup(const std::string &arg,
                                     const std::filesystem::path &root = cgroup2_root);

/// Every pid in `dir`/cgroup.procs and in the cgroup.procs of every cgroup
/// below it, sorted, without duplicates. Child cgroups removed during the
/// walk are ignored (their processes are gone too). Errors: ENOENT (no such
/// directory), ENOTDIR (not a directory), EMEDIUMTYPE (a directory without
/// cgroup.procs: not a cgroup v2 directory), EACCES, or other read errors.
std::vector<pid_t> cgroup_pids(const std::filesystem::path &dir, std::error_code &ec);

/// The pids listed in the text of one cgroup.procs file; false if malformed.
bool parse_cgroup_procs(const std::string &text, std::vector<pid_t> &pids);

} // namespace ksmtool
