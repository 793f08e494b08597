// SPDX-License-Identifier: GPL-2.0-or-later
#include "commands.hpp"
#include "cgroup.hpp"
#include "holder.hpp"
#include "json.hpp"
#include "range_arg.hpp"
#include "sysfs.hpp"
#include "table.hpp"
#include "util.hpp"

#include <ksmpart/ksmpart.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <map>
#include <ostream>
#include <set>

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

/// Print "ksmpart-tool: MSG" and, if any, a hint line; return the code.
int fail(std::ostream &err, Exit code, const std::string &msg, const std::string &hint_text = {})
{
	err << "ksmpart-tool: " << msg << "\n";
	if (!hint_text.empty())
		err << "ksmpart-tool: hint: " << hint_text << "\n";
	return ksmtool::code(code);
}

int fail(std::ostream &err, Op op, const ksmpart::Error &e)
{
	return fail(err, exit_for(op, e.code()), e.message(), hint(op, e.code()));
}

std::uint64_t bytes_saved(const ksmpart::MergeCounters &c, std::size_t ps)
{
	return (c.pages_merged + c.zero_pages_merged) * ps;
}

/// Open (or, with `create`, create) the named partition. `created` says
/// whether this call made it: an exclusive create is tried first, so the
/// report can tell a new partition from an existing one.
ksmpart::Result<ksmpart::Partition> open_partition(const Options &o, bool create, bool &created,
                                                   Op &op)
{
	created = false;
	op = Op::open;
	if (!create)
		return ksmpart::Partition::open(o.name);
	ksmpart::CreateOptions co;
	co.mode = o.mode;
	co.zero_pages = o.zero_pages;
	co.exclusive = true;
	if (o.zero_pages)
		op = Op::create;
	auto r = ksmpart::Partition::create(o.name, co);
	if (r.ok()) {
		created = true;
		return r;
	}
	if (o.excl || r.error().code() != std::errc::file_exists)
		return r;
	co.exclusive = false;
	return ksmpart::Partition::create(o.name, co);
}

/// The partition id: from the stats ioctl, else from the fd's fdinfo.
std::uint64_t partition_id(const ksmpart::Partition &p)
{
	auto st = p.stats();
	if (st.ok())
		return st->id;
	std::string text;
	std::error_code ec;
	if (!read_file("/proc/self/fdinfo/" + std::to_string(p.fd()), text, ec))
		return 0;
	auto pos = text.find("ksm_id:");
	if (pos == std::string::npos)
		return 0;
	auto end = text.find('\n', pos);
	return parse_u64(text.substr(pos + 7, end - pos - 7)).value_or(0);
}

struct Target {
	pid_t pid;
	bool from_cgroup;
	bool tolerate_exit; ///< ESRCH means "gone", not a failure (cgroups, watch)
};

/// Explicit pids, then the processes of the cgroups (without this process,
/// which must not join by accident). Returns false after printing an error.
bool collect_targets(const Options &o, std::vector<Target> &targets, std::ostream &err, int &rc)
{
	std::set<pid_t> seen;
	for (pid_t p : o.pids)
		if (seen.insert(p).second)
			targets.push_back({p, false, o.cmd == Command::watch});
	for (const auto &arg : o.cgroups) {
		auto dir = resolve_cgroup(arg);
		std::error_code ec;
		auto pids = cgroup_pids(dir, ec);
		if (ec) {
			ErrorContext ctx;
			ctx.path = dir.string();
			rc = fail(err, exit_for(Op::cgroup, ec), describe(Op::cgroup, ec, ctx));
			return false;
		}
		for (pid_t p : pids)
			if (p != ::getpid() && seen.insert(p).second)
				targets.push_back({p, true, true});
	}
	return true;
}

enum class Action { merge, unmerge, leave };

