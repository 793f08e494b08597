// SPDX-License-Identifier: LGPL-2.1-or-later
// Merge ranges from /proc/<pid>/maps.
#include "ksmpart/ranges.hpp"

#include "backend.hpp"
#include "internal.hpp"
#include "ksmpart/pidfd.hpp"
#include "ksmpart/syscall.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/ioctl.h>
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

namespace {

// PROCMAP_QUERY (Linux 6.11, so in 6.12): one VMA per ioctl on an open
// /proc/PID/maps, binary, without the torn reads of the text. Declared here
// as the UAPI defines it (<linux/fs.h>), for older build hosts.
struct procmap_query {
	std::uint64_t size;
	std::uint64_t query_flags;
	std::uint64_t query_addr;
	std::uint64_t vma_start;
	std::uint64_t vma_end;
	std::uint64_t vma_flags;
	std::uint64_t vma_page_size;
	std::uint64_t vma_offset;
	std::uint64_t inode;
	std::uint32_t dev_major;
	std::uint32_t dev_minor;
	std::uint32_t vma_name_size;
	std::uint32_t build_id_size;
	std::uint64_t vma_name_addr;
	std::uint64_t build_id_addr;
};
constexpr unsigned long procmap_query_ioctl = _IOWR('f', 17, struct procmap_query);
constexpr std::uint64_t q_readable = 0x01, q_writable = 0x02, q_executable = 0x04, q_shared = 0x08,
                        q_covering_or_next = 0x10;

/// Every VMA through PROCMAP_QUERY; -ENOTTY if the kernel lacks it.
int query_maps(int fd, std::vector<MapEntry> &out)
{
	std::uint64_t addr = 0;
	std::vector<char> name(4096);
	for (;;) {
		procmap_query q{};
		q.size = sizeof(q);
		q.query_flags = q_covering_or_next;
		q.query_addr = addr;
		q.vma_name_size = static_cast<std::uint32_t>(name.size());
		q.vma_name_addr = reinterpret_cast<std::uintptr_t>(name.data());
		if (::ioctl(fd, procmap_query_ioctl, &q) < 0) {
			if (errno == ENOENT) // no VMA at or after addr: done
				return 0;
			if (errno == ENAMETOOLONG && name.size() < (1u << 20)) {
				name.resize(name.size() * 4);
				continue;
			}
			return -errno;
		}
		MapEntry e;
		e.start = q.vma_start;
		e.end = q.vma_end;
		e.readable = q.vma_flags & q_readable;
		e.writable = q.vma_flags & q_writable;
		e.executable = q.vma_flags & q_executable;
		e.shared = q.vma_flags & q_shared;
		e.offset = q.vma_offset;
		e.inode = q.inode;
		if (q.vma_name_size > 0)
			e.path.assign(name.data(), strnlen(name.data(), q.vma_name_size));
		out.push_back(std::move(e));
		if (q.vma_end <= addr)
			return -EIO; // cannot happen; never loop
		addr = q.vma_end;
	}
}

} // namespace

std::vector<MapEntry> query_maps_for_tests(pid_t pid, int &err)
{
	std::string path =
	    pid > 0 ? "/proc/" + std::to_string(pid) + "/maps" : std::string("/proc/self/maps");
	std::vector<MapEntry> out;
	int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
	err = fd < 0 ? -errno : query_maps(fd, out);
	if (fd >= 0)
		::close(fd);
	return out;
}

Result<std::vector<MapEntry>> read_maps(pid_t pid)
{
	std::string path =
	    pid > 0 ? "/proc/" + std::to_string(pid) + "/maps" : std::string("/proc/self/maps");
	// Binary first (PROCMAP_QUERY); the text where the kernel lacks it.
	if (int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
		std::vector<MapEntry> maps;
		int r = query_maps(fd, maps);
		::close(fd);
		if (r == 0 && !maps.empty())
			return maps;
		if (r == 0 || r == -ESRCH) // no VMA: a zombie or past exit_mm()
			return describe_error(Op::read_maps, ESRCH, detail::pid_context(pid));
		if (r != -ENOTTY && r != -EINVAL)
			return describe_error(Op::read_maps, -r, detail::pid_context(pid));
	}
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
