// SPDX-License-Identifier: GPL-2.0-or-later
// Processes of a cgroup v2 directory and all its descendants.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <sys/types.h>

namespace ksmtool {

/// Where cgroup2 is normally mounted.
inline constexpr const char *cgroup2_root = "/sys/fs/cgroup";

/// The mount point of the cgroup2 hierarchy from a mountinfo file
/// (/proc/self/mountinfo); cgroup2_root if none is listed.
std::string cgroup2_mount(const std::string &mountinfo = "/proc/self/mountinfo");

/// The directory meant by a --cgroup argument, as /proc/PID/cgroup and
/// systemd print cgroups: "/system.slice/x.service" (or "0::/..." pasted
/// whole) is below the cgroup2 mount `root`; so is a relative path; a path
/// already below `root` is taken as it is. Never relative to the cwd.
std::filesystem::path resolve_cgroup(const std::string &arg,
                                     const std::filesystem::path &root = cgroup2_root);

/// The cgroups of a systemd unit or slice: the directories named `unit`
/// (".service" appended if it has no unit suffix) anywhere below `root`,
/// as systemd places them (user units under user@UID.service too). ENOENT
/// if none; every match is returned (several for a user unit of several
/// users: the caller decides).
std::vector<std::filesystem::path>
unit_cgroups(const std::string &unit, const std::filesystem::path &root, std::error_code &ec);

/// The cgroup v2 path of `pid` relative to the cgroup2 mount ("/a/b"), from
/// /proc/PID/cgroup's "0::" line; empty if unknown.
std::string cgroup_of(pid_t pid, const std::string &proc = "/proc");

/// Every pid in `dir`/cgroup.procs and in the cgroup.procs of every cgroup
/// below it, sorted, without duplicates. Child cgroups removed during the
/// walk are ignored (their processes are gone too). Errors: ENOENT (no such
/// directory), ENOTDIR (not a directory), EMEDIUMTYPE (a directory without
/// cgroup.procs: not a cgroup v2 directory), EACCES, or other read errors.
std::vector<pid_t> cgroup_pids(const std::filesystem::path &dir, std::error_code &ec);

/// The pids listed in the text of one cgroup.procs file; false if malformed.
bool parse_cgroup_procs(const std::string &text, std::vector<pid_t> &pids);

} // namespace ksmtool