/// Record error `e` of `op` in `r`. A process of a cgroup (or of a watch)
/// that is gone (ESRCH) merely exited: tolerated, not a failure.
void set_error(TargetResult &r, const Target &t, Op op, const ksmpart::Error &e, bool progress)
{
	if (t.tolerate_exit && !progress && e.errnum() == ESRCH) {
		r.status = TargetResult::Status::gone;
		return;
	}
	r.status = progress ? TargetResult::Status::partial : TargetResult::Status::failed;
	r.code = progress ? Exit::partial : exit_for(op, e.code());
	r.error = e.message();
	r.hint = hint(op, e.code());
}

TargetResult act_on(const ksmpart::Partition &part, const Options &o, const Target &t, Action a)
{
	TargetResult r;
	r.pid = t.pid;
	r.from_cgroup = t.from_cgroup;
	auto pidfd = ksmpart::Pidfd::open(t.pid);
	if (!pidfd.ok()) {
		set_error(r, t, Op::target, pidfd.error(), false);
		return r;
	}
	if (a == Action::leave) {
		auto res = part.leave(*pidfd);
		if (!res.ok())
			set_error(r, t, Op::leave, res.error(), false);
		return r;
	}
	// Explicit ranges alone need no maps, so the kernel's own permission
	// check (ptrace attach) is what decides, not /proc's.
	std::vector<ksmpart::MapEntry> maps;
	if (o.ranges.empty() || !o.regions.empty()) {
		auto m = ksmpart::read_maps(*pidfd);
		if (!m.ok()) {
			set_error(r, t, Op::target, m.error(), false);
			return r;
		}
		maps = std::move(*m);
	}
	auto ranges = select_ranges(maps, o.ranges, o.regions, r.missing_regions);
	if (ranges.empty() && !o.regions.empty() && o.ranges.empty()) {
		// None of the named regions exists in this process.
		if (r.from_cgroup) {
			r.status = TargetResult::Status::skipped;
		} else {
			r.status = TargetResult::Status::failed;
			r.code = Exit::not_found;
			std::string names;
			for (const auto &n : r.missing_regions)
				names += (names.empty() ? "" : ", ") + n;
			r.error = "pid " + std::to_string(t.pid) + " has no mapping named " + names;
		}
		return r;
	}
	for (const auto &x : ranges)
		r.bytes_requested += x.size();
	if (a == Action::merge) {
		auto rep = ranges.empty()
		               ? part.join(*pidfd)
		               : part.merge(*pidfd, std::span<const ksmpart::Range>(ranges));
		r.counters = rep.counters;
		r.joined = rep.joined;
		r.bytes_processed = rep.bytes_processed;
		if (!rep.ok())
			set_error(r, t, Op::merge, rep.error, rep.bytes_processed > 0);
	} else {
		auto rep = part.unmerge(*pidfd, std::span<const ksmpart::Range>(ranges));
		r.bytes_processed = rep.bytes_processed;
		if (!rep.ok())
			set_error(r, t, Op::unmerge, rep.error, rep.bytes_processed > 0);
	}
	return r;
}

Exit overall(const std::vector<TargetResult> &results)
{
	std::vector<Exit> codes;
	for (const auto &r : results)
		if (r.status != TargetResult::Status::gone &&
		    r.status != TargetResult::Status::skipped)
			codes.push_back(r.code);
	return combine(codes);
}

void report_errors(const std::vector<TargetResult> &results, std::ostream &err)
{
	std::set<std::string> hints;
	for (const auto &r : results) {
		if (!r.error.empty())
			err << "ksmpart-tool: " << r.error
			    << (r.status == TargetResult::Status::partial
			            ? " (after partial progress)"
			            : "")
			    << "\n";
		if (!r.hint.empty() && hints.insert(r.hint).second)
			err << "ksmpart-tool: hint: " << r.hint << "\n";
	}
}

