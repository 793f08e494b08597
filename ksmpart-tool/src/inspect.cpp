// SPDX-License-Identifier: GPL-2.0-or-later
// list, members, which: views from /proc, no system call of ksmpart's.
#include "commands.hpp"
#include "metrics.hpp"
#include "util.hpp"

#include <ksmpart/ksmpart.hpp>
#include <ksmpart/system.hpp>

#include <cerrno>
#include <map>
#include <ostream>

#include <unistd.h>

namespace ksmtool {

namespace {

std::size_t page_size()
{
	return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

std::string octal_mode(unsigned mode)
{
	char buf[8];
	std::snprintf(buf, sizeof(buf), "%04o", mode);
	return buf;
}

Value num(std::uint64_t v)
{
	return v;
}

/// Print rows as a table or as {"<key>": [...]}.
int emit(const Output &t, const char *key, const Options &o, std::ostream &out)
{
	if (o.output.json) {
		json j;
		j[key] = t.json_rows();
		out << dump(j, true) << "\n";
	} else {
		out << t.table();
	}
	return 0;
}

/// The partitions the caller may see: all of them for root (the 0400
/// /proc/ksm_partitions), else those its processes hold fds of.
ksmpart::Result<std::vector<ksmpart::PartitionInfo>> partitions(const Options &o, bool &all)
{
	all = false;
	if (::geteuid() == 0) {
		auto t = ksmpart::read_partition_table(o.table_path);
		if (t) {
			all = true;
			return t;
		}
		if (t.error().errnum() != EACCES && t.error().errnum() != EPERM)
			return t;
		// Root of a user namespace: fall back to what it holds.
	}
	return ksmpart::visible_partitions(o.proc_dir);
}

} // namespace

const std::vector<Column> &list_columns()
{
	using K = Column::Kind;
	static const std::vector<Column> c = {
	    {"ID", K::number, true, "partition id (unique for the boot)"},
	    {"NAME", K::text, true, "name, - if anonymous"},
	    {"UID", K::number, true, "owner uid"},
	    {"GID", K::number, false, "owner gid"},
	    {"MODE", K::text, true, "permission bits"},
	    {"ZERO", K::flag, false, "merges zero-filled pages with the zero page"},
	    {"MEMBERS", K::number, true, "member processes"},
	    {"PIDS", K::text, false, "member pids you can see"},
	    {"KSM-PAGES", K::number, false, "KSM pages (pages_shared)"},
	    {"SHARING", K::number, true, "further mappings of them: pages saved (pages_sharing)"},
	    {"CANDIDATES", K::number, false, "scanned pages without a twin yet (pages_unshared)"},
	    {"ZERO-PAGES", K::number, false, "zero pages placed"},
	    {"RMAP-ITEMS", K::number, false, "metadata items"},
	    {"SAVED", K::bytes, true, "memory saved: (SHARING + ZERO-PAGES) * page size"},
	    {"PROFIT", K::bytes, true, "SAVED minus metadata (general_profit)"},
	};
	return c;
}

const std::vector<Column> &members_columns()
{
	using K = Column::Kind;
	static const std::vector<Column> c = {
	    {"PID", K::number, true, "process id"},
	    {"COMM", K::text, true, "command name"},
	    {"CGROUP", K::text, true, "cgroup v2 path as /proc/PID/cgroup shows it"},
	    {"PARTITION", K::number, false, "partition id"},
	    {"MERGING", K::bytes, true, "memory mapping merged pages (ksm_merging_pages)"},
	    {"ZERO", K::bytes, false, "zero pages placed in it (ksm_zero_pages)"},
	    {"PROFIT", K::bytes, true, "ksm_process_profit"},
	};
	return c;
}

const std::vector<Column> &which_columns()
{
	using K = Column::Kind;
	static const std::vector<Column> c = {
	    {"PID", K::number, true, "process id"},
	    {"COMM", K::text, true, "command name"},
	    {"PARTITION", K::number, true, "id of its partition, 0 if none"},
	    {"NAME", K::text, true, "its name if known (root, or a partition you hold)"},
	};
	return c;
}

int cmd_list(const Options &o, std::ostream &out, std::ostream &err)
{
	std::string error;
	Output t(list_columns(), o.output, error);
	if (!error.empty())
		return fail(err, Exit::usage, "list: " + error);
	bool all = false;
	auto parts = partitions(o, all);
	if (!parts) {
		if (parts.error().errnum() == ENOENT) {
			auto probe = ksmpart::probe();
			if (!probe.ok())
				return fail(err, Op::open, probe.error());
		}
		return fail(err, Op::table, parts.error());
	}
	if (!all && parts->empty()) {
		// Say why it may look empty; a probe tells a non-ksmpart kernel.
		auto probe = ksmpart::probe();
		if (!probe.ok())
			return fail(err, Op::open, probe.error());
	}
	std::map<std::uint64_t, std::string> pids;
	for (const auto &m : ksmpart::members(0, o.proc_dir)) {
		// Appended piecewise: GCC 12 -O3 warns (-Wrestrict, a false
		// positive) about operator+ on a literal and a temporary here.
		auto &list = pids[m.partition];
		if (!list.empty())
			list.push_back(',');
		list.append(std::to_string(m.pid));
	}
	const std::size_t ps = page_size();
	for (const auto &p : *parts) {
		const auto &s = p.stats;
		t.add({num(p.id), p.name ? Value(*p.name) : Value(), num(p.uid), num(p.gid),
		       octal_mode(p.mode), s.zero_pages, num(s.members),
		       pids.count(p.id) ? Value(pids[p.id]) : Value(std::string()),
		       num(s.pages_shared), num(s.pages_sharing), num(s.pages_unshared),
		       num(s.ksm_zero_pages), num(s.rmap_items), num(saved_bytes(s, ps)),
		       s.general_profit});
	}
	return emit(t, "partitions", o, out);
}

int cmd_members(const Options &o, std::ostream &out, std::ostream &err)
{
	std::string error;
	Output t(members_columns(), o.output, error);
	if (!error.empty())
		return fail(err, Exit::usage, "members: " + error);
	std::uint64_t id = o.id;
	if (!o.name.empty()) {
		auto r = partition_id_by_name(o.name, o.table_path);
		if (!r)
			return fail(err, Op::open, r.error());
		id = *r;
	}
	// ksm_stat without a "ksm_partition" line: not a ksmpart kernel.
	if (auto self = ksmpart::partition_of(0, o.proc_dir);
	    !self && self.error().errnum() == ENOSYS)
		return fail(err, Op::open, self.error());
	const auto ps = static_cast<std::int64_t>(page_size());
	for (const auto &m : ksmpart::members(id, o.proc_dir))
		t.add({static_cast<std::int64_t>(m.pid), m.comm,
		       m.cgroup.empty() ? Value() : Value(m.cgroup), num(m.partition),
		       m.merging_pages * ps, m.zero_pages * ps, m.profit});
	if (::geteuid() != 0 && !o.output.json && t.rows() == 0)
		err << "ksmpart-tool: note: only processes you may inspect are listed\n";
	return emit(t, "members", o, out);
}

int cmd_which(const Options &o, std::ostream &out, std::ostream &err)
{
	std::string error;
	Output t(which_columns(), o.output, error);
	if (!error.empty())
		return fail(err, Exit::usage, "which: " + error);
	bool all = false;
	std::map<std::uint64_t, std::string> names;
	if (auto parts = [&] {
		    if (::geteuid() == 0)
			    if (auto tab = ksmpart::read_partition_table(o.table_path))
				    return tab;
		    return ksmpart::Result<std::vector<ksmpart::PartitionInfo>>(
		        ksmpart::visible_partitions(o.proc_dir));
	    }())
		for (const auto &p : *parts)
			names[p.id] = p.name.value_or("(anonymous)");
	(void)all;
	std::vector<Exit> codes;
	for (pid_t pid : o.pids) {
		auto m = ksmpart::process_ksm(pid, o.proc_dir);
		if (!m) {
			if (m.error().errnum() == ENOSYS)
				return fail(err, Op::open, m.error());
			err << "ksmpart-tool: " << m.error().message() << "\n";
			codes.push_back(exit_for(Op::target, m.error().code()));
			continue;
		}
		codes.push_back(Exit::ok);
		Value name;
		if (m->partition && names.count(m->partition))
			name = names[m->partition];
		t.add({static_cast<std::int64_t>(pid), m->comm, num(m->partition), name});
	}
	emit(t, "processes", o, out);
	return code(combine(codes));
}

} // namespace ksmtool
