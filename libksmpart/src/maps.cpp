// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ksmpart/maps.hpp"

#include <charconv>

namespace ksmpart {
namespace {

/// Consume a hexadecimal number from the front of s.
template <typename T> bool take_hex(std::string_view &s, T &value)
{
	auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value, 16);
	if (ec != std::errc() || ptr == s.data())
		return false;
	s.remove_prefix(ptr - s.data());
	return true;
}

bool take_char(std::string_view &s, char c)
{
	if (s.empty() || s.front() != c)
		return false;
	s.remove_prefix(1);
	return true;
}

/// Consume the next space-separated field.
std::string_view take_field(std::string_view &s)
{
	s.remove_prefix(std::min(s.find_first_not_of(' '), s.size()));
	auto field = s.substr(0, s.find(' '));
	s.remove_prefix(field.size());
	return field;
}

} // namespace

std::optional<MapEntry> parse_maps_line(std::string_view line)
{
	MapEntry e;
	if (!take_hex(line, e.start) || !take_char(line, '-') || !take_hex(line, e.end) ||
	    e.end < e.start)
		return std::nullopt;

	auto perms = take_field(line);
	if (perms.size() != 4 || (perms[3] != 'p' && perms[3] != 's'))
		return std::nullopt;
	e.readable = perms[0] == 'r';
	e.writable = perms[1] == 'w';
	e.executable = perms[2] == 'x';
	e.shared = perms[3] == 's';

	auto offset = take_field(line);
	auto dev = take_field(line);
	auto inode = take_field(line);
	if (!take_hex(offset, e.offset) || !offset.empty() || dev.find(':') == dev.npos)
		return std::nullopt;
	auto [ptr, ec] = std::from_chars(inode.data(), inode.data() + inode.size(), e.inode);
	if (ec != std::errc() || ptr != inode.data() + inode.size() || inode.empty())
		return std::nullopt;

	// The path is the rest after the padding; it may itself contain spaces.
	line.remove_prefix(std::min(line.find_first_not_of(' '), line.size()));
	e.path = line;
	return e;
}

} // namespace ksmpart