void counters_json(JsonWriter &j, const ksmpart::MergeCounters &c, std::size_t ps)
{
	j.field("pages_scanned", c.pages_scanned)
	    .field("pages_merged", c.pages_merged)
	    .field("pages_already_shared", c.pages_already_shared)
	    .field("zero_pages_merged", c.zero_pages_merged)
	    .field("pages_unshared", c.pages_unshared)
	    .field("pages_failed", c.pages_failed)
	    .field("pages_absent", c.pages_absent)
	    .field("pages_skipped", c.pages_skipped)
	    .field("bytes_saved", bytes_saved(c, ps));
}

void stats_fields_json(JsonWriter &j, const ksmpart::Stats &s)
{
	for_each_stat(
	    s, [&](const char *n, std::int64_t v) { j.field(n, v); },
	    [&](const char *n, std::uint64_t v) { j.field(n, v); });
}

/// Results of a run over targets, for both human and JSON output.
int print_results(const Options &o, const std::vector<TargetResult> &results, Action a,
                  std::ostream &out, std::ostream &err)
{
	const std::size_t ps = page_size();
	if (o.json) {
		if (a == Action::merge) {
			out << merge_json(o.name, results, ps) << "\n";
		} else {
			JsonWriter j;
			j.begin_object().field("partition", o.name).key("processes").begin_array();
			for (const auto &r : results) {
				j.begin_object()
				    .field("pid", r.pid)
				    .field("source", r.from_cgroup ? "cgroup" : "pid")
				    .field("status", status_name(r.status));
				if (a == Action::unmerge)
					j.field("bytes_requested", r.bytes_requested)
					    .field("bytes_processed", r.bytes_processed);
				if (!r.error.empty())
					j.field("error", r.error);
				j.end_object();
			}
			j.end_array().end_object();
			out << j.str() << "\n";
		}
	} else if (results.empty()) {
		out << "no processes\n";
	} else if (a == Action::merge) {
		out << merge_table(results, ps);
	} else {
		for (const auto &r : results) {
			if (r.status != TargetResult::Status::ok)
				continue;
			if (a == Action::unmerge)
				out << "pid " << r.pid << ": unmerged "
				    << human_bytes(static_cast<std::int64_t>(r.bytes_processed))
				    << " of ranges in partition '" << o.name << "'\n";
			else
				out << "pid " << r.pid << ": left partition '" << o.name << "'\n";
		}
	}
	report_errors(results, err);
	for (const auto &r : results)
		for (const auto &m : r.missing_regions)
			if (r.status == TargetResult::Status::ok)
				err << "ksmpart-tool: note: pid " << r.pid << " has no region " << m
				    << "\n";
	return code(overall(results));
}

int cmd_targets(const Options &o, Action a, std::ostream &out, std::ostream &err)
{
	bool created;
	Op op;
	auto part = open_partition(o, a == Action::merge && o.create, created, op);
	if (!part.ok())
		return fail(err, op, part.error());
	std::vector<Target> targets;
	int rc = 0;
	if (!collect_targets(o, targets, err, rc))
		return rc;
	std::vector<TargetResult> results;
	for (const auto &t : targets)
		results.push_back(act_on(*part, o, t, a));
	return print_results(o, results, a, out, err);
}

