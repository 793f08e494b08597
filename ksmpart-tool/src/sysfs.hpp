// SPDX-License-Identifier: GPL-2.0-or-later
// /sys/kernel/mm/ksm/partitions/<id>/: every partition of the system.
#pragma once

#include <ksmpart/partition.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <sys/types.h>

namespace ksmtool {

/// One partition as sysfs describes it.
struct PartitionInfo {
	std::uint64_t id = 0;
	std::optional<std::string> name; ///< nullopt: anonymous
	uid_t owner_uid = 0;
	gid_t owner_gid = 0;
	unsigned mode = 0;
	std::uint64_t ipc_ns = 0;
	ksmpart::Stats stats; ///< from the per-field files; absent files stay 0
};

/// Read every partition below `dir`, sorted by id. Partitions that vanish
/// while being read are left out. On error, `ec` and `failed_path` say what
/// could not be read (ENOENT on `dir` itself: a kernel without statistics).
std::vector<PartitionInfo> read_partitions(const std::string &dir, std::error_code &ec,
                                           std::string &failed_path);

/// Calls f(name, value) for each statistics field, in struct order after
/// `id`, with the names of the sysfs files and the UAPI struct.
void for_each_stat(const ksmpart::Stats &s,
                   const std::function<void(const char *, std::int64_t)> &signed_field,
                   const std::function<void(const char *, std::uint64_t)> &unsigned_field);

} // namespace ksmtool
