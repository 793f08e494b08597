// SPDX-License-Identifier: GPL-2.0-or-later
// create, open, hold, release, merge, unmerge, leave, stats, watch.
#include "commands.hpp"
#include "cgroup.hpp"
#include "holder.hpp"
#include "metrics.hpp"
#include "range_arg.hpp"
#include "util.hpp"

#include <ksmpart/ksmpart.hpp>
#include <ksmpart/system.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <map>
#include <ostream>
#include <set>

#include <cstring>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

namespace ksmtool {

namespace {

std::ostream *json_errors = nullptr;

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

std::string now_text()
{
	char buf[32];
	std::time_t t = std::time(nullptr);
	std::tm tm{};
	localtime_r(&t, &tm);
	std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

std::uint64_t bytes_saved(const ksmpart::MergeCounters &c, std::size_t ps)
{
	return (c.pages_merged + c.zero_pages_merged) * ps;
}

} // namespace

void set_json_errors(std::ostream *out)
{
	json_errors = out;
}

int fail(std::ostream &err, Exit code, const std::string &msg, const std::string &hint_text)
{
	err << "ksmpart-tool: " << msg << "\n";
	if (!hint_text.empty())
		err << "ksmpart-tool: hint: " << hint_text << "\n";
	if (json_errors) {
		json j;
		j["error"] = {{"message", msg}, {"exit_code", ksmtool::code(code)}};
		if (!hint_text.empty())
			j["error"]["hint"] = hint_text;
		*json_errors << dump(j, true) << "\n";
	}
	return ksmtool::code(code);
}

int fail(std::ostream &err, Op op, const ksmpart::Error &e)
{
	return fail(err, exit_for(op, e.code()), e.message(), hint(op, e.code()));
}

ksmpart::Result<std::uint64_t> partition_id_by_name(const std::string &name,
                                                    const std::string &table_path)
{
	auto p = ksmpart::Partition::open(name);
	if (p) {
		auto st = p->stats();
		if (st)
			return st->id;
		if (auto info = ksmpart::find_named(name, table_path))
			return info->id;
		return st.error();
	}
	// Not allowed to open it: root reads the id from /proc/ksm_partitions.
	if (p.error().errnum() == EACCES)
		if (auto info = ksmpart::find_named(name, table_path))
			return info->id;
	return p.error();
}

namespace {

/// Open the named partition; with `create`, create it unless it exists
/// (then open the caller's own: never another user's). `created` says
/// which happened.
ksmpart::Result<ksmpart::Partition> open_partition(const Options &o, bool create, bool &created,
                                                   Op &op, std::string &message)
{
	created = false;
	op = Op::open;
	message.clear();
	if (!create)
		return ksmpart::Partition::open(o.name);
	ksmpart::CreateOptions co;
	co.mode = o.mode;
	co.zero_pages = o.zero_pages;
	co.exclusive = o.excl;
	if (o.zero_pages)
		op = Op::create;
	auto r = ksmpart::Partition::open_or_create(o.name, co);
	if (r.ok()) {
		created = r->created;
		return std::move(r->partition);
	}
	if (r.error().errnum() == EEXIST && !o.excl) {
		// Another user's name: say whose, and how to join it on purpose.
		auto info = ksmpart::find_named(o.name);
		message =
		    "partition '" + o.name + "' exists and belongs to " +
		    (info ? "uid " + std::to_string(info->uid) : std::string("another user")) +
		    "; open it without --create if you meant to join it";
	}
	return r.error();
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
	auto info = ksmpart::parse_fdinfo(text);
	return info ? info->id : 0;
}

struct Target {
	pid_t pid;
	TargetResult::Source source;
	bool tolerate_exit; ///< ESRCH means "gone", not a failure (cgroups, watch)
};

std::filesystem::path cgroup_root(const Options &o)
{
	return o.cgroup_root.empty() ? std::filesystem::path(cgroup2_mount())
	                             : std::filesystem::path(o.cgroup_root);
}

/// Explicit pids, then the processes of the cgroups and units, then (leave
/// --all) the members; never this process, which must not join by accident.
/// Returns false after printing an error.
bool collect_targets(const Options &o, std::uint64_t id, std::vector<Target> &targets,
                     std::ostream &err, int &rc)
{
	std::set<pid_t> seen;
	const bool watch = o.cmd == Command::watch;
	for (pid_t p : o.pids)
		if (seen.insert(p).second)
			targets.push_back({p, TargetResult::Source::pid, watch});
	auto add_dir = [&](const std::filesystem::path &dir, TargetResult::Source src) {
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
				targets.push_back({p, src, true});
		return true;
	};
	auto root = cgroup_root(o);
	for (const auto &arg : o.cgroups)
		if (!add_dir(resolve_cgroup(arg, root), TargetResult::Source::cgroup))
			return false;
	for (const auto &unit : o.units) {
		std::error_code ec;
		auto dirs = unit_cgroups(unit, root, ec);
		if (ec) {
			ErrorContext ctx;
			ctx.partition = unit;
			ctx.path = root.string();
			rc = fail(err, exit_for(Op::unit, ec), describe(Op::unit, ec, ctx));
			return false;
		}
		for (const auto &d : dirs)
			if (!add_dir(d, TargetResult::Source::unit))
				return false;
	}
	if (o.all)
		for (const auto &m : ksmpart::members(id, o.proc_dir))
			if (m.pid != ::getpid() && seen.insert(m.pid).second)
				targets.push_back({m.pid, TargetResult::Source::member, true});
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

/// The thread group of a thread id, if `pid` is a thread that is not a
/// leader (pidfd_open rejects it with EINVAL).
pid_t tgid_of(pid_t pid, const std::string &proc)
{
	std::string text;
	std::error_code ec;
	if (!read_file(proc + "/" + std::to_string(pid) + "/status", text, ec)) {
		// Threads are not listed in /proc but are reachable by their id.
		return 0;
	}
	auto pos = text.find("\nTgid:");
	if (pos == text.npos)
		return 0;
	auto end = text.find('\n', pos + 1);
	auto v = parse_u64(text.substr(pos + 6, end - pos - 6));
	return v ? static_cast<pid_t>(*v) : 0;
}

TargetResult act_on(const ksmpart::Partition &part, const Options &o, const Target &t, Action a)
{
	TargetResult r;
	r.pid = t.pid;
	r.source = t.source;
	std::error_code cec;
	if (read_file(o.proc_dir + "/" + std::to_string(t.pid) + "/comm", r.comm, cec))
		r.comm = std::string(trim(r.comm));
	auto pidfd = ksmpart::Pidfd::open(t.pid);
	if (!pidfd.ok()) {
		set_error(r, t, Op::target, pidfd.error(), false);
		if (pidfd.error().errnum() == EINVAL) {
			pid_t tg = tgid_of(t.pid, o.proc_dir);
			if (tg > 0 && tg != t.pid) {
				r.code = Exit::usage;
				r.error = "pid " + std::to_string(t.pid) +
				          " is a thread of process " + std::to_string(tg);
				r.hint = "give the process id (Tgid) " + std::to_string(tg) +
				         ": membership belongs to the whole process";
			}
		}
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
			std::error_code ec;
			if (m.error().errnum() == ESRCH &&
			    r.status == TargetResult::Status::failed &&
			    std::filesystem::exists(o.proc_dir + "/" + std::to_string(t.pid), ec))
				r.error = "pid " + std::to_string(t.pid) +
				          (r.comm.empty() ? "" : " (" + r.comm + ")") +
				          " has no user memory: a kernel thread or a zombie";
			return r;
		}
		maps = std::move(*m);
	}
	auto ranges = select_ranges(maps, o.ranges, o.regions, r.missing_regions);
	if (ranges.empty() && !o.regions.empty() && o.ranges.empty()) {
		// None of the named regions exists in this process.
		if (r.source != TargetResult::Source::pid) {
			r.status = TargetResult::Status::skipped;
		} else {
			r.status = TargetResult::Status::failed;
			r.code = Exit::not_found;
			std::string names;
			for (const auto &n : r.missing_regions)
				names += (names.empty() ? "" : ", ") + n;
			r.error = "pid " + std::to_string(t.pid) + " has no mapping named " + names;
			for (const auto &n : r.missing_regions)
				if (!n.empty() && n.front() != '[' && n.front() != '/')
					r.hint = "did you mean '[" + n +
					         "]'? (maps show [heap], [stack], "
					         "[anon:NAME] in brackets)";
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
		if (auto k = ksmpart::process_ksm(t.pid, o.proc_dir))
			r.merging_pages = k->merging_pages;
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

json counters_json(const ksmpart::MergeCounters &c, std::size_t ps)
{
	return {{"pages_scanned", c.pages_scanned},
	        {"pages_merged", c.pages_merged},
	        {"pages_already_shared", c.pages_already_shared},
	        {"zero_pages_merged", c.zero_pages_merged},
	        {"pages_unshared", c.pages_unshared},
	        {"pages_failed", c.pages_failed},
	        {"pages_absent", c.pages_absent},
	        {"pages_skipped", c.pages_skipped},
	        {"bytes_saved", bytes_saved(c, ps)}};
}

json stats_fields_json(const ksmpart::Stats &s)
{
	json j = json::object();
	for_each_stat(
	    s, [&](const char *n, std::int64_t v) { j[n] = v; },
	    [&](const char *n, std::uint64_t v) { j[n] = v; });
	return j;
}

/// Notes for targets that succeeded but may not have done what was meant.
void notes(const Options &o, const std::vector<TargetResult> &results, Action a, std::ostream &err)
{
	for (const auto &r : results) {
		if (r.status != TargetResult::Status::ok)
			continue;
		for (const auto &m : r.missing_regions)
			err << "ksmpart-tool: note: pid " << r.pid << " has no region " << m
			    << "\n";
		if (a == Action::merge && !o.ranges.empty() && r.counters.pages_scanned == 0 &&
		    r.counters.pages_absent == 0)
			err << "ksmpart-tool: note: the ranges touch no mergeable memory of pid "
			    << r.pid << " (" << r.counters.pages_skipped
			    << " pages skipped: holes or incompatible mappings)\n";
		if (a == Action::merge && r.pid == 1 && r.joined)
			err << "ksmpart-tool: note: pid 1 (" << r.comm << ") is now a member of '"
			    << o.name << "' until it leaves ('ksmpart-tool leave " << o.name
			    << " 1')\n";
	}
}

int print_results(const Options &o, const MergeHeader &h, const std::vector<TargetResult> &results,
                  Action a, std::ostream &out, std::ostream &err)
{
	const std::size_t ps = page_size();
	if (o.output.json) {
		if (a == Action::merge) {
			out << dump(merge_json(h, results, ps), true) << "\n";
		} else {
			json procs = json::array();
			for (const auto &r : results) {
				json p = {{"pid", r.pid},
				          {"source", source_name(r.source)},
				          {"status", status_name(r.status)}};
				if (a == Action::unmerge) {
					p["bytes_requested"] = r.bytes_requested;
					p["bytes_processed"] = r.bytes_processed;
				}
				if (!r.error.empty())
					p["error"] = r.error;
				procs.push_back(std::move(p));
			}
			json j = {{"partition", o.name}};
			if (h.id)
				j["id"] = h.id;
			j["processes"] = std::move(procs);
			out << dump(j, true) << "\n";
		}
	} else if (results.empty()) {
		out << "no processes\n";
	} else if (a == Action::merge) {
		std::string error;
		auto t = merge_table(results, ps, o.output, error);
		if (!error.empty())
			return fail(err, Exit::usage, "merge: " + error);
		out << t;
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
	notes(o, results, a, err);
	return code(overall(results));
}

int cmd_targets(const Options &o, Action a, std::ostream &out, std::ostream &err)
{
	bool created;
	Op op;
	std::string msg;
	auto part = open_partition(o, a == Action::merge && o.create, created, op, msg);
	if (!part.ok())
		return msg.empty() ? fail(err, op, part.error()) : fail(err, Exit::conflict, msg);
	MergeHeader h{o.name, partition_id(*part), created};
	if (o.all && h.id == 0)
		return fail(err, Exit::unsupported,
		            "leave --all: cannot learn the id of partition '" + o.name +
		                "' (neither the stats ioctl nor fdinfo gives it)");
	std::vector<Target> targets;
	int rc = 0;
	if (!collect_targets(o, h.id, targets, err, rc))
		return rc;
	if (o.all && targets.empty() && !o.output.json) {
		out << "partition '" << o.name << "' has no members you can see\n";
		return 0;
	}
	std::vector<TargetResult> results;
	for (const auto &t : targets)
		results.push_back(act_on(*part, o, t, a));
	return print_results(o, h, results, a, out, err);
}

int cmd_create_open(const Options &o, std::ostream &out, std::ostream &err)
{
	bool created;
	Op op;
	std::string msg;
	auto part = open_partition(o, o.cmd == Command::create, created, op, msg);
	if (!part.ok())
		return msg.empty() ? fail(err, op, part.error()) : fail(err, Exit::conflict, msg);
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

	if (o.output.json) {
		json j = {{"name", o.name}, {"id", id}, {"created", created}};
		if (created) {
			j["mode"] = octal_mode(o.mode);
			j["zero_pages"] = o.zero_pages;
		}
		if (o.hold) {
			j["holder_pid"] = holder;
			j["pidfile"] = pidfile;
		}
		out << dump(j, true) << "\n";
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
		    << "', so it is removed when ksmpart-tool exits; use --hold or 'hold', or "
		       "'merge --create' to create it and add members at once\n";
	return 0;
}

int cmd_hold(const Options &o, std::ostream &out, std::ostream &err)
{
	bool created;
	Op op;
	std::string msg;
	auto part = open_partition(o, o.create, created, op, msg);
	if (!part.ok())
		return msg.empty() ? fail(err, op, part.error()) : fail(err, Exit::conflict, msg);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	::sigprocmask(SIG_BLOCK, &set, nullptr);
	std::uint64_t id = partition_id(*part);
	out << (created ? "created and holding" : "holding") << " partition '" << o.name << "' (id "
	    << id << "); stop with SIGTERM or SIGINT" << std::endl;
	notify_ready("partition '" + o.name + "' id " + std::to_string(id));
	int sig = 0;
	while (::sigwait(&set, &sig) != 0) {
	}
	notify_stopping();
	out << "released partition '" << o.name << "' (signal " << sig << ")" << std::endl;
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
	bool exists = again.ok() || again.error().errnum() != ENOENT;
	if (o.output.json) {
		json j = {{"name", o.name}, {"holder_pid", pid}, {"exists", exists}};
		out << dump(j, true) << "\n";
	} else {
		out << "released partition '" << o.name << "' (holder process " << pid
		    << " stopped)";
		out << (exists ? "; it still exists: members or other fds hold it (see "
		                 "'ksmpart-tool members " +
		                     o.name + "'; empty it with 'leave " + o.name + " --all')\n"
		               : "; it no longer exists\n");
	}
	return 0;
}

// SIGINT/SIGTERM are blocked and polled, so a round is never cut in the
// middle of bookkeeping, and the wait between rounds ends at once.
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

int cmd_stats(const Options &o, std::ostream &out, std::ostream &err)
{
	auto part = ksmpart::Partition::open(o.name);
	if (!part.ok())
		return fail(err, Op::open, part.error());
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	::sigprocmask(SIG_BLOCK, &set, &old);
	int rc = 0;
	for (unsigned n = 1;; n++) {
		auto st = part->stats();
		if (!st.ok()) {
			rc = fail(err, Op::stats, st.error());
			break;
		}
		if (o.format == "json") {
			auto j = stats_json(o.name, *st);
			if (o.interval_given)
				j["time"] = static_cast<std::int64_t>(std::time(nullptr));
			out << dump(j, !o.interval_given) << std::endl;
		} else if (o.format == "prometheus") {
			ksmpart::PartitionInfo info;
			info.id = st->id;
			info.name = o.name;
			info.stats = *st;
			info.flags = st->zero_pages ? ksmpart::open_zero_pages : 0;
			if (auto f = ksmpart::parse_fdinfo([&] {
				    std::string t;
				    std::error_code ec;
				    read_file("/proc/self/fdinfo/" + std::to_string(part->fd()), t,
				              ec);
				    return t;
			    }())) {
				info.uid = f->uid;
				info.gid = f->gid;
				info.mode = f->mode;
			}
			out << prometheus({info}, std::nullopt, page_size()) << std::flush;
		} else {
			if (o.interval_given)
				out << (n > 1 ? "\n" : "") << now_text() << "\n";
			out << stats_text(o.name, *st, page_size(), o.output.bytes) << std::flush;
		}
		if (!o.interval_given || (o.count && n >= o.count) ||
		    stop_requested(set, o.interval))
			break;
	}
	::sigprocmask(SIG_SETMASK, &old, nullptr);
	return rc;
}

int cmd_watch(const Options &o, std::ostream &out, std::ostream &err)
{
	bool created;
	Op op;
	std::string msg;
	auto part = open_partition(o, o.create, created, op, msg);
	if (!part.ok())
		return msg.empty() ? fail(err, op, part.error()) : fail(err, Exit::conflict, msg);
	const std::uint64_t id = partition_id(*part);

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
		if (!collect_targets(o, id, targets, err, rc)) {
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
		if (o.output.json) {
			json j = {{"round", round},
			          {"time", static_cast<std::int64_t>(std::time(nullptr))},
			          {"partition", o.name},
			          {"id", id},
			          {"processes", results.size()},
			          {"new", fresh},
			          {"gone", gone}};
			j.update(counters_json(sum, ps));
			json errors = json::array();
			for (const auto &r : results)
				if (!r.error.empty())
					errors.push_back({{"pid", r.pid}, {"error", r.error}});
			j["errors"] = std::move(errors);
			j["stats"] = st.ok() ? stats_fields_json(*st) : json(nullptr);
			out << dump(j, false) << std::endl;
		} else {
			out << now_text() << " round " << round << ": " << results.size()
			    << " processes (" << fresh.size() << " new, " << gone.size()
			    << " gone), " << sum.pages_merged << " pages merged, saved "
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

const char *source_name(TargetResult::Source s)
{
	switch (s) {
	case TargetResult::Source::pid:
		return "pid";
	case TargetResult::Source::cgroup:
		return "cgroup";
	case TargetResult::Source::unit:
		return "unit";
	case TargetResult::Source::member:
		return "member";
	}
	return "?";
}

const std::vector<Column> &merge_columns()
{
	using K = Column::Kind;
	static const std::vector<Column> c = {
	    {"PID", K::number, true, "process id"},
	    {"COMM", K::text, false, "command name"},
	    {"STATUS", K::text, true, "ok, failed, partial, gone, skipped"},
	    {"JOINED", K::flag, false, "joined the partition in this call"},
	    {"SCANNED", K::number, true, "pages examined"},
	    {"MERGED", K::number, true, "pages newly merged by this call"},
	    {"ALREADY", K::number, false, "pages already merged in this partition"},
	    {"ZERO", K::number, false, "pages replaced by the zero page"},
	    {"CANDIDATES", K::number, false, "pages without a twin yet, kept as candidates"},
	    {"FAILED", K::number, false, "eligible pages not merged this time"},
	    {"ABSENT", K::number, false, "touched pages with no anonymous page"},
	    {"SKIPPED", K::number, false, "pages in holes or incompatible mappings"},
	    {"SAVED", K::bytes, true, "memory saved by this call"},
	    {"MERGING", K::bytes, true, "the process's memory now mapping merged pages"},
	};
	return c;
}

std::string merge_table(const std::vector<TargetResult> &results, std::size_t ps,
                        const OutputOptions &opts, std::string &error)
{
	Output t(merge_columns(), opts, error);
	if (!error.empty())
		return {};
	auto row = [&](Value pid, Value comm, Value status, Value joined,
	               const ksmpart::MergeCounters &c, Value merging) {
		auto n = [](std::uint64_t v) { return Value(static_cast<std::int64_t>(v)); };
		t.add({pid, comm, status, joined, n(c.pages_scanned), n(c.pages_merged),
		       n(c.pages_already_shared), n(c.zero_pages_merged), n(c.pages_unshared),
		       n(c.pages_failed), n(c.pages_absent), n(c.pages_skipped),
		       n(bytes_saved(c, ps)), merging});
	};
	ksmpart::MergeCounters sum;
	std::int64_t merging_sum = 0;
	for (const auto &r : results) {
		Value merging = r.merging_pages >= 0
		                    ? Value(r.merging_pages * static_cast<std::int64_t>(ps))
		                    : Value();
		row(static_cast<std::int64_t>(r.pid), r.comm.empty() ? Value() : Value(r.comm),
		    std::string(status_name(r.status)), r.joined, r.counters, merging);
		sum += r.counters;
		if (r.merging_pages > 0)
			merging_sum += r.merging_pages * static_cast<std::int64_t>(ps);
	}
	if (results.size() > 1 && !opts.raw)
		row(std::string("total"), Value(), std::to_string(results.size()) + " procs",
		    Value(), sum, merging_sum);
	return t.table();
}

json merge_json(const MergeHeader &h, const std::vector<TargetResult> &results, std::size_t ps)
{
	json procs = json::array();
	ksmpart::MergeCounters sum;
	std::size_t failed = 0, gone = 0;
	for (const auto &r : results) {
		json p = {{"pid", r.pid},
		          {"comm", r.comm},
		          {"source", source_name(r.source)},
		          {"status", status_name(r.status)},
		          {"joined", r.joined},
		          {"bytes_requested", r.bytes_requested},
		          {"bytes_processed", r.bytes_processed}};
		p.update(counters_json(r.counters, ps));
		p["merging_bytes"] = r.merging_pages >= 0
		                         ? json(r.merging_pages * static_cast<std::int64_t>(ps))
		                         : json(nullptr);
		if (!r.error.empty())
			p["error"] = r.error;
		procs.push_back(std::move(p));
		sum += r.counters;
		if (r.status == TargetResult::Status::failed ||
		    r.status == TargetResult::Status::partial)
			failed++;
		if (r.status == TargetResult::Status::gone)
			gone++;
	}
	json total = {{"processes", results.size()}, {"failed", failed}, {"gone", gone}};
	total.update(counters_json(sum, ps));
	json j = {{"partition", h.name}};
	j["id"] = h.id ? json(h.id) : json(nullptr);
	j["created"] = h.created;
	j["page_size"] = ps;
	j["processes"] = std::move(procs);
	j["total"] = std::move(total);
	return j;
}

std::string stats_text(const std::string &name, const ksmpart::Stats &s, std::size_t ps, bool bytes)
{
	std::vector<std::pair<std::string, std::string>> lines;
	auto size = [&](std::int64_t b) {
		return bytes ? std::to_string(b) + " bytes" : human_bytes(b);
	};
	lines.push_back({"partition", name});
	lines.push_back({"id", std::to_string(s.id)});
	lines.push_back({"zero_pages", s.zero_pages ? "on" : "off"});
	lines.push_back({"saved", size(static_cast<std::int64_t>(saved_bytes(s, ps)))});
	for_each_stat(
	    s,
	    [&](const char *n, std::int64_t v) {
		    lines.push_back({n, size(v)});
	    },
	    [&](const char *n, std::uint64_t v) {
		    std::string_view sv(n);
		    if (sv.ends_with("_time_ns")) {
			    char buf[32];
			    std::snprintf(buf, sizeof(buf), "%.3f s", static_cast<double>(v) / 1e9);
			    lines.push_back({std::string(sv.substr(0, sv.size() - 3)), buf});
		    } else {
			    lines.push_back({n, std::to_string(v)});
		    }
	    });
	std::size_t w = 0;
	for (const auto &[k, v] : lines)
		w = std::max(w, k.size());
	std::string out;
	for (const auto &[k, v] : lines)
		out += k + std::string(w + 2 - k.size(), ' ') + v + "\n";
	return out;
}

json stats_json(const std::string &name, const ksmpart::Stats &s)
{
	json j = {{"name", name}, {"id", s.id}, {"zero_pages", s.zero_pages}};
	j.update(stats_fields_json(s));
	return j;
}

int run(const Options &o, std::ostream &out, std::ostream &err)
{
	set_json_errors(o.output.json ? &out : nullptr);
	if (!o.ipc_ns.empty()) {
		// Partition names live in an IPC namespace; enter the one asked for
		// before any name is looked up (a holder started from here stays in it).
		int fd = ::open(o.ipc_ns.c_str(), O_RDONLY | O_CLOEXEC);
		if (fd < 0 || ::setns(fd, CLONE_NEWIPC) < 0) {
			int e = errno;
			if (fd >= 0)
				::close(fd);
			std::string what = "cannot enter the IPC namespace " + o.ipc_ns + ": ";
			if (e == ENOENT || e == ESRCH)
				return fail(err, Exit::not_found, what + "no such process or file");
			if (e == EPERM)
				return fail(
				    err, Exit::permission,
				    what + "needs CAP_SYS_ADMIN in the namespace's user namespace");
			if (e == EINVAL)
				return fail(err, Exit::usage, what + "not an IPC namespace");
			return fail(err, Exit::failure, what + std::strerror(e));
		}
		::close(fd);
	}
	switch (o.cmd) {
	case Command::create:
	case Command::open:
		return cmd_create_open(o, out, err);
	case Command::hold:
		return cmd_hold(o, out, err);
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
	case Command::members:
		return cmd_members(o, out, err);
	case Command::which:
		return cmd_which(o, out, err);
	case Command::watch:
		return cmd_watch(o, out, err);
	case Command::release:
		return cmd_release(o, out, err);
	case Command::daemon:
		return cmd_daemon(o, out, err);
	case Command::none:
		break;
	}
	return fail(err, Exit::usage, "no command");
}

} // namespace ksmtool
