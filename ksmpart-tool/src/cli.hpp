// SPDX-License-Identifier: GPL-2.0-or-later
// The command line of ksmpart-tool: subcommands, options, validation.
// Parsing is separate from running so that tests can check it.
#pragma once

#include <ksmpart/ranges.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace ksmtool {

enum class Command {
	none,
	create,
	open,
	hold,
	merge,
	unmerge,
	leave,
	stats,
	list,
	members,
	which,
	watch,
	release,
	daemon,
};

/// util-linux style output options (-o, -n, -r, -J, -b).
struct OutputOptions {
	std::string columns;     ///< -o: comma-separated column names; "+X" appends
	bool noheadings = false; ///< -n
	bool raw = false;        ///< -r
	bool json = false;       ///< -J / --json
	bool bytes = false;      ///< -b: sizes in bytes, not human units
};

/// Everything the command line can say, after validation and conversion.
struct Options {
	Command cmd = Command::none;
	std::string name;        ///< partition name (most commands)
	std::uint64_t id = 0;    ///< members --id
	std::string daemon_what; ///< daemon: status, rules

	// Targets of merge/unmerge/leave/watch, and which.
	std::vector<pid_t> pids;
	std::vector<std::string> cgroups;
	std::vector<std::string> units; ///< systemd units/slices (--unit)
	bool all = false;               ///< leave --all: every member

	// Selection within each target (merge/unmerge/watch); empty: all anonymous memory.
	std::vector<std::string> range_args;
	std::vector<ksmpart::Range> ranges; ///< parsed range_args
	std::vector<std::string> regions;

	// Creation (create, hold --create, merge/watch --create).
	bool create = false; ///< merge/watch/hold: create the partition if missing
	bool excl = false;
	bool zero_pages = false;
	std::string mode_arg = "0600";
	unsigned mode = 0600;

	// create/open --hold, release.
	bool hold = false;
	std::string pidfile; ///< empty: the default (holder.hpp)

	// watch, stats --interval.
	double interval = 10.0; ///< seconds between rounds
	bool interval_given = false;
	bool once = false;
	unsigned count = 0; ///< stop after this many rounds; 0: until a signal

	std::string format = "text"; ///< stats --format: text, json, prometheus
	/// --ipc-ns PATH / --target PID: act in that IPC namespace, where
	/// partition names live (e.g. a pod's).
	std::string ipc_ns;
	pid_t target = 0;
	OutputOptions output;

	// Test hooks (hidden options).
	std::string proc_dir = "/proc";
	std::string table_path = "/proc/ksm_partitions";
	std::string cgroup_root; ///< empty: from /proc/self/mountinfo
	std::string socket_path = "/run/ksmpartd/control.sock";
};

/// Result of parsing: either options to run, or an exit code with the text
/// to print (help, version, or a usage error on `err`).
struct ParseOutcome {
	std::optional<int> exit_code; ///< set: do not run, exit with this
	std::string out;              ///< text for stdout (help, version)
	std::string err;              ///< text for stderr (usage errors)
};

/// Parse argv. Usage errors give exit code 2 with a message prefixed
/// "ksmpart-tool: " naming the problem; --help and --version give 0; no
/// arguments at all print the usage to stderr with exit code 2.
ParseOutcome parse_command_line(int argc, const char *const *argv, Options &opts);

/// "" if `name` is a valid partition name (docs/abi.md 2.1), else why not.
std::string check_partition_name(const std::string &name);

/// Permission bits of --mode: octal, only bits of 0666. nullopt if invalid.
std::optional<unsigned> parse_mode(const std::string &s);

/// The closest of `candidates` to `word` if it is close enough to be a
/// likely typo (Damerau-Levenshtein distance <= 2, or a prefix), else "".
std::string did_you_mean(const std::string &word, const std::vector<std::string> &candidates);

} // namespace ksmtool
