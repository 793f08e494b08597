// SPDX-License-Identifier: LGPL-2.1-or-later
// Merge ranges from /proc/<pid>/maps.
//
// The target keeps running while its maps are read and merged, so ranges may
// be stale by the time the kernel sees them. That is harmless by design: the
// kernel skips holes and incompatible VMAs (counted pages_skipped), so these
// helpers never need to be exact, only never to name memory that was never
// the target's. A process that is gone gives ESRCH.
#pragma once

#include "ksmpart/maps.hpp"
#include "ksmpart/result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace ksmpart {

class Pidfd;

/// A half-open address range [start, end) of the target.
struct Range {
	std::uintptr_t start = 0;
	std::uintptr_t end = 0;

	static Range of(const void *p, std::size_t len) noexcept
	{
		auto s = reinterpret_cast<std::uintptr_t>(p);
		return {s, s + len};
	}
	std::size_t size() const noexcept { return end > start ? end - start : 0; }
	bool empty() const noexcept { return end <= start; }
	friend bool operator==(const Range &, const Range &) = default;
};

/// Parse a whole maps text. Malformed lines (a torn or future format) are
/// dropped and counted in *bad_lines; the entries come back sorted by start,
/// with entries overlapping an earlier one (a read that raced with mmap)
/// clipped so that no address appears twice.
std::vector<MapEntry> parse_maps(std::string_view text, std::size_t *bad_lines = nullptr);

/// Read /proc/<pid>/maps (pid 0: the caller). ESRCH if the process is gone
/// or has no address space; EACCES if /proc denies it (needs ptrace read
/// access).
Result<std::vector<MapEntry>> read_maps(pid_t pid);
/// As read_maps(pid), then checks that the pidfd's process is still alive,
/// so the maps cannot be those of a recycled pid.
Result<std::vector<MapEntry>> read_maps(const Pidfd &target);

/// Sort and merge overlapping or adjacent ranges; drop empty ones.
std::vector<Range> coalesce(std::vector<Range> ranges);

/// All private anonymous memory (MapEntry::is_private_anonymous(): no file,
/// not shared; includes [heap], [stack] and [anon:<name>] regions) that is
/// accessible (PROT_NONE guard regions are left out), coalesced.
std::vector<Range> anonymous_ranges(std::span<const MapEntry> maps);

/// The private mappings whose path equals `region` exactly: "[heap]",
/// "[stack]", "[anon:name]", or a file path (its copied-on-write pages are
/// anonymous and mergeable). Empty if there is none.
std::vector<Range> region_ranges(std::span<const MapEntry> maps, std::string_view region);

/// `r` intersected with the private anonymous memory in `maps`.
std::vector<Range> intersect_ranges(std::span<const MapEntry> maps, Range r);

/// What to merge in a target.
struct Selector {
	enum class Kind {
		anonymous,    ///< anonymous_ranges()
		region,       ///< region_ranges(region)
		address_range ///< intersect_ranges(range)
	};
	Kind kind = Kind::anonymous;
	std::string region;
	Range range;

	static Selector anonymous() { return {}; }
	static Selector named(std::string region) { return {Kind::region, std::move(region), {}}; }
	static Selector addresses(Range r) { return {Kind::address_range, {}, r}; }
};

/// Read the target's maps and select ranges. A region that does not exist
/// is errc::region_not_found; an empty selection otherwise is not an error.
Result<std::vector<Range>> select_ranges(const Pidfd &target, const Selector &what);

/// Pages touched by the ranges, each counted separately (as the kernel's
/// counters do): start rounded down, end rounded up to page_size.
std::uint64_t pages_touched(std::span<const Range> ranges, std::size_t page_size);

} // namespace ksmpart
