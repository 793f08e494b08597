// SPDX-License-Identifier: LGPL-2.1-or-later
// Views of partitions from outside a partition fd: the administrator's
// /proc/ksm_partitions, the fdinfo of partition fds, membership from
// /proc/<pid>/ksm_stat, the system-wide sums and knobs in
// /sys/kernel/mm/ksm/partitions/. Files only; no system call.
#pragma once

#include "ksmpart/partition.hpp"
#include "ksmpart/result.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ksmpart {

/// One partition as /proc/ksm_partitions or a partition fd's fdinfo shows
/// it. Counters the source does not give stay 0.
struct PartitionInfo {
	std::uint64_t id = 0;
	std::optional<std::string> name; ///< nullopt: anonymous
	uid_t uid = 0;                   ///< owner
	gid_t gid = 0;
	unsigned mode = 0;  ///< permission bits (0600)
	unsigned flags = 0; ///< KSM_OPEN_ZERO_PAGES (0x8) if set
	Stats stats;        ///< id and zero_pages filled in too
};

/// Parse /proc/ksm_partitions: a header line, then one line per partition,
/// whitespace-separated: id uid gid mode(octal) flags(hex) members
/// pages_shared pages_sharing pages_unshared ksm_zero_pages rmap_items
/// general_profit [name]. Sorted by id. errc::bad_format names a bad line.
Result<std::vector<PartitionInfo>> parse_partition_table(std::string_view text);

/// Read and parse /proc/ksm_partitions (mode 0400: root in the initial
/// namespaces). ENOENT: a kernel without it; EACCES: not root.
Result<std::vector<PartitionInfo>>
read_partition_table(const std::string &path = "/proc/ksm_partitions");

/// Parse the fdinfo of a partition fd (ksm_id, ksm_name, ksm_owner,
/// ksm_mode, ksm_flags, ksm_members, ksm_pages_shared, ...). nullopt if it
/// has no ksm_id line (not a partition fd).
std::optional<PartitionInfo> parse_fdinfo(std::string_view text);

/// A partition fd held by a process.
struct PartitionFd {
	pid_t pid = 0;
	int fd = -1;
	PartitionInfo info;
};

/// Every partition fd of the processes below `proc` that the caller may
/// inspect (its own processes; root: all), by pid then fd. Processes that
/// exit meanwhile are left out.
std::vector<PartitionFd> partition_fds(const std::string &proc = "/proc");

/// The partitions the caller can see without privilege: those whose fds
/// its own processes hold, one entry per id (sorted by id), with the
/// counters of the fdinfo read last.
std::vector<PartitionInfo> visible_partitions(const std::string &proc = "/proc");

/// The id of the partition `pid` is a member of, 0 if none, from the
/// "ksm_partition" line of /proc/<pid>/ksm_stat. ESRCH if the process is
/// gone, EACCES if /proc denies it, ENOSYS if the line is absent (not a
/// ksmpart kernel).
Result<std::uint64_t> partition_of(pid_t pid, const std::string &proc = "/proc");

/// A member process of a partition.
struct Member {
	pid_t pid = 0;
	std::uint64_t partition = 0;
	std::string comm;               ///< /proc/<pid>/comm
	std::string cgroup;             ///< cgroup v2 path as /proc/<pid>/cgroup shows it
	std::int64_t merging_pages = 0; ///< ksm_merging_pages of ksm_stat
	std::int64_t zero_pages = 0;    ///< ksm_zero_pages of ksm_stat
	std::int64_t profit = 0;        ///< ksm_process_profit of ksm_stat (bytes)
};

/// The KSM state of one process (partition 0: a member of none). Errors as
/// partition_of().
Result<Member> process_ksm(pid_t pid, const std::string &proc = "/proc");

/// Every process below `proc` whose ksm_stat names a partition (`id` != 0:
/// only that one), as far as the caller may read them, sorted by pid. Threads
/// share their process's membership and are not listed.
std::vector<Member> members(std::uint64_t id = 0, const std::string &proc = "/proc");

/// Id, owner and mode of the named partition in the caller's IPC namespace
/// as far as the caller can learn them without privilege: through an fd
/// opened without KSM_OPEN_CREATE (its fdinfo; closed again), else from
/// /proc/ksm_partitions (root) if exactly one partition has that name
/// (that file does not say which IPC namespace a name is in). nullopt if
/// neither works.
std::optional<PartitionInfo> find_named(std::string_view name,
                                        const std::string &table = "/proc/ksm_partitions");

/// System-wide sums over all partitions, /sys/kernel/mm/ksm/partitions/
/// (root-only files).
struct Totals {
	std::uint64_t nr_partitions = 0;
	std::uint64_t pages_shared = 0;
	std::uint64_t pages_sharing = 0;
	std::uint64_t pages_unshared = 0;
	std::uint64_t ksm_zero_pages = 0;
	std::uint64_t rmap_items = 0;
	std::int64_t general_profit = 0;
};
Result<Totals> read_totals(const std::string &dir = "/sys/kernel/mm/ksm/partitions");

/// /sys/kernel/mm/ksm/partitions/enabled: false when the administrator has
/// disabled creating partitions and merging; nullopt if unreadable/absent.
std::optional<bool> partitions_enabled(const std::string &ksm_dir = "/sys/kernel/mm/ksm");

} // namespace ksmpart
