// SPDX-License-Identifier: LGPL-2.1-or-later
// /proc/ksm_partitions, fdinfo, ksm_stat and the system-wide sysfs files.
#include "ksmpart/system.hpp"

#include "backend.hpp"
#include "internal.hpp"
#include "ksmpart/syscall.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <dirent.h>
#include <map>
#include <unistd.h>

namespace ksmpart {
namespace {

std::string_view trim(std::string_view s)
{
	const char *ws = " \t\r\n";
	auto b = s.find_first_not_of(ws);
	if (b == s.npos)
		return {};
	return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

template <typename T> bool number(std::string_view s, T &out, int base = 10)
{
	s = trim(s);
	if (base == 16 && (s.starts_with("0x") || s.starts_with("0X")))
		s.remove_prefix(2);
	if (s.empty())
		return false;
	auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
	return ec == std::errc() && p == s.data() + s.size();
}

std::vector<std::string_view> split_ws(std::string_view line)
{
	std::vector<std::string_view> f;
	std::size_t i = 0;
	while (i < line.size()) {
		while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
			i++;
		std::size_t j = i;
		while (j < line.size() && line[j] != ' ' && line[j] != '\t')
			j++;
		if (j > i)
			f.push_back(line.substr(i, j - i));
		i = j;
	}
	return f;
}

template <typename F> void each_line(std::string_view text, F f)
{
	while (!text.empty()) {
		auto nl = text.find('\n');
		f(text.substr(0, nl));
		text.remove_prefix(nl == text.npos ? text.size() : nl + 1);
	}
}

Error format_error(const std::string &what)
{
	return make_error(errc::bad_format, what);
}

std::vector<pid_t> pids(const std::string &proc)
{
	std::vector<pid_t> out;
	DIR *d = opendir(proc.c_str());
	if (!d)
		return out;
	while (dirent *e = readdir(d)) {
		pid_t p = 0;
		if (number(std::string_view(e->d_name), p) && p > 0)
			out.push_back(p);
	}
	closedir(d);
	std::sort(out.begin(), out.end());
	return out;
}

/// ksm_stat as key -> value (keys without a trailing ':'). Values are kept
/// as 64 bits: ksm_partition is a u64 id, ksm_process_profit is signed.
using KsmStat = std::map<std::string, std::uint64_t, std::less<>>;
KsmStat parse_ksm_stat(std::string_view text)
{
	KsmStat m;
	each_line(text, [&](std::string_view line) {
		auto f = split_ws(line);
		if (f.size() != 2)
			return;
		auto key = f[0];
		if (key.ends_with(':'))
			key.remove_suffix(1);
		std::uint64_t u;
		std::int64_t i;
		if (number(f[1], u))
			m.emplace(std::string(key), u);
		else if (number(f[1], i))
			m.emplace(std::string(key), static_cast<std::uint64_t>(i));
	});
	return m;
}

} // namespace

Result<std::vector<PartitionInfo>> parse_partition_table(std::string_view text)
{
	std::vector<PartitionInfo> out;
	bool header = true;
	int lineno = 0;
	std::string bad;
	each_line(text, [&](std::string_view line) {
		lineno++;
		if (!bad.empty() || trim(line).empty())
			return;
		if (header) {
			header = false;
			return;
		}
		auto f = split_ws(line);
		PartitionInfo p;
		auto &s = p.stats;
		bool ok = (f.size() == 12 || f.size() == 13) && number(f[0], p.id) &&
		          number(f[1], p.uid) && number(f[2], p.gid) && number(f[3], p.mode, 8) &&
		          number(f[4], p.flags, 16) && number(f[5], s.members) &&
		          number(f[6], s.pages_shared) && number(f[7], s.pages_sharing) &&
		          number(f[8], s.pages_unshared) && number(f[9], s.ksm_zero_pages) &&
		          number(f[10], s.rmap_items) && number(f[11], s.general_profit);
		if (!ok) {
			bad = "line " + std::to_string(lineno) + ": '" + std::string(line) + "'";
			return;
		}
		if (f.size() == 13)
			p.name = std::string(f[12]);
		s.id = p.id;
		s.zero_pages = p.flags & open_zero_pages;
		out.push_back(std::move(p));
	});
	if (!bad.empty())
		return format_error("/proc/ksm_partitions: unexpected format at " + bad);
	std::sort(out.begin(), out.end(), [](auto &a, auto &b) { return a.id < b.id; });
	return out;
}

Result<std::vector<PartitionInfo>> read_partition_table(const std::string &path)
{
	std::string text;
	if (int r = detail::read_proc_file(path, text); r < 0) {
		std::error_code code(-r, std::system_category());
		if (r == -ENOENT)
			return Error(code, "no " + path +
			                       ": this kernel lists no partitions there "
			                       "(not a ksmpart kernel, or an older one)");
		if (r == -EACCES || r == -EPERM)
			return Error(code, "no permission to read " + path +
			                       ": it is root-only (mode 0400, root in the initial "
			                       "namespaces)");
		return Error(code, "cannot read " + path + ": " + code.message());
	}
	return parse_partition_table(text);
}

std::optional<PartitionInfo> parse_fdinfo(std::string_view text)
{
	PartitionInfo p;
	bool have_id = false;
	auto &s = p.stats;
	using U = std::uint64_t Stats::*;
	static const std::pair<std::string_view, U> counters[] = {
	    {"ksm_members", &Stats::members},
	    {"ksm_pages_shared", &Stats::pages_shared},
	    {"ksm_pages_sharing", &Stats::pages_sharing},
	    {"ksm_pages_unshared", &Stats::pages_unshared},
	    {"ksm_zero_pages", &Stats::ksm_zero_pages},
	    {"ksm_rmap_items", &Stats::rmap_items},
	    {"ksm_stable_node_chains", &Stats::stable_node_chains},
	    {"ksm_stable_node_dups", &Stats::stable_node_dups},
	    {"ksm_merge_calls", &Stats::merge_calls},
	    {"ksm_unmerge_calls", &Stats::unmerge_calls},
	    {"ksm_leave_calls", &Stats::leave_calls},
	    {"ksm_pages_scanned", &Stats::pages_scanned},
	    {"ksm_pages_merged", &Stats::pages_merged},
	    {"ksm_zero_pages_merged", &Stats::zero_pages_merged},
	    {"ksm_pages_failed", &Stats::pages_failed},
	    {"ksm_pages_absent", &Stats::pages_absent},
	    {"ksm_pages_skipped", &Stats::pages_skipped},
	    {"ksm_merge_time_ns", &Stats::merge_time_ns},
	    {"ksm_unmerge_time_ns", &Stats::unmerge_time_ns},
	};
	each_line(text, [&](std::string_view line) {
		auto colon = line.find(':');
		if (colon == line.npos)
			return;
		auto key = line.substr(0, colon);
		auto val = trim(line.substr(colon + 1));
		if (key == "ksm_id") {
			have_id = number(val, p.id);
		} else if (key == "ksm_name") {
			if (!val.empty())
				p.name = std::string(val);
		} else if (key == "ksm_owner") {
			auto f = split_ws(val);
			if (f.size() == 2) {
				(void)number(f[0], p.uid);
				(void)number(f[1], p.gid);
			}
		} else if (key == "ksm_mode") {
			(void)number(val, p.mode, 8);
		} else if (key == "ksm_flags") {
			(void)number(val, p.flags, 16);
		} else if (key == "ksm_general_profit") {
			(void)number(val, s.general_profit);
		} else {
			for (const auto &[k, m] : counters)
				if (key == k)
					(void)number(val, s.*m);
		}
	});
	if (!have_id)
		return std::nullopt;
	s.id = p.id;
	s.zero_pages = p.flags & open_zero_pages;
	return p;
}

std::vector<PartitionFd> partition_fds(const std::string &proc)
{
	std::vector<PartitionFd> out;
	for (pid_t pid : pids(proc)) {
		std::string base = proc + "/" + std::to_string(pid);
		DIR *d = opendir((base + "/fd").c_str());
		if (!d)
			continue; // not ours, or gone
		std::vector<int> fds;
		while (dirent *e = readdir(d)) {
			int fd;
			if (!number(std::string_view(e->d_name), fd))
				continue;
			char buf[64];
			std::string link = base + "/fd/" + e->d_name;
			ssize_t n = readlink(link.c_str(), buf, sizeof(buf));
			if (n > 0 && std::string_view(buf, n) == "anon_inode:[ksm_partition]")
				fds.push_back(fd);
		}
		closedir(d);
		std::sort(fds.begin(), fds.end());
		for (int fd : fds) {
			std::string text;
			if (detail::read_proc_file(base + "/fdinfo/" + std::to_string(fd), text) <
			    0)
				continue;
			if (auto info = parse_fdinfo(text))
				out.push_back({pid, fd, std::move(*info)});
		}
	}
	return out;
}

std::vector<PartitionInfo> visible_partitions(const std::string &proc)
{
	std::map<std::uint64_t, PartitionInfo> by_id;
	for (auto &f : partition_fds(proc))
		by_id[f.info.id] = std::move(f.info);
	std::vector<PartitionInfo> out;
	for (auto &[id, p] : by_id)
		out.push_back(std::move(p));
	return out;
}

Result<std::uint64_t> partition_of(pid_t pid, const std::string &proc)
{
	std::string path = proc + "/" + (pid > 0 ? std::to_string(pid) : "self") + "/ksm_stat";
	std::string text;
	if (int r = detail::read_proc_file(path, text); r < 0) {
		int e = r == -ENOENT ? ESRCH : -r;
		return Error(std::error_code(e, std::system_category()),
		             e == ESRCH ? "no process with pid " + std::to_string(pid)
		             : e == EACCES || e == EPERM
		                 ? "no permission to read " + path +
		                       " (needs ptrace read access: same uid, or CAP_SYS_PTRACE)"
		                 : "cannot read " + path + ": " + std::strerror(e));
	}
	auto m = parse_ksm_stat(text);
	auto it = m.find("ksm_partition");
	if (it == m.end()) {
		// A zombie or kernel thread has an empty ksm_stat.
		if (text.empty())
			return Error(std::error_code(ESRCH, std::system_category()),
			             "pid " + std::to_string(pid) +
			                 " has no address space (a "
			                 "kernel thread or a zombie)");
		return describe_error(Op::open, ENOSYS);
	}
	return static_cast<std::uint64_t>(it->second);
}

namespace {

/// Fills everything but pid from the parsed ksm_stat and comm/cgroup files.
Member member_from(pid_t pid, const KsmStat &m, const std::string &base)
{
	Member mb;
	mb.pid = pid;
	auto get = [&](std::string_view k) -> std::int64_t {
		auto i = m.find(k);
		return i == m.end() ? 0 : static_cast<std::int64_t>(i->second);
	};
	mb.partition = static_cast<std::uint64_t>(get("ksm_partition"));
	mb.merging_pages = get("ksm_merging_pages");
	mb.zero_pages = get("ksm_zero_pages");
	mb.profit = get("ksm_process_profit");
	std::string text;
	if (detail::read_proc_file(base + "/comm", text) == 0)
		mb.comm = std::string(trim(text));
	if (detail::read_proc_file(base + "/cgroup", text) == 0)
		each_line(text, [&](std::string_view line) {
			if (line.starts_with("0::"))
				mb.cgroup = std::string(trim(line.substr(3)));
		});
	return mb;
}

} // namespace

Result<Member> process_ksm(pid_t pid, const std::string &proc)
{
	auto id = partition_of(pid, proc);
	if (!id)
		return id.error();
	std::string base = proc + "/" + std::to_string(pid), text;
	if (int r = detail::read_proc_file(base + "/ksm_stat", text); r < 0)
		return Error(std::error_code(ESRCH, std::system_category()),
		             "no process with pid " + std::to_string(pid));
	return member_from(pid, parse_ksm_stat(text), base);
}

std::vector<Member> members(std::uint64_t id, const std::string &proc)
{
	std::vector<Member> out;
	for (pid_t pid : pids(proc)) {
		std::string base = proc + "/" + std::to_string(pid);
		std::string text;
		if (detail::read_proc_file(base + "/ksm_stat", text) < 0)
			continue;
		auto m = parse_ksm_stat(text);
		auto it = m.find("ksm_partition");
		if (it == m.end() || it->second == 0)
			continue;
		if (id && it->second != id)
			continue;
		out.push_back(member_from(pid, m, base));
	}
	return out;
}

std::optional<PartitionInfo> find_named(std::string_view name, const std::string &table)
{
	if (name.empty())
		return std::nullopt;
	std::string n(name);
	int saved = errno;
	int fd = sys::backend().ksm_open(n.c_str(), open_cloexec, 0);
	errno = saved;
	if (fd >= 0) {
		std::string text;
		int r = detail::read_proc_file("/proc/self/fdinfo/" + std::to_string(fd), text);
		detail::close_fd(fd);
		if (r == 0)
			if (auto info = parse_fdinfo(text))
				return info;
	}
	auto t = read_partition_table(table);
	if (!t)
		return std::nullopt;
	std::optional<PartitionInfo> found;
	for (auto &p : *t) {
		if (p.name != n)
			continue;
		if (found)
			return std::nullopt; // several IPC namespaces: cannot tell
		found = std::move(p);
	}
	return found;
}

Result<Totals> read_totals(const std::string &dir)
{
	Totals t;
	auto get = [&](const char *file, auto &out) -> Error {
		std::string text, path = dir + "/" + file;
		if (int r = detail::read_proc_file(path, text); r < 0) {
			std::error_code code(-r, std::system_category());
			return Error(code, r == -EACCES
			                       ? "no permission to read " + path +
			                             " (root-only, mode 0400)"
			                       : "cannot read " + path + ": " + code.message());
		}
		if (!number(text, out))
			return format_error(path + ": not a number: '" + text + "'");
		return {};
	};
	for (auto e :
	     {get("nr_partitions", t.nr_partitions), get("pages_shared", t.pages_shared),
	      get("pages_sharing", t.pages_sharing), get("pages_unshared", t.pages_unshared),
	      get("ksm_zero_pages", t.ksm_zero_pages), get("rmap_items", t.rmap_items),
	      get("general_profit", t.general_profit)})
		if (e)
			return e;
	return t;
}

std::optional<bool> partitions_enabled(const std::string &ksm_dir)
{
	std::string text;
	if (detail::read_proc_file(ksm_dir + "/partitions/enabled", text) < 0)
		return std::nullopt;
	int v;
	if (!number(text, v))
		return std::nullopt;
	return v != 0;
}

} // namespace ksmpart
