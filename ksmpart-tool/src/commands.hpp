// SPDX-License-Identifier: GPL-2.0-or-later
// Running the subcommands of ksmpart-tool.
#pragma once

#include "cli.hpp"
#include "errors.hpp"

#include <ksmpart/partition.hpp>

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
	bool from_cgroup = false;
	enum class Status { ok, failed, partial, gone, skipped } status = Status::ok;
	Exit code = Exit::ok;
	std::string error; ///< message if failed/partial
	std::string hint;
	ksmpart::MergeCounters counters; ///< merge only
	bool joined = false;
	std::uint64_t bytes_requested = 0;
	std::uint64_t bytes_processed = 0;
	std::vector<std::string> missing_regions;
};

/// The name of a status for JSON ("ok", "failed", "partial", "gone", "skipped").
const char *status_name(TargetResult::Status s);

/// Human table of merge results (one row per process, a total row if more
/// than one) and the JSON object of a merge, for tests and `run`.
std::string merge_table(const std::vector<TargetResult> &results, std::size_t page_size);
std::string merge_json(const std::string &partition, const std::vector<TargetResult> &results,
                       std::size_t page_size);

/// Human lines and JSON of partition statistics (stats NAME).
std::string stats_text(const std::string &name, const ksmpart::Stats &s, std::size_t page_size);
std::string stats_json(const std::string &name, const ksmpart::Stats &s);

struct PartitionInfo;
/// Human table and JSON array of `list`.
std::string list_table(const std::vector<PartitionInfo> &parts);
std::string list_json(const std::vector<PartitionInfo> &parts);

} // namespace ksmtool
