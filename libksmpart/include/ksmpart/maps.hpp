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

	/// Private memory not backed by a file: what KSM can merge.
	bool is_private_anonymous() const noexcept
	{
		return !shared && inode == 0 &&
		       (path.empty() || path == "[heap]" || path == "[stack]");
	}
};

/// Parse one maps line ("start-end perms offset dev inode [path]").
/// Returns std::nullopt if the line is malformed.
std::optional<MapEntry> parse_maps_line(std::string_view line);

} // namespace ksmpart