int cmd_create_open(const Options &o, std::ostream &out, std::ostream &err)
{
	bool created;
	Op op;
	auto part = open_partition(o, o.cmd == Command::create, created, op);
	if (!part.ok())
		return fail(err, op, part.error());
	std::uint64_t id = partition_id(*part);

	pid_t holder = 0;
	std::string pidfile;
	if (o.hold) {
		pidfile = o.pidfile.empty()
		              ? default_pidfile(o.name, ::geteuid(), std::getenv("XDG_RUNTIME_DIR"))
		              : o.pidfile;
		std::error_code ec;
		pid_t other = 0;
		holder = start_holder(*part, pidfile, ec, &other);
		if (holder < 0) {
			ErrorContext ctx;
			ctx.partition = o.name;
			ctx.path = pidfile;
			if (ec.value() == EEXIST)
				return fail(
				    err, Exit::conflict,
				    "partition '" + o.name + "' is held already by process " +
				        std::to_string(other) + " (pid file " + pidfile + ")");
			return fail(err, exit_for(Op::holder, ec), describe(Op::holder, ec, ctx));
		}
	}

	if (o.json) {
		JsonWriter j;
		j.begin_object().field("name", o.name).field("id", id).field("created", created);
		if (created)
			j.field("mode", octal_mode(o.mode)).field("zero_pages", o.zero_pages);
		if (o.hold)
			j.field("holder_pid", holder).field("pidfile", pidfile);
		j.end_object();
		out << j.str() << "\n";
	} else {
		out << (created                    ? "created"
		        : o.cmd == Command::create ? "opened existing"
		                                   : "opened")
		    << " partition '" << o.name << "'";
		if (id)
			out << " (id " << id;
		if (created)
			out << (id ? ", " : " (") << "mode " << octal_mode(o.mode)
			    << (o.zero_pages ? ", zero pages" : "");
		if (id || created)
			out << ")";
		out << "\n";
		if (o.hold)
			out << "held by process " << holder << " (pid file " << pidfile
			    << "); stop it with 'ksmpart-tool release " << o.name << "'\n";
	}
	if (o.cmd == Command::create && !created && (o.zero_pages || o.mode != 0600))
		err << "ksmpart-tool: note: partition '" << o.name
		    << "' existed already; --mode and --zero-pages were not applied\n";
	if (!o.hold && created)
		err << "ksmpart-tool: note: nothing else holds partition '" << o.name
		    << "', so it is removed when ksmpart-tool exits; use --hold, or "
		       "'merge --create' to create it and add members at once\n";
	return 0;
}

int cmd_release(const Options &o, std::ostream &out, std::ostream &err)
{
	std::string pidfile =
	    o.pidfile.empty() ? default_pidfile(o.name, ::geteuid(), std::getenv("XDG_RUNTIME_DIR"))
	                      : o.pidfile;
	std::error_code ec;
	pid_t pid = stop_holder(pidfile, ec);
	if (pid < 0) {
		ErrorContext ctx;
		ctx.partition = o.name;
		ctx.path = pidfile;
		std::string msg =
		    ec.value() == EBADMSG ? pidfile + " does not name a running ksmpart-tool holder"
		    : ec.value() == ETIMEDOUT ? "the holder in " + pidfile + " did not exit"
		                              : describe(Op::holder, ec, ctx);
		return fail(err, exit_for(Op::holder, ec), msg);
	}
	// Members and other fds may keep it: say whether it still exists.
	auto again = ksmpart::Partition::open(o.name);
	bool exists = again.ok() || again.error().code() != std::errc::no_such_file_or_directory;
	if (o.json) {
		JsonWriter j;
		j.begin_object()
		    .field("name", o.name)
		    .field("holder_pid", pid)
		    .field("exists", exists)
		    .end_object();
		out << j.str() << "\n";
	} else {
		out << "released partition '" << o.name << "' (holder process " << pid
		    << " stopped)";
		out << (exists ? "; it still exists: members or other fds hold it\n"
		               : "; it no longer exists\n");
	}
	return 0;
}

int cmd_stats(const Options &o, std::ostream &out, std::ostream &err)
{
	auto part = ksmpart::Partition::open(o.name);
	if (!part.ok())
		return fail(err, Op::open, part.error());
	auto st = part->stats();
	if (!st.ok())
		return fail(err, Op::stats, st.error());
	out << (o.json ? stats_json(o.name, *st) + "\n" : stats_text(o.name, *st, page_size()));
	return 0;
}

