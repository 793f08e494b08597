// SPDX-License-Identifier: GPL-2.0-or-later
// Exit codes of ksmpart-tool and messages that name the cause of a failure.
#pragma once

#include <string>
#include <system_error>
#include <vector>

namespace ksmtool {

/// Distinct, documented exit codes (see ksmpart-tool(1), EXIT STATUS).
enum class Exit : int {
	ok = 0,
	failure = 1,     ///< any other error, and write errors on standard output
	usage = 2,       ///< bad command line
	unsupported = 3, ///< kernel without ksmpart (ENOSYS) or without the feature used
	permission = 4,  ///< ptrace access, partition mode, a capability, or partitions disabled
	not_found = 5,   ///< no such process, partition, member, cgroup, unit, region or holder
	partial = 6,     ///< some targets done, others failed
	conflict =
	    7, ///< partition exists (--excl / another user's), held, or process in another one
};

inline int code(Exit e)
{
	return static_cast<int>(e);
}

/// The operation that failed, to phrase the message and pick the code.
enum class Op {
	open,    ///< ksm_open of a named partition
	create,  ///< ksm_open creating with KSM_OPEN_ZERO_PAGES (EINVAL: unsupported)
	merge,   ///< ksm_merge on a process
	unmerge, ///< ksm_unmerge
	leave,   ///< ksm_leave
	stats,   ///< KSM_IOC_GET_STATS
	table,   ///< reading /proc/ksm_partitions
	cgroup,  ///< enumerating a cgroup
	unit,    ///< finding the cgroup of a systemd unit
	target,  ///< pidfd_open or reading /proc/PID/maps of a target
	holder,  ///< the --hold process and its pid file
};

/// The exit code for error `ec` of operation `op`.
Exit exit_for(Op op, std::error_code ec);

/// Context for messages: the partition name, a path.
struct ErrorContext {
	std::string partition;
	std::string path;
};

/// One line naming what failed and why, without the program name, for
/// the tool's own operations (cgroup, unit, holder); the library's
/// ksmpart::Error messages already do this for the system calls.
std::string describe(Op op, std::error_code ec, const ErrorContext &ctx);

/// What to do about error `ec` of `op`, if there is a useful hint; else "".
std::string hint(Op op, std::error_code ec);

/// Overall exit code of an operation on several targets: ok if all
/// succeeded, partial if some did, else the code of the first failure.
Exit combine(const std::vector<Exit> &per_target);

} // namespace ksmtool
