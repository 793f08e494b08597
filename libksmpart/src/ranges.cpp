// SPDX-License-Identifier: LGPL-2.1-or-later
// Merge ranges from /proc/<pid>/maps.
#include "ksmpart/ranges.hpp"

#include "backend.hpp"
#include "internal.hpp"
#include "ksmpart/pidfd.hpp"
#include "ksmpart/syscall.hpp"

#include <algorithm>
#include <cerrno>
#include <unistd.h>

namespace ksmpart {

std::vector<MapEntry> parse_maps(std::string_view text, std::size_t *bad_lines)
{
	std::vector<MapEntry> entries;
	std::size_t bad = 0;
	while (!text.empty()) {
		auto nl = text.find('\n');
		auto line = text.substr(0, nl);
		text.remove_prefix(nl == text.npos ? text.size() : nl + 1);
		if (line.empty())
			continue;
		if (auto e = parse_maps_line(line); e && e->end > e->start)
			entries.push_back(std::move(*e));
		else
			bad++;
	}
	if (bad_lines)
		*bad_lines = bad;

	// One read() of maps is consistent, but a large file takes several and
	// the address space may change in between: sort, and keep each address
	// once (the earlier line wins) so that no range is processed twice.
	std::stable_sort(entries.begin(), entries.end(),
	                 [](const MapEntry &a, const MapEntry &b) { return a.start < b.start; });
	std::vector<MapEntry> out;
	out.reserve(entries.size());
	std::uintptr_t covered = 0;
	for (auto &e : entries) {
		if (e.end <= covered)
			continue;
		if (e.start < covered)
			e.start = covered;
		covered = e.end;
		out.push_back(std::move(e));
	}
	return out;
}

Result<std::vector<MapEntry>> read_maps(pid_t pid)
{
	std::string path =
	    pid > 0 ? "/proc/" + std::to_string(pid) + "/maps" : std::string("/proc/self/maps");
	std::string text;
	int r = detail::read_proc_file(path, text);
	// No /proc entry: the process is gone.
	if (r == -ENOENT)
		r = -ESRCH;
	if (r < 0)
		return describe_error(Op::read_maps, -r, detail::pid_context(pid));
	// A zombie or a process past exit_mm() has an empty maps file.
	if (text.empty())
		return describe_error(Op::read_maps, ESRCH, detail::pid_context(pid));
	std::size_t bad = 0;
	auto maps = parse_maps(text, &bad);
	if (maps.empty())
		return make_error(errc::bad_maps, "read " + path + ": no parsable line (" +
		                                      std::to_string(bad) + " malformed)");
	return maps;
}

Result<std::vector<MapEntry>> read_maps(const Pidfd &target)
{
	if (target.is_self())
		return read_maps(0);
	if (target.pid() <= 0)
		return describe_error(Op::read_maps, ESRCH, detail::pid_context(target.pid()));
	auto maps = read_maps(target.pid());
	// The pid might have been recycled before the read; if the pidfd's
	// process is still alive after it, the maps were its own.
	if (maps && target.fd() >= 0 && sys::backend().pidfd_alive(target.fd()) < 0 &&
	    errno == ESRCH)
		return describe_error(Op::read_maps, ESRCH, detail::pid_context(target.pid()));
	return maps;
}

std::vector<Range> coalesce(std::vector<Range> ranges)
{
	std::erase_if(ranges, [](const Range &r) { return r.empty(); });
	std::sort(ranges.begin(), ranges.end(),
	          [](const Range &a, const Range &b) { return a.start < b.start; });
	std::vector<Range> out;
	for (const auto &r : ranges) {
		if (!out.empty() && r.start <= out.back().end)
			out.back().end = std::max(out.back().end, r.end);
		else
			out.push_back(r);
	}
	return out;
}

namespace {
bool mergeable(const MapEntry &e)
{
	return e.is_private_anonymous() && !e.inaccessible();
}
} // namespace

std::vector<Range> anonymous_ranges(std::span<const MapEntry> maps)
{
	std::vector<Range> out;
	for (const auto &e : maps)
		if (mergeable(e))
			out.push_back({e.start, e.end});
	return coalesce(std::move(out));
}

std::vector<Range> region_ranges(std::span<const MapEntry> maps, std::string_view region)
{
	std::vector<Range> out;
	for (const auto &e : maps)
		if (!e.shared && e.path == region)
			out.push_back({e.start, e.end});
	return coalesce(std::move(out));
}

std::vector<Range> intersect_ranges(std::span<const MapEntry> maps, Range r)
{
	std::vector<Range> out;
	for (const auto &e : maps) {
		if (!mergeable(e))
			continue;
		Range i{std::max(e.start, r.start), std::min(e.end, r.end)};
		if (!i.empty())
			out.push_back(i);
	}
	return coalesce(std::move(out));
}

Result<std::vector<Range>> select_ranges(const Pidfd &target, const Selector &what)
{
	if (what.kind == Selector::Kind::address_range && what.range.end < what.range.start)
		return make_error(errc::invalid_range, "address range ends before it starts");
	auto maps = read_maps(target);
	if (!maps)
		return maps.error();
	switch (what.kind) {
	case Selector::Kind::anonymous:
		return anonymous_ranges(*maps);
	case Selector::Kind::region: {
		auto r = region_ranges(*maps, what.region);
		if (r.empty()) {
			std::string who = target.is_self() ? std::string("the calling process")
			                                   : "pid " + std::to_string(target.pid());
			return make_error(errc::region_not_found,
			                  "no private mapping '" + what.region + "' in " + who);
		}
		return r;
	}
	case Selector::Kind::address_range:
		return intersect_ranges(*maps, what.range);
	}
	return std::vector<Range>{};
}

std::uint64_t pages_touched(std::span<const Range> ranges, std::size_t page_size)
{
	std::uint64_t n = 0;
	for (const auto &r : ranges) {
		if (r.empty())
			continue;
		std::uintptr_t first = r.start / page_size;
		std::uintptr_t last = (r.end - 1) / page_size;
		n += last - first + 1;
	}
	return n;
}

} // namespace ksmpart
