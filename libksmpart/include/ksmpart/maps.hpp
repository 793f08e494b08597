// SPDX-License-Identifier: LGPL-2.1-or-later
// Parsing /proc/<pid>/maps, the source of merge ranges.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ksmpart {

/// One line of /proc/<pid>/maps.
struct MapEntry {
	std::uintptr_t start = 0;
	std::uintptr_t end = 0;
	bool readable = false;
	bool writable = false;
	bool executable = false;
	bool shared = false; ///< 's' (MAP_SHARED) rather than 'p'
	std::uint64_t offset = 0;
	std::uint64_t inode = 0;
	std::string path; ///< file path, "[heap]", "[stack]", ... or empty

	/// Private memory not backed by a file: what KSM can merge. Includes
	/// regions named with PR_SET_VMA_ANON_NAME ("[anon:name]"), not
	/// [vdso]/[vvar]/[vsyscall] nor shared ones ("[anon_shmem:name]").
	bool is_private_anonymous() const noexcept
	{
		return !shared && inode == 0 &&
		       (path.empty() || path == "[heap]" || path == "[stack]" ||
		        path.starts_with("[anon:"));
	}
	/// No access at all (PROT_NONE): a guard region, skipped by the kernel.
	bool inaccessible() const noexcept { return !readable && !writable && !executable; }
};

/// Parse one maps line ("start-end perms offset dev inode [path]").
/// Returns std::nullopt if the line is malformed.
std::optional<MapEntry> parse_maps_line(std::string_view line);

} // namespace ksmpart
