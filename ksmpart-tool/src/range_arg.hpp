// SPDX-License-Identifier: GPL-2.0-or-later
// --range and --region: which part of a target's address space to act on.
#pragma once

#include <ksmpart/ranges.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ksmtool {

/// Parse "START-END" (both hexadecimal, as in /proc/PID/maps, optional 0x)
/// or "START+SIZE" (START hexadecimal; SIZE decimal with an optional K, M,
/// G, T suffix (powers of 1024) or 0x-prefixed hexadecimal). END must be
/// above START. On failure returns nullopt and sets `error` to the reason.
std::optional<ksmpart::Range> parse_range(std::string_view s, std::string &error);

/// A byte count: decimal with optional K/M/G/T suffix (KiB...), or 0x hex.
std::optional<std::uint64_t> parse_size(std::string_view s);

/// What to act on in a process with these mappings: every --range (as
/// given: the kernel skips what is not mergeable, and counts it), plus every
/// mapping named by a --region; with neither, all private anonymous memory.
/// Coalesced, since overlapping ranges would be processed and counted twice.
/// Regions absent from this process are added to `missing`.
std::vector<ksmpart::Range> select_ranges(std::span<const ksmpart::MapEntry> maps,
                                          const std::vector<ksmpart::Range> &ranges,
                                          const std::vector<std::string> &regions,
                                          std::vector<std::string> &missing);

} // namespace ksmtool
