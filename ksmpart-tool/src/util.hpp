// SPDX-License-Identifier: GPL-2.0-or-later
// Small file and number helpers with errno-exact errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace ksmtool {

/// Whole content of a (small, e.g. /proc or sysfs) file; errno on failure.
bool read_file(const std::string &path, std::string &out, std::error_code &ec);

/// `s` without leading and trailing whitespace.
std::string_view trim(std::string_view s);

/// A decimal unsigned number, whole string (after trim); nullopt otherwise.
std::optional<std::uint64_t> parse_u64(std::string_view s, int base = 10);

/// A decimal signed number, whole string (after trim).
std::optional<std::int64_t> parse_s64(std::string_view s);

} // namespace ksmtool