int cmd_list(const Options &o, std::ostream &out, std::ostream &err)
{
	std::error_code ec;
	std::string failed;
	auto parts = read_partitions(o.sysfs_dir, ec, failed);
	if (ec) {
		if (ec.value() == ENOENT && failed == o.sysfs_dir) {
			auto probe = ksmpart::probe();
			if (!probe.ok())
				return fail(err, Op::open, probe.error());
		}
		ErrorContext ctx;
		ctx.path = failed;
		Exit x = exit_for(Op::sysfs, ec);
		if (ec.value() == ENOENT && failed != o.sysfs_dir)
			x = Exit::failure;
		return fail(err, x, describe(Op::sysfs, ec, ctx));
	}
	out << (o.json ? list_json(parts) + "\n" : list_table(parts));
	return 0;
}

// watch: SIGINT/SIGTERM are blocked and polled, so a round is never cut
// in the middle of bookkeeping, and the wait between rounds ends at once.
bool stop_requested(const sigset_t &set, double wait_s)
{
	struct timespec ts;
	ts.tv_sec = static_cast<time_t>(wait_s);
	ts.tv_nsec = static_cast<long>((wait_s - std::floor(wait_s)) * 1e9);
	for (;;) {
		int s = ::sigtimedwait(&set, nullptr, &ts);
		if (s > 0)
			return true;
		if (errno != EINTR)
			return false;
	}
}

int cmd_watch(const Options &o, std::ostream &out, std::ostream &err)
{
	bool created;
	Op op;
	auto part = open_partition(o, o.create, created, op);
	if (!part.ok())
		return fail(err, op, part.error());

	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	::sigprocmask(SIG_BLOCK, &set, &old);

	const std::size_t ps = page_size();
	std::set<pid_t> known, warned;
	int last = 0;
	bool stopped = false;
	for (unsigned round = 1; !stopped && (o.count == 0 || round <= o.count); round++) {
		std::vector<Target> targets;
		int rc = 0;
		if (!collect_targets(o, targets, err, rc)) {
			// The first round must see its cgroups; later, a cgroup that was
			// removed is an orchestration event to tolerate.
			if (round == 1) {
				::sigprocmask(SIG_SETMASK, &old, nullptr);
				return rc;
			}
			targets.clear();
		}
		std::set<pid_t> now;
		std::vector<pid_t> fresh, gone;
		std::vector<TargetResult> results;
		for (const auto &t : targets) {
			if (stop_requested(set, 0)) {
				stopped = true;
				break;
			}
			auto r = act_on(*part, o, t, Action::merge);
			if (r.status == TargetResult::Status::gone)
				continue;
			now.insert(t.pid);
			if (!known.count(t.pid))
				fresh.push_back(t.pid);
			results.push_back(std::move(r));
		}
		for (pid_t p : known)
			if (!now.count(p))
				gone.push_back(p);
		known = now;

		ksmpart::MergeCounters sum;
		std::size_t failed = 0;
		for (const auto &r : results) {
			sum += r.counters;
			if (r.status == TargetResult::Status::failed ||
			    r.status == TargetResult::Status::partial)
				failed++;
		}
		auto st = part->stats();
		if (o.json) {
			JsonWriter j;
			j.begin_object()
			    .field("round", round)
			    .field("time", static_cast<std::int64_t>(std::time(nullptr)))
			    .field("partition", o.name)
			    .field("processes", results.size())
			    .key("new")
			    .begin_array();
			for (pid_t p : fresh)
				j.value(p);
			j.end_array().key("gone").begin_array();
			for (pid_t p : gone)
				j.value(p);
			j.end_array();
			counters_json(j, sum, ps);
			j.key("errors").begin_array();
			for (const auto &r : results)
				if (!r.error.empty())
					j.begin_object()
					    .field("pid", r.pid)
					    .field("error", r.error)
					    .end_object();
			j.end_array().key("stats");
			if (st.ok()) {
				j.begin_object();
				stats_fields_json(j, *st);
				j.end_object();
			} else {
				j.null();
			}
			j.end_object();
			out << j.str() << std::endl;
		} else {
			out << "round " << round << ": " << results.size() << " processes ("
			    << fresh.size() << " new, " << gone.size() << " gone), "
			    << sum.pages_merged << " pages merged, saved "
			    << human_bytes(static_cast<std::int64_t>(bytes_saved(sum, ps)));
			if (failed)
				out << ", " << failed << " failed";
			if (st.ok())
				out << "; partition: " << st->members << " members, "
				    << st->pages_sharing << " pages sharing, profit "
				    << human_bytes(st->general_profit);
			out << std::endl;
		}
		// Each failing process is reported once, not every round.
		for (const auto &r : results)
			if (!r.error.empty() && warned.insert(r.pid).second)
				err << "ksmpart-tool: " << r.error << "\n";
		last = code(overall(results));
		if (!stopped && (o.count == 0 || round < o.count))
			stopped = stop_requested(set, o.interval);
	}
	::sigprocmask(SIG_SETMASK, &old, nullptr);
	// A stopped watch is a normal end; a bounded one reports its last round.
	return o.count ? last : 0;
}

} // namespace

