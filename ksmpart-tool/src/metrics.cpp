// SPDX-License-Identifier: GPL-2.0-or-later
#include "metrics.hpp"

#include <cstdio>

namespace ksmtool {

namespace {

using U64Field = std::uint64_t ksmpart::Stats::*;

struct UField {
	const char *name;
	U64Field member;
};

// The unsigned fields of struct ksm_partition_stats after id, in order;
// general_profit (signed) sits between stable_node_dups and merge_calls.
const UField gauges[] = {
    {"members", &ksmpart::Stats::members},
    {"pages_shared", &ksmpart::Stats::pages_shared},
    {"pages_sharing", &ksmpart::Stats::pages_sharing},
    {"pages_unshared", &ksmpart::Stats::pages_unshared},
    {"ksm_zero_pages", &ksmpart::Stats::ksm_zero_pages},
    {"rmap_items", &ksmpart::Stats::rmap_items},
    {"stable_node_chains", &ksmpart::Stats::stable_node_chains},
    {"stable_node_dups", &ksmpart::Stats::stable_node_dups},
};
const UField counters[] = {
    {"merge_calls", &ksmpart::Stats::merge_calls},
    {"unmerge_calls", &ksmpart::Stats::unmerge_calls},
    {"leave_calls", &ksmpart::Stats::leave_calls},
    {"pages_scanned", &ksmpart::Stats::pages_scanned},
    {"pages_merged", &ksmpart::Stats::pages_merged},
    {"zero_pages_merged", &ksmpart::Stats::zero_pages_merged},
    {"pages_failed", &ksmpart::Stats::pages_failed},
    {"pages_absent", &ksmpart::Stats::pages_absent},
    {"pages_skipped", &ksmpart::Stats::pages_skipped},
    {"merge_time_ns", &ksmpart::Stats::merge_time_ns},
    {"unmerge_time_ns", &ksmpart::Stats::unmerge_time_ns},
};

std::string num(double v)
{
	char buf[64];
	std::snprintf(buf, sizeof(buf), "%.17g", v);
	return buf;
}

std::string num(std::uint64_t v)
{
	return std::to_string(v);
}

std::string num(std::int64_t v)
{
	return std::to_string(v);
}

} // namespace

void for_each_stat(const ksmpart::Stats &s,
                   const std::function<void(const char *, std::int64_t)> &signed_field,
                   const std::function<void(const char *, std::uint64_t)> &unsigned_field)
{
	for (const auto &f : gauges)
		unsigned_field(f.name, s.*f.member);
	signed_field("general_profit", s.general_profit);
	for (const auto &f : counters)
		unsigned_field(f.name, s.*f.member);
}

std::uint64_t saved_bytes(const ksmpart::Stats &s, std::size_t page_size)
{
	return (s.pages_sharing + s.ksm_zero_pages) * page_size;
}

std::string label_escape(const std::string &s)
{
	std::string out;
	for (char c : s) {
		if (c == '\\')
			out += "\\\\";
		else if (c == '"')
			out += "\\\"";
		else if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

std::string prometheus(const std::vector<ksmpart::PartitionInfo> &parts,
                       const std::optional<ksmpart::Totals> &totals, std::size_t ps,
                       const std::vector<ExtraMetric> &extra)
{
	std::string out;
	auto family = [&](const std::string &name, const char *type, const std::string &help) {
		out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
	};
	auto labels = [](const ksmpart::PartitionInfo &p) {
		return "partition=\"" + std::to_string(p.id) + "\",name=\"" +
		       label_escape(p.name.value_or("")) + "\"";
	};
	auto per_partition = [&](const std::string &name, const char *type, const std::string &help,
	                         auto value) {
		if (parts.empty())
			return;
		family(name, type, help);
		for (const auto &p : parts)
			out += name + "{" + labels(p) + "} " + num(value(p)) + "\n";
	};
	using P = const ksmpart::PartitionInfo &;

	if (!parts.empty()) {
		family("ksmpart_partition_info", "gauge",
		       "Partition metadata (value 1): owner uid, mode, zero pages.");
		for (const auto &p : parts) {
			char mode[8];
			std::snprintf(mode, sizeof(mode), "%04o", p.mode);
			out += "ksmpart_partition_info{" + labels(p) + ",uid=\"" +
			       std::to_string(p.uid) + "\",mode=\"" + mode + "\",zero_pages=\"" +
			       (p.stats.zero_pages ? "true" : "false") + "\"} 1\n";
		}
	}
	per_partition("ksmpart_members", "gauge", "Member processes of the partition.",
	              [](P p) { return p.stats.members; });
	per_partition("ksmpart_ksm_pages", "gauge", "KSM pages of the partition (pages_shared).",
	              [](P p) { return p.stats.pages_shared; });
	per_partition("ksmpart_sharing_pages", "gauge",
	              "Further mappings of the KSM pages (pages_sharing): pages saved.",
	              [](P p) { return p.stats.pages_sharing; });
	per_partition("ksmpart_candidate_pages", "gauge",
	              "Scanned pages without a twin yet (pages_unshared).",
	              [](P p) { return p.stats.pages_unshared; });
	per_partition("ksmpart_zero_pages", "gauge", "Zero pages placed by the partition.",
	              [](P p) { return p.stats.ksm_zero_pages; });
	per_partition("ksmpart_rmap_items", "gauge", "Metadata items, one per tracked page.",
	              [](P p) { return p.stats.rmap_items; });
	per_partition("ksmpart_saved_bytes", "gauge",
	              "Memory not allocated thanks to merging: (sharing + zero pages) * page size.",
	              [&](P p) { return saved_bytes(p.stats, ps); });
	per_partition("ksmpart_cow_debt_bytes", "gauge",
	              "Memory needed if every shared page were written (copy-on-write).",
	              [&](P p) { return saved_bytes(p.stats, ps); });
	per_partition("ksmpart_profit_bytes", "gauge",
	              "Bytes saved minus metadata (general_profit), may be negative.",
	              [](P p) { return p.stats.general_profit; });

	// Cumulative counters exist only where the source has them (the stats
	// ioctl or fdinfo, not /proc/ksm_partitions): a partition whose
	// counters are all 0 and has merged nothing is left out of them.
	std::vector<ksmpart::PartitionInfo> with_counters;
	for (const auto &p : parts)
		if (p.stats.merge_calls || p.stats.unmerge_calls || p.stats.leave_calls)
			with_counters.push_back(p);
	if (!with_counters.empty()) {
		family("ksmpart_calls_total", "counter",
		       "System calls on the partition by kind (merge, unmerge, leave).");
		for (const auto &p : with_counters) {
			out += "ksmpart_calls_total{" + labels(p) + ",kind=\"merge\"} " +
			       num(p.stats.merge_calls) + "\n";
			out += "ksmpart_calls_total{" + labels(p) + ",kind=\"unmerge\"} " +
			       num(p.stats.unmerge_calls) + "\n";
			out += "ksmpart_calls_total{" + labels(p) + ",kind=\"leave\"} " +
			       num(p.stats.leave_calls) + "\n";
		}
		family("ksmpart_call_cpu_seconds_total", "counter",
		       "CPU time callers spent in the calls by kind (unmerge includes leave).");
		for (const auto &p : with_counters) {
			out += "ksmpart_call_cpu_seconds_total{" + labels(p) + ",kind=\"merge\"} " +
			       num(static_cast<double>(p.stats.merge_time_ns) / 1e9) + "\n";
			out += "ksmpart_call_cpu_seconds_total{" + labels(p) +
			       ",kind=\"unmerge\"} " +
			       num(static_cast<double>(p.stats.unmerge_time_ns) / 1e9) + "\n";
		}
		struct C {
			const char *name, *help;
			std::uint64_t ksmpart::Stats::*m;
		};
		const C cs[] = {
		    {"ksmpart_scanned_pages_total", "Pages scanned by ksm_merge.",
		     &ksmpart::Stats::pages_scanned},
		    {"ksmpart_merged_pages_total", "Pages newly merged by ksm_merge.",
		     &ksmpart::Stats::pages_merged},
		    {"ksmpart_zero_merged_pages_total", "Pages replaced by the zero page.",
		     &ksmpart::Stats::zero_pages_merged},
		    {"ksmpart_failed_pages_total", "Eligible pages not merged (pinned, raced).",
		     &ksmpart::Stats::pages_failed},
		    {"ksmpart_absent_pages_total", "Touched pages with no anonymous page.",
		     &ksmpart::Stats::pages_absent},
		    {"ksmpart_skipped_pages_total", "Touched pages in holes or incompatible VMAs.",
		     &ksmpart::Stats::pages_skipped},
		};
		for (const auto &c : cs) {
			family(c.name, "counter", c.help);
			for (const auto &p : with_counters)
				out += std::string(c.name) + "{" + labels(p) + "} " +
				       num(p.stats.*c.m) + "\n";
		}
	}

	if (totals) {
		auto sys = [&](const char *name, const char *type, const char *help, auto v) {
			family(name, type, help);
			out += std::string(name) + " " + num(v) + "\n";
		};
		sys("ksmpart_system_partitions", "gauge", "Partitions of the system.",
		    totals->nr_partitions);
		sys("ksmpart_system_ksm_pages", "gauge", "KSM pages of all partitions.",
		    totals->pages_shared);
		sys("ksmpart_system_sharing_pages", "gauge", "Sharing mappings of all partitions.",
		    totals->pages_sharing);
		sys("ksmpart_system_candidate_pages", "gauge", "Candidates of all partitions.",
		    totals->pages_unshared);
		sys("ksmpart_system_zero_pages", "gauge", "Zero pages placed by all partitions.",
		    totals->ksm_zero_pages);
		sys("ksmpart_system_rmap_items", "gauge", "Metadata items of all partitions.",
		    totals->rmap_items);
		sys("ksmpart_system_saved_bytes", "gauge", "Memory saved by all partitions.",
		    (totals->pages_sharing + totals->ksm_zero_pages) * ps);
		sys("ksmpart_system_profit_bytes", "gauge",
		    "Memory saved by all partitions minus metadata.", totals->general_profit);
	}
	for (const auto &m : extra) {
		family(m.name, m.type.c_str(), m.help);
		for (const auto &s : m.samples)
			out += m.name + (s.labels.empty() ? "" : "{" + s.labels + "}") + " " +
			       num(s.value) + "\n";
	}
	return out;
}

} // namespace ksmtool
