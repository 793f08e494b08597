// SPDX-License-Identifier: GPL-2.0-or-later
// The command line of ksmpart-tool: subcommands, options, validation.
// Parsing is separate from running so that tests can check it.
#pragma once

#include <ksmpart/ranges.hpp>

#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace ksmtool {

enum class Command { none, create, open, merge, unmerge, leave, stats, list, watch, release };

/// Everything the command line can say, after validation and conversion.
struct Options {
	Command cmd = Command::none;
	std::string name; ///< partition name (all but list)

	// Targets of merge/unmerge/leave/watch.
	std::vector<pid_t> pids;
	std::vector<std::string> cgroups;

	// Selection within each target (merge/unmerge/watch); empty: all anonymous memory.
	std::vector<std::string> range_args;
	std::vector<ksmpart::Range> ranges; ///< parsed range_args
	std::vector<std::string> regions;

	// Creation (create/open --hold, merge/watch --create).
	bool create = false; ///< merge/watch: create the partition if missing
	bool excl = false;
	bool zero_pages = false;
	std::string mode_arg = "0600";
	unsigned mode = 0600;

	// create/open --hold, release.
	bool hold = false;
	std::string pidfile; ///< empty: the default (holder.hpp)

	// watch.
	double interval = 10.0; ///< seconds between rounds
	bool once = false;
	unsigned count = 0; ///< stop after this many rounds; 0: until a signal

	bool json = false;
	std::string sysfs_dir = "/sys/kernel/mm/ksm/partitions"; ///< list (tests override)
};

/// Result of parsing: either options to run, or an exit code with the text
/// to print (help, version, or a usage error on `err`).
struct ParseOutcome {
	std::optional<int> exit_code; ///< set: do not run, exit with this
	std::string out;              ///< text for stdout (help, version)
	std::string err;              ///< text for stderr (usage errors)
};

/// Parse argv. Usage errors give exit code 2 with a message naming the
/// problem; --help and --version give 0.
ParseOutcome parse_command_line(int argc, const char *const *argv, Options &opts);

/// "" if `name` is a valid partition name (docs/abi.md 2.1), else why not.
std::string check_partition_name(const std::string &name);

/// Permission bits of --mode: octal, only bits of 0666. nullopt if invalid.
std::optional<unsigned> parse_mode(const std::string &s);

} // namespace ksmtool
