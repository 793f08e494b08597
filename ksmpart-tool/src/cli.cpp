// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli.hpp"
#include "range_arg.hpp"

#include <CLI/CLI.hpp>
#include <ksmpart/ksmpart.hpp>
#include <linux/ksmpart.h>

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

namespace {

const char *const main_footer =
    R"(A partition exists while an fd refers to it or a process is a member of it:
a merged process keeps its partition alive until it leaves, execs or exits.
A partition created by this tool therefore vanishes when the tool exits unless
it is used in the same invocation (merge --create, watch --create) or held by
a holder process (create --hold, released with 'release').

Exit status:
  0  success
  1  other failure
  2  usage error (bad command line)
  3  kernel without ksmpart support (ENOSYS) or without the feature used
  4  permission denied (ptrace access, partition mode, or a capability)
  5  no such process, partition, member, cgroup, region or holder
  6  partial: some targets succeeded, others failed
  7  conflict: partition exists (--excl), held already, or the process is
     a member of another partition)";

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
		                         : "mode must be octal permission bits within 0666";
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

void add_name(CLI::App *sub, Options &o, const std::string &desc)
{
	sub->add_option("NAME", o.name, desc)->required()->check(name_validator())->type_name("");
}

void add_targets(CLI::App *sub, Options &o)
{
	sub->add_option("PID", o.pids, "process ids to act on")
	    ->check(positive_validator())
	    ->type_name("");
	sub->add_option("--cgroup", o.cgroups,
	                "every process of this cgroup v2 directory and of all cgroups below "
	                "it (a path, or relative to /sys/fs/cgroup); repeatable")
	    ->type_name("DIR")
	    ->allow_extra_args(false);
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
		sub->add_flag("--create", o.create, "create the partition if it does not exist");
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
	sub->add_flag("--json", o.json, "machine-readable JSON output");
}

void add_pidfile(CLI::App *sub, Options &o)
{
	sub->add_option("--pidfile", o.pidfile,
	                "pid file of the holder (default /run/ksmpart/NAME.pid for root, else "
	                "$XDG_RUNTIME_DIR/ksmpart/NAME.pid)")
	    ->type_name("PATH");
}

} // namespace

ParseOutcome parse_command_line(int argc, const char *const *argv, Options &o)
{
	CLI::App app{"Manage ksmpart partitions: partitioned, synchronous KSM page merging.",
	             "ksmpart-tool"};
	app.set_version_flag("--version", std::string(ksmpart::version()));
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
	    "open", "Open an existing named partition: check it exists and you may use it");
	add_name(open, o, "partition name");
	open->add_flag("--hold", o.hold,
	               "leave a holder process that keeps the partition until 'release'");
	add_pidfile(open, o);
	add_json(open, o);

	auto *merge = app.add_subcommand(
	    "merge", "Merge identical pages of processes within a partition (joining them)");
	add_name(merge, o, "partition name");
	add_targets(merge, o);
	add_selection(merge, o);
	add_creation(merge, o, true);
	add_json(merge, o);
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
	add_json(leave, o);

	auto *stats = app.add_subcommand("stats", "Show the statistics of a named partition");
	add_name(stats, o, "partition name");
	add_json(stats, o);

	auto *list = app.add_subcommand(
	    "list", "List all partitions of the system (from sysfs; needs root)");
	add_json(list, o);
	list->add_option("--sysfs-dir", o.sysfs_dir, "partitions directory (for tests)")->group("");

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

	ParseOutcome r;
	std::ostringstream out, err;
	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		int rc = app.exit(e, out, err);
		r.exit_code = rc == 0 ? 0 : 2;
		r.out = out.str();
		r.err = err.str();
		return r;
	}

	const std::pair<CLI::App *, Command> subs[] = {
	    {create, Command::create},   {open, Command::open},   {merge, Command::merge},
	    {unmerge, Command::unmerge}, {leave, Command::leave}, {stats, Command::stats},
	    {list, Command::list},       {watch, Command::watch}, {release, Command::release},
	};
	for (auto &[sub, cmd] : subs)
		if (sub->parsed())
			o.cmd = cmd;

	auto usage = [&](const std::string &msg) {
		r.exit_code = 2;
		r.err = msg + "\nRun with --help for more information.\n";
		return r;
	};
	o.mode = *parse_mode(o.mode_arg);
	for (const auto &a : o.range_args) {
		std::string why;
		o.ranges.push_back(*parse_range(a, why));
	}
	bool targets = o.cmd == Command::merge || o.cmd == Command::unmerge ||
	               o.cmd == Command::leave || o.cmd == Command::watch;
	if (targets && o.pids.empty() && o.cgroups.empty())
		return usage("ksmpart-tool " + std::string(app.get_subcommands()[0]->get_name()) +
		             ": no target: give PIDs and/or --cgroup DIR");
	if (o.cmd == Command::merge || o.cmd == Command::watch) {
		bool given = (merge->count("--mode") + watch->count("--mode") +
		              merge->count("--zero-pages") + watch->count("--zero-pages") +
		              merge->count("--excl") + watch->count("--excl")) > 0;
		if (given && !o.create)
			return usage("--mode, --zero-pages and --excl need --create");
	}
	if (!o.pidfile.empty() && o.cmd != Command::release && !o.hold)
		return usage("--pidfile needs --hold");
	if (o.once) {
		if (o.count > 1)
			return usage("--once and --count " + std::to_string(o.count) +
			             " contradict each other");
		o.count = 1;
	}
	return r;
}

} // namespace ksmtool