const char *status_name(TargetResult::Status s)
{
	switch (s) {
	case TargetResult::Status::ok:
		return "ok";
	case TargetResult::Status::failed:
		return "failed";
	case TargetResult::Status::partial:
		return "partial";
	case TargetResult::Status::gone:
		return "gone";
	case TargetResult::Status::skipped:
		return "skipped";
	}
	return "?";
}

std::string merge_table(const std::vector<TargetResult> &results, std::size_t ps)
{
	using A = Table::Align;
	Table t({{"PID", A::right},
	         {"STATUS"},
	         {"JOINED"},
	         {"SCANNED", A::right},
	         {"MERGED", A::right},
	         {"SHARED", A::right},
	         {"ZERO", A::right},
	         {"UNSHARED", A::right},
	         {"FAILED", A::right},
	         {"ABSENT", A::right},
	         {"SKIPPED", A::right},
	         {"SAVED", A::right}});
	auto row = [&](const std::string &pid, const std::string &status, const std::string &joined,
	               const ksmpart::MergeCounters &c) {
		t.add_row({pid, status, joined, std::to_string(c.pages_scanned),
		           std::to_string(c.pages_merged), std::to_string(c.pages_already_shared),
		           std::to_string(c.zero_pages_merged), std::to_string(c.pages_unshared),
		           std::to_string(c.pages_failed), std::to_string(c.pages_absent),
		           std::to_string(c.pages_skipped),
		           human_bytes(static_cast<std::int64_t>(bytes_saved(c, ps)))});
	};
	ksmpart::MergeCounters sum;
	for (const auto &r : results) {
		row(std::to_string(r.pid), status_name(r.status), r.joined ? "yes" : "no",
		    r.counters);
		sum += r.counters;
	}
	if (results.size() > 1)
		row("total", std::to_string(results.size()) + " procs", "", sum);
	return t.render();
}

std::string merge_json(const std::string &partition, const std::vector<TargetResult> &results,
                       std::size_t ps)
{
	JsonWriter j;
	j.begin_object().field("partition", partition).field("page_size", ps);
	j.key("processes").begin_array();
	ksmpart::MergeCounters sum;
	std::size_t failed = 0, gone = 0;
	for (const auto &r : results) {
		j.begin_object()
		    .field("pid", r.pid)
		    .field("source", r.from_cgroup ? "cgroup" : "pid")
		    .field("status", status_name(r.status))
		    .field("joined", r.joined)
		    .field("bytes_requested", r.bytes_requested)
		    .field("bytes_processed", r.bytes_processed);
		counters_json(j, r.counters, ps);
		if (!r.error.empty())
			j.field("error", r.error);
		j.end_object();
		sum += r.counters;
		if (r.status == TargetResult::Status::failed ||
		    r.status == TargetResult::Status::partial)
			failed++;
		if (r.status == TargetResult::Status::gone)
			gone++;
	}
	j.end_array().key("total").begin_object();
	j.field("processes", results.size()).field("failed", failed).field("gone", gone);
	counters_json(j, sum, ps);
	j.end_object().end_object();
	return j.str();
}

