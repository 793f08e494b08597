// SPDX-License-Identifier: GPL-2.0-or-later
// Partition statistics by name, and in the Prometheus text exposition
// format (stats --format prometheus, ksmpartd's /metrics and textfile).
#pragma once

#include <ksmpart/partition.hpp>
#include <ksmpart/system.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ksmtool {

/// Calls f(name, value) for each statistics field after `id`, in the order
/// and with the names of struct ksm_partition_stats.
void for_each_stat(const ksmpart::Stats &s,
                   const std::function<void(const char *, std::int64_t)> &signed_field,
                   const std::function<void(const char *, std::uint64_t)> &unsigned_field);

/// Bytes saved by a partition: every sharing mapping and KSM-placed zero
/// page is a page not allocated. Also the "COW debt": the memory needed if
/// every shared page were written.
std::uint64_t saved_bytes(const ksmpart::Stats &s, std::size_t page_size);

/// A sample of a metric that is not a partition's (the daemon's own).
struct ExtraSample {
	std::string labels; ///< already formatted: key="value",... (may be empty)
	double value = 0;
};
struct ExtraMetric {
	std::string name, help, type; ///< type: counter or gauge
	std::vector<ExtraSample> samples;
};

/// The exposition text: one family per metric (HELP, TYPE, then a sample
/// per partition, labelled partition="<id>" and name="<name>", "" for an
/// anonymous one), then the system-wide sums if given, then `extra`.
/// Counters end in _total, sizes in _bytes, times in _seconds.
std::string prometheus(const std::vector<ksmpart::PartitionInfo> &parts,
                       const std::optional<ksmpart::Totals> &totals, std::size_t page_size,
                       const std::vector<ExtraMetric> &extra = {});

/// `s` escaped for a label value (\\, \", \n).
std::string label_escape(const std::string &s);

} // namespace ksmtool
