// SPDX-License-Identifier: GPL-2.0-or-later
// Running the subcommands of ksmpart-tool.
#pragma once

#include "cli.hpp"
#include "errors.hpp"
#include "output.hpp"

#include <ksmpart/partition.hpp>
#include <ksmpart/system.hpp>

#include <iosfwd>
#include <string>
#include <vector>

namespace ksmtool {

/// Run the parsed command; returns the exit code. Normal output goes to
/// `out`, errors and notes (prefixed "ksmpart-tool: ") to `err`.
int run(const Options &o, std::ostream &out, std::ostream &err);

/// Outcome for one target process of merge/unmerge/leave.
struct TargetResult {
	pid_t pid = 0;
	enum class Source { pid, cgroup, unit, member } source = Source::pid;
	enum class Status { ok, failed, partial, gone, skipped } status = Status::ok;
	Exit code = Exit::ok;
	std::string comm;
	std::string error; ///< message if failed/partial
	std::string hint;
	ksmpart::MergeCounters counters; ///< merge only
	bool joined = false;
	std::int64_t merging_pages = -1; ///< after the merge, from ksm_stat; -1 unknown
	std::uint64_t bytes_requested = 0;
	std::uint64_t bytes_processed = 0;
	std::vector<std::string> missing_regions;
};

/// The name of a status for JSON ("ok", "failed", "partial", "gone", "skipped").
const char *status_name(TargetResult::Status s);
const char *source_name(TargetResult::Source s);

/// What a merge reports about its partition.
struct MergeHeader {
	std::string name;
	std::uint64_t id = 0; ///< 0: unknown
	bool created = false;
};

/// The columns of the merge table (SAVED: this call; MERGING: the process's
/// pages now mapping KSM pages, as bytes).
const std::vector<Column> &merge_columns();
/// Human table of merge results (a total row if more than one process) and
/// the JSON object of a merge.
std::string merge_table(const std::vector<TargetResult> &results, std::size_t page_size,
                        const OutputOptions &opts, std::string &error);
json merge_json(const MergeHeader &h, const std::vector<TargetResult> &results,
                std::size_t page_size);

/// Human lines and JSON of partition statistics (stats NAME).
std::string stats_text(const std::string &name, const ksmpart::Stats &s, std::size_t page_size,
                       bool bytes);
json stats_json(const std::string &name, const ksmpart::Stats &s);

/// list, members, which (inspect.cpp).
const std::vector<Column> &list_columns();
const std::vector<Column> &members_columns();
const std::vector<Column> &which_columns();
int cmd_list(const Options &o, std::ostream &out, std::ostream &err);
int cmd_members(const Options &o, std::ostream &out, std::ostream &err);
int cmd_which(const Options &o, std::ostream &out, std::ostream &err);
/// daemon (daemon_client.cpp).
int cmd_daemon(const Options &o, std::ostream &out, std::ostream &err);

/// Print "ksmpart-tool: MSG" and, if any, a hint line (and, with --json, a
/// JSON error object on `out`); return the code.
int fail(std::ostream &err, Exit code, const std::string &msg, const std::string &hint_text = {});
int fail(std::ostream &err, Op op, const ksmpart::Error &e);

/// The partition id of the named partition in the caller's IPC namespace,
/// through an fd (needs permission to open it), or, for root, from
/// /proc/ksm_partitions if only one partition has that name.
ksmpart::Result<std::uint64_t> partition_id_by_name(const std::string &name,
                                                    const std::string &table_path);

/// Set by run(): errors also go to `out` as {"error": ...} in JSON mode.
void set_json_errors(std::ostream *out);

} // namespace ksmtool