std::string stats_text(const std::string &name, const ksmpart::Stats &s, std::size_t ps)
{
	Table t({{""}, {"", Table::Align::right}, {""}});
	t.add_row({"partition", name});
	t.add_row({"id", std::to_string(s.id)});
	t.add_row({"zero_pages", s.zero_pages ? "on" : "off"});
	for_each_stat(
	    s,
	    [&](const char *n, std::int64_t v) {
		    t.add_row({n, std::to_string(v), "(" + human_bytes(v) + ")"});
	    },
	    [&](const char *n, std::uint64_t v) {
		    std::string note;
		    std::string_view sv(n);
		    if (sv.starts_with("pages_") || sv == "ksm_zero_pages")
			    note = "(" + human_bytes(static_cast<std::int64_t>(v * ps)) + ")";
		    t.add_row({n, std::to_string(v), note});
	    });
	return t.render(false);
}

std::string stats_json(const std::string &name, const ksmpart::Stats &s)
{
	JsonWriter j;
	j.begin_object().field("name", name).field("id", s.id).field("zero_pages", s.zero_pages);
	stats_fields_json(j, s);
	j.end_object();
	return j.str();
}

std::string list_table(const std::vector<PartitionInfo> &parts)
{
	using A = Table::Align;
	Table t({{"ID", A::right},
	         {"NAME"},
	         {"UID", A::right},
	         {"GID", A::right},
	         {"MODE"},
	         {"ZERO"},
	         {"MEMBERS", A::right},
	         {"SHARED", A::right},
	         {"SHARING", A::right},
	         {"ZEROPAGES", A::right},
	         {"PROFIT", A::right}});
	for (const auto &p : parts)
		t.add_row(
		    {std::to_string(p.id), p.name.value_or("-"), std::to_string(p.owner_uid),
		     std::to_string(p.owner_gid), octal_mode(p.mode),
		     p.stats.zero_pages ? "yes" : "no", std::to_string(p.stats.members),
		     std::to_string(p.stats.pages_shared), std::to_string(p.stats.pages_sharing),
		     std::to_string(p.stats.ksm_zero_pages), human_bytes(p.stats.general_profit)});
	return t.render();
}

std::string list_json(const std::vector<PartitionInfo> &parts)
{
	JsonWriter j;
	j.begin_array();
	for (const auto &p : parts) {
		j.begin_object().field("id", p.id).key("name");
		if (p.name)
			j.value(*p.name);
		else
			j.null();
		j.field("owner_uid", p.owner_uid)
		    .field("owner_gid", p.owner_gid)
		    .field("mode", octal_mode(p.mode))
		    .field("ipc_ns", p.ipc_ns)
		    .field("zero_pages", p.stats.zero_pages);
		stats_fields_json(j, p.stats);
		j.end_object();
	}
	j.end_array();
	return j.str();
}

int run(const Options &o, std::ostream &out, std::ostream &err)
{
	switch (o.cmd) {
	case Command::create:
	case Command::open:
		return cmd_create_open(o, out, err);
	case Command::merge:
		return cmd_targets(o, Action::merge, out, err);
	case Command::unmerge:
		return cmd_targets(o, Action::unmerge, out, err);
	case Command::leave:
		return cmd_targets(o, Action::leave, out, err);
	case Command::stats:
		return cmd_stats(o, out, err);
	case Command::list:
		return cmd_list(o, out, err);
	case Command::watch:
		return cmd_watch(o, out, err);
	case Command::release:
		return cmd_release(o, out, err);
	case Command::none:
		break;
	}
	return fail(err, Exit::usage, "no command");
}

} // namespace ksmtool
