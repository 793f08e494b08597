// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli.hpp"
#include "range_arg.hpp"

#include <CLI/CLI.hpp>
#include <ksmpart/ksmpart.hpp>
#include <linux/ksmpart.h>

#include <sys/utsname.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace ksmtool {

std::string check_partition_name(const std::string &name)
{
	if (name.empty())
		return "a partition name must not be empty";
	if (name.size() > KSM_NAME_MAX)
		return "a partition name has at most " + std::to_string(KSM_NAME_MAX) + " bytes";
	if (name[0] == '.')
		return "a partition name must not start with '.'";
	for (char c : name) {
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == ':' ||
		          c == '@';
		if (!ok)
			return std::string("invalid character '") + c +
			       "' in partition name (allowed: A-Z a-z 0-9 . _ - : @)";
	}
	return {};
}

std::optional<unsigned> parse_mode(const std::string &s)
{
	if (s.empty() || s.size() > 4)
		return std::nullopt;
	unsigned v = 0;
	for (char c : s) {
		if (c < '0' || c > '7')
			return std::nullopt;
		v = v * 8 + (c - '0');
	}
	if (v & ~0666u)
		return std::nullopt;
	return v;
}

std::string did_you_mean(const std::string &word, const std::vector<std::string> &candidates)
{
	auto distance = [](const std::string &a, const std::string &b) {
		std::vector<std::vector<std::size_t>> d(a.size() + 1,
		                                        std::vector<std::size_t>(b.size() + 1));
		for (std::size_t i = 0; i <= a.size(); i++)
			d[i][0] = i;
		for (std::size_t j = 0; j <= b.size(); j++)
			d[0][j] = j;
		for (std::size_t i = 1; i <= a.size(); i++)
			for (std::size_t j = 1; j <= b.size(); j++) {
				std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
				d[i][j] = std::min(
				    {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
				if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
					d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
			}
		return d[a.size()][b.size()];
	};
	std::string best;
	std::size_t best_d = 3;
	for (const auto &c : candidates) {
		std::size_t dist = distance(word, c);
		if (word.size() >= 3 && c.starts_with(word))
			dist = std::min<std::size_t>(dist, 1);
		if (dist < best_d) {
			best_d = dist;
			best = c;
		}
	}
	return best;
}

namespace {

const char *const main_footer =
    R"(A partition exists while an fd refers to it or a process is a member of it:
a merged process keeps its partition alive until it leaves, execs or exits.
A partition created by this tool therefore vanishes when the tool exits unless
it is used in the same invocation (merge --create, watch --create) or held
(hold NAME in the foreground, or create --hold, released with 'release').

Exit status:
  0  success
  1  other failure (including a write error on standard output)
  2  usage error (bad command line)
  3  kernel without ksmpart support (ENOSYS) or without the feature used
  4  permission denied (ptrace access, partition mode, a capability, or
     partitions disabled by the administrator)
  5  no such process, partition, member, cgroup, unit, region or holder
  6  partial: some targets succeeded, others failed
  7  conflict: partition exists (--excl, or another user's name with
     --create), held already, or the process is a member of another one)";

CLI::Validator name_validator()
{
	return CLI::Validator([](std::string &s) { return check_partition_name(s); }, "",
	                      "partition name");
}

CLI::Validator mode_validator()
{
	return CLI::Validator(
	    [](std::string &s) {
		    return parse_mode(s) ? std::string()
		                         : "'" + s + "' is not octal permission bits within 0666";
	    },
	    "", "mode");
}

CLI::Validator range_validator()
{
	return CLI::Validator(
	    [](std::string &s) {
		    std::string why;
		    return parse_range(s, why) ? std::string() : "bad range '" + s + "': " + why;
	    },
	    "", "range");
}

CLI::Validator positive_validator()
{
	return CLI::Validator(
	    [](std::string &s) {
		    double v = 0;
		    return CLI::detail::lexical_cast(s, v) && v > 0
		               ? std::string()
		               : "'" + s + "' is not a positive number";
	    },
	    "", "positive");
}

CLI::Validator pid_validator()
{
	return CLI::Validator(
	    [](std::string &s) {
		    long long v = 0;
		    std::size_t used = 0;
		    try {
			    v = std::stoll(s, &used);
		    } catch (...) {
			    used = 0;
		    }
		    return used == s.size() && v > 0 && v <= 4194304
		               ? std::string()
		               : "'" + s + "' is not a process id (a positive integer)";
	    },
	    "", "pid");
}

void add_name(CLI::App *sub, Options &o, const std::string &desc)
{
	sub->add_option("NAME", o.name, desc)->required()->check(name_validator())->type_name("");
	// Names are per IPC namespace: say which one.
	auto *ns = sub->add_option("--ipc-ns", o.ipc_ns,
	                           "find NAME in this IPC namespace (e.g. /proc/PID/ns/ipc, or a "
	                           "bind mount of it); needs CAP_SYS_ADMIN over it")
	               ->type_name("PATH");
	sub->add_option("--target", o.target, "find NAME in the IPC namespace of process PID")
	    ->check(pid_validator())
	    ->type_name("PID")
	    ->excludes(ns);
}

void add_cgroups(CLI::App *sub, Options &o)
{
	sub->add_option("--cgroup", o.cgroups,
	                "every process of this cgroup v2 and of all cgroups below it: a path "
	                "as /proc/PID/cgroup and systemd show it (/system.slice/x.service), "
	                "or below the cgroup2 mount; repeatable")
	    ->type_name("PATH")
	    ->allow_extra_args(false);
	sub->add_option("--unit", o.units,
	                "every process of this systemd unit or slice (NAME.service, "
	                "NAME.scope, NAME.slice); repeatable")
	    ->type_name("UNIT")
	    ->allow_extra_args(false);
}

void add_targets(CLI::App *sub, Options &o)
{
	sub->add_option("PID", o.pids, "process ids to act on")
	    ->check(pid_validator())
	    ->type_name("");
	add_cgroups(sub, o);
}

void add_selection(CLI::App *sub, Options &o)
{
	sub->add_option("--range", o.range_args,
	                "only this address range: START-END in hexadecimal as in "
	                "/proc/PID/maps, or START+SIZE (SIZE with K/M/G suffix); repeatable")
	    ->check(range_validator())
	    ->type_name("RANGE")
	    ->allow_extra_args(false);
	sub->add_option("--region", o.regions,
	                "only the mappings with this name in /proc/PID/maps, e.g. [heap], "
	                "[stack], [anon:NAME] or a file path; repeatable")
	    ->type_name("NAME")
	    ->allow_extra_args(false); // else CLI11 reads "[heap]" as a list
}

void add_creation(CLI::App *sub, Options &o, bool optional_create)
{
	if (optional_create)
		sub->add_flag("--create", o.create,
		              "create the partition if no partition of this name exists (never "
		              "joins another user's partition of that name)");
	sub->add_option("--mode", o.mode_arg,
	                "permission bits of a new partition, octal within 0666 (default 0600); "
	                "opening needs read and write")
	    ->check(mode_validator())
	    ->type_name("MODE");
	sub->add_flag("--zero-pages", o.zero_pages,
	              "new partition merges zero-filled pages with the shared zero page "
	              "(KSM_OPEN_ZERO_PAGES)");
	sub->add_flag("--excl", o.excl, "fail if the partition exists already");
}

void add_json(CLI::App *sub, Options &o)
{
	sub->add_flag("-J,--json", o.output.json, "JSON output");
}

void add_output(CLI::App *sub, Options &o, const std::string &columns_help)
{
	add_json(sub, o);
	sub->add_option("-o,--output", o.output.columns,
	                "columns to print, comma-separated (+COL adds to the default); " +
	                    columns_help)
	    ->type_name("LIST");
	sub->add_flag("-n,--noheadings", o.output.noheadings, "do not print a header line");
	sub->add_flag("-r,--raw", o.output.raw, "raw output: columns separated by one space");
	sub->add_flag("-b,--bytes", o.output.bytes, "sizes in bytes rather than in human units");
}

void add_pidfile(CLI::App *sub, Options &o)
{
	sub->add_option("--pidfile", o.pidfile,
	                "pid file of the holder (default /run/ksmpart/NAME.pid for root, else "
	                "$XDG_RUNTIME_DIR/ksmpart/NAME.pid)")
	    ->type_name("PATH");
}

void add_test_hooks(CLI::App *sub, Options &o)
{
	sub->add_option("--proc-dir", o.proc_dir, "")->group("");
	sub->add_option("--table", o.table_path, "")->group("");
	sub->add_option("--cgroup-root", o.cgroup_root, "")->group("");
	sub->add_option("--socket", o.socket_path, "")->group("");
}

/// util-linux wording for a CLI11 message.
std::string rephrase(const std::string &what)
{
	const std::string conv = "Could not convert: ";
	if (what.starts_with(conv)) {
		auto rest = what.substr(conv.size());
		auto eq = rest.find(" = ");
		if (eq != rest.npos)
			return "invalid value '" + rest.substr(eq + 3) + "' for " +
			       rest.substr(0, eq);
	}
	const std::string extra = "The following argument was not expected: ";
	if (what.starts_with(extra))
		return "unexpected argument '" + what.substr(extra.size()) + "'";
	const std::string extras = "The following arguments were not expected: ";
	if (what.starts_with(extras))
		return "unexpected arguments: " + what.substr(extras.size());
	return what;
}

} // namespace

/// The version, and whether the running kernel can serve it: the first thing
/// to ask on a freshly installed machine ("is this the ksmpart kernel?").
static std::string version_text()
{
	std::string text = "ksmpart-tool " + std::string(ksmpart::version()) + " (libksmpart " +
	                   std::string(ksmpart::version()) + ")\n";
	struct utsname uts {};
	text += "kernel " + std::string(uname(&uts) == 0 ? uts.release : "?") + ": ";
	if (!ksmpart::probe()) {
		return text + "no ksmpart (needs a kernel with CONFIG_KSM_PARTITION)";
	}
	std::ifstream enabled("/sys/kernel/mm/ksm/partitions/enabled");
	int on = -1;
	enabled >> on;
	if (on == 0) {
		return text +
		       "ksmpart available, disabled (/sys/kernel/mm/ksm/partitions/enabled is 0)";
	}
	return text + "ksmpart available";
}

ParseOutcome parse_command_line(int argc, const char *const *argv, Options &o)
{
	CLI::App app{"Manage ksmpart partitions: partitioned, synchronous KSM page merging.",
	             "ksmpart-tool"};
	app.set_version_flag("-V,--version", version_text);
	app.require_subcommand(1);
	app.footer(main_footer);

	auto *create = app.add_subcommand(
	    "create", "Create a named partition (keep it with --hold; without, it is removed "
	              "again when the tool exits)");
	add_name(create, o,
	         "partition name: 1-255 bytes of A-Z a-z 0-9 . _ - : @, not "
	         "starting with '.'");
	add_creation(create, o, false);
	create->add_flag("--hold", o.hold,
	                 "leave a holder process that keeps the partition until 'release'");
	add_pidfile(create, o);
	add_json(create, o);

	auto *open = app.add_subcommand(
	    "open", "Open an existing named partition, whoever owns it: check it exists and "
	            "you may use it");
	add_name(open, o, "partition name");
	open->add_flag("--hold", o.hold,
	               "leave a holder process that keeps the partition until 'release'");
	add_pidfile(open, o);
	add_json(open, o);

	auto *hold = app.add_subcommand(
	    "hold", "Hold a partition open in the foreground until SIGTERM or SIGINT (for "
	            "systemd and other supervisors; tells systemd when ready)");
	add_name(hold, o, "partition name");
	add_creation(hold, o, true);

	auto *merge = app.add_subcommand(
	    "merge", "Merge identical pages of processes within a partition (joining them)");
	add_name(merge, o, "partition name");
	add_targets(merge, o);
	add_selection(merge, o);
	add_creation(merge, o, true);
	add_output(merge, o,
	           "PID COMM STATUS JOINED SCANNED MERGED ALREADY ZERO CANDIDATES FAILED ABSENT "
	           "SKIPPED SAVED MERGING");
	merge->footer("Without --range or --region all private anonymous memory is merged.\n"
	              "Merging another process needs ptrace attach access to it.\n"
	              "A merged process is a member: it keeps the partition alive.");

	auto *unmerge = app.add_subcommand(
	    "unmerge", "Break the sharing of members' pages (they stay members)");
	add_name(unmerge, o, "partition name");
	add_targets(unmerge, o);
	add_selection(unmerge, o);
	add_json(unmerge, o);

	auto *leave = app.add_subcommand(
	    "leave", "Unmerge all pages of processes and remove them from the partition");
	add_name(leave, o, "partition name");
	add_targets(leave, o);
	leave->add_flag("--all", o.all, "every member of the partition");
	add_json(leave, o);

	auto *stats = app.add_subcommand(
	    "stats", "Show the statistics of a named partition (once, or every --interval)");
	add_name(stats, o, "partition name");
	add_json(stats, o);
	stats->add_flag("-b,--bytes", o.output.bytes, "sizes in bytes rather than in human units");
	stats
	    ->add_option("--format", o.format,
	                 "text (default), json, or prometheus (text exposition format, e.g. for "
	                 "node_exporter's textfile collector)")
	    ->check(CLI::IsMember({"text", "json", "prometheus"}))
	    ->type_name("FORMAT");
	stats->add_option("--interval", o.interval, "print again every SECONDS (read-only)")
	    ->check(positive_validator())
	    ->type_name("SECONDS");
	stats->add_option("--count", o.count, "with --interval: stop after N reports")
	    ->check(positive_validator())
	    ->type_name("N");

	auto *list = app.add_subcommand(
	    "list", "List partitions: all of the system for root (/proc/ksm_partitions), else "
	            "those whose fds your processes hold");
	add_output(list, o,
	           "ID NAME UID GID MODE ZERO MEMBERS PIDS KSM-PAGES SHARING CANDIDATES "
	           "ZERO-PAGES RMAP-ITEMS SAVED PROFIT");
	add_test_hooks(list, o);

	auto *members = app.add_subcommand(
	    "members", "List the member processes of a partition (from /proc/PID/ksm_stat)");
	members->add_option("NAME", o.name, "partition name")
	    ->check(name_validator())
	    ->type_name("");
	members->add_option("--id", o.id, "the partition with this id instead of a name")
	    ->type_name("ID");
	add_output(members, o, "PID COMM CGROUP PARTITION MERGING ZERO PROFIT");
	add_test_hooks(members, o);

	auto *which = app.add_subcommand("which", "Show which partition processes are members of");
	which->add_option("PID", o.pids, "process ids")
	    ->required()
	    ->check(pid_validator())
	    ->type_name("");
	add_output(which, o, "PID COMM PARTITION NAME");
	add_test_hooks(which, o);

	auto *watch = app.add_subcommand(
	    "watch", "Keep the processes of cgroups merged into a partition, at an interval");
	add_name(watch, o, "partition name");
	add_targets(watch, o);
	add_selection(watch, o);
	add_creation(watch, o, true);
	watch->add_option("--interval", o.interval, "seconds between rounds (default 10)")
	    ->check(positive_validator())
	    ->type_name("SECONDS");
	watch->add_flag("--once", o.once, "one round, then exit");
	watch->add_option("--count", o.count, "stop after N rounds (default: until a signal)")
	    ->check(positive_validator())
	    ->type_name("N");
	add_json(watch, o);
	watch->footer("Each round lists the cgroups' processes again and merges every one of\n"
	              "them (new processes join); processes that exit are tolerated. SIGINT or\n"
	              "SIGTERM ends it after the current process. --json prints one line per\n"
	              "round. The watch holds the partition open while it runs.");

	auto *release = app.add_subcommand(
	    "release", "Stop the holder process left by create --hold or open --hold");
	add_name(release, o, "partition name");
	add_pidfile(release, o);
	add_json(release, o);

	auto *daemon = app.add_subcommand(
	    "daemon", "Ask ksmpartd what it holds (status) and what its rules matched (rules)");
	daemon->add_option("WHAT", o.daemon_what, "status (default) or rules")
	    ->check(CLI::IsMember({"status", "rules"}))
	    ->type_name("");
	add_json(daemon, o);
	daemon
	    ->add_option("--socket", o.socket_path,
	                 "control socket of ksmpartd (default /run/ksmpartd/control.sock)")
	    ->type_name("PATH");

	const std::pair<CLI::App *, Command> subs[] = {
	    {create, Command::create}, {open, Command::open},       {hold, Command::hold},
	    {merge, Command::merge},   {unmerge, Command::unmerge}, {leave, Command::leave},
	    {stats, Command::stats},   {list, Command::list},       {members, Command::members},
	    {which, Command::which},   {watch, Command::watch},     {release, Command::release},
	    {daemon, Command::daemon},
	};

	ParseOutcome r;
	auto usage = [&](const std::string &msg, const std::string &sub = "") {
		r.exit_code = 2;
		r.err = "ksmpart-tool: " + msg + "\nTry 'ksmpart-tool " +
		        (sub.empty() ? "" : sub + " ") + "--help' for more information.\n";
		return r;
	};
	if (argc <= 1) {
		r.exit_code = 2;
		r.err = app.help();
		return r;
	}
	// An unknown command: say so, with the likeliest one meant.
	std::string first = argv[1];
	if (!first.starts_with("-")) {
		std::vector<std::string> names;
		for (auto &[sub, cmd] : subs)
			names.push_back(sub->get_name());
		if (std::find(names.begin(), names.end(), first) == names.end()) {
			auto guess = did_you_mean(first, names);
			return usage("unknown command '" + first + "'" +
			             (guess.empty() ? "" : " (did you mean '" + guess + "'?)"));
		}
	}

	std::ostringstream out, err;
	try {
		app.parse(argc, argv);
	} catch (const CLI::CallForHelp &e) {
		app.exit(e, out, err);
		r.exit_code = 0;
		r.out = out.str();
		return r;
	} catch (const CLI::CallForAllHelp &e) {
		app.exit(e, out, err);
		r.exit_code = 0;
		r.out = out.str();
		return r;
	} catch (const CLI::CallForVersion &e) {
		app.exit(e, out, err);
		r.exit_code = 0;
		r.out = out.str();
		return r;
	} catch (const CLI::ParseError &e) {
		std::string sub;
		for (auto &[s, cmd] : subs)
			if (s->parsed())
				sub = s->get_name();
		return usage((sub.empty() ? "" : sub + ": ") + rephrase(e.what()), sub);
	}

	std::string subname;
	for (auto &[sub, cmd] : subs)
		if (sub->parsed()) {
			o.cmd = cmd;
			subname = sub->get_name();
		}

	o.mode = *parse_mode(o.mode_arg);
	for (const auto &a : o.range_args) {
		std::string why;
		o.ranges.push_back(*parse_range(a, why));
	}
	bool targets = o.cmd == Command::merge || o.cmd == Command::unmerge ||
	               o.cmd == Command::leave || o.cmd == Command::watch;
	if (targets && o.pids.empty() && o.cgroups.empty() && o.units.empty() && !o.all)
		return usage(subname + ": no target: give PIDs, --cgroup PATH or --unit UNIT" +
		                 (o.cmd == Command::leave ? ", or --all" : ""),
		             subname);
	if (o.all && (!o.pids.empty() || !o.cgroups.empty() || !o.units.empty()))
		return usage("leave: --all and explicit targets exclude each other", subname);
	if (o.cmd == Command::merge || o.cmd == Command::watch || o.cmd == Command::hold) {
		bool given = false;
		for (auto *s : {merge, watch, hold})
			given |=
			    s->count("--mode") + s->count("--zero-pages") + s->count("--excl") > 0;
		if (given && !o.create)
			return usage(subname + ": --mode, --zero-pages and --excl need --create",
			             subname);
	}
	if (!o.pidfile.empty() && o.cmd != Command::release && !o.hold)
		return usage(subname + ": --pidfile needs --hold", subname);
	if (o.cmd == Command::members && o.name.empty() && o.id == 0)
		return usage("members: give a partition NAME or --id ID", subname);
	if (o.cmd == Command::members && !o.name.empty() && o.id != 0)
		return usage("members: give NAME or --id, not both", subname);
	if (o.once) {
		if (o.count > 1)
			return usage("watch: --once and --count " + std::to_string(o.count) +
			                 " contradict each other",
			             subname);
		o.count = 1;
	}
	if (o.cmd == Command::stats) {
		o.interval_given = stats->count("--interval") > 0;
		if (o.output.json)
			o.format = "json";
		if (stats->count("--count") && !o.interval_given)
			return usage("stats: --count needs --interval", subname);
	}
	if (o.cmd == Command::daemon && o.daemon_what.empty())
		o.daemon_what = "status";
	if (o.target > 0)
		o.ipc_ns = "/proc/" + std::to_string(o.target) + "/ns/ipc";
	return r;
}

} // namespace ksmtool
