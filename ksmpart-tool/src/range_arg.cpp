// SPDX-License-Identifier: GPL-2.0-or-later
#include "range_arg.hpp"
#include "util.hpp"

namespace ksmtool {

namespace {

std::optional<std::uint64_t> parse_hex(std::string_view s)
{
	if (s.starts_with("0x") || s.starts_with("0X"))
		s.remove_prefix(2);
	if (s.empty() || s.find_first_of(" \t+-") != std::string_view::npos)
		return std::nullopt;
	return parse_u64(s, 16);
}

} // namespace

std::optional<std::uint64_t> parse_size(std::string_view s)
{
	if (s.starts_with("0x") || s.starts_with("0X"))
		return parse_hex(s);
	std::uint64_t mult = 1;
	if (!s.empty()) {
		switch (s.back()) {
		case 'T':
		case 't':
			mult <<= 10;
			[[fallthrough]];
		case 'G':
		case 'g':
			mult <<= 10;
			[[fallthrough]];
		case 'M':
		case 'm':
			mult <<= 10;
			[[fallthrough]];
		case 'K':
		case 'k':
			mult <<= 10;
			s.remove_suffix(1);
			break;
		default:
			break;
		}
	}
	if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos)
		return std::nullopt;
	auto v = parse_u64(s);
	if (!v || *v > UINT64_MAX / mult)
		return std::nullopt;
	return *v * mult;
}

std::optional<ksmpart::Range> parse_range(std::string_view s, std::string &error)
{
	auto sep = s.find_first_of("-+");
	if (sep == std::string_view::npos) {
		error = "expected START-END or START+SIZE";
		return std::nullopt;
	}
	auto start = parse_hex(s.substr(0, sep));
	if (!start) {
		error = "bad start address '" + std::string(s.substr(0, sep)) +
		        "' (hexadecimal expected)";
		return std::nullopt;
	}
	std::string_view rest = s.substr(sep + 1);
	std::uint64_t end;
	if (s[sep] == '-') {
		auto e = parse_hex(rest);
		if (!e) {
			error =
			    "bad end address '" + std::string(rest) + "' (hexadecimal expected)";
			return std::nullopt;
		}
		end = *e;
	} else {
		auto size = parse_size(rest);
		if (!size) {
			error = "bad size '" + std::string(rest) + "'";
			return std::nullopt;
		}
		if (*size > UINT64_MAX - *start) {
			error = "range wraps around the address space";
			return std::nullopt;
		}
		end = *start + *size;
	}
	if (end <= *start) {
		error = "empty range (END must be above START)";
		return std::nullopt;
	}
	return ksmpart::Range{static_cast<std::uintptr_t>(*start),
	                      static_cast<std::uintptr_t>(end)};
}

std::vector<ksmpart::Range> select_ranges(std::span<const ksmpart::MapEntry> maps,
                                          const std::vector<ksmpart::Range> &ranges,
                                          const std::vector<std::string> &regions,
                                          std::vector<std::string> &missing)
{
	if (ranges.empty() && regions.empty())
		return ksmpart::anonymous_ranges(maps);
	std::vector<ksmpart::Range> out = ranges;
	for (const auto &name : regions) {
		auto r = ksmpart::region_ranges(maps, name);
		if (r.empty())
			missing.push_back(name);
		out.insert(out.end(), r.begin(), r.end());
	}
	return ksmpart::coalesce(std::move(out));
}

} // namespace ksmtool
