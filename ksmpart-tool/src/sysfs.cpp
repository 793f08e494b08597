// SPDX-License-Identifier: GPL-2.0-or-later
#include "sysfs.hpp"
#include "util.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>

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

/// Read dir/file; ENOENT for a missing file is reported as `missing`.
bool read_value(const std::string &dir, const char *file, std::string &value, bool &missing,
                std::error_code &ec, std::string &failed_path)
{
	missing = false;
	std::string path = dir + "/" + file;
	if (read_file(path, value, ec)) {
		if (!value.empty() && value.back() == '\n')
			value.pop_back();
		return true;
	}
	if (ec.value() == ENOENT) {
		missing = true;
		ec.clear();
		return true;
	}
	failed_path = path;
	return false;
}

/// One partition directory. false with ec clear: it vanished meanwhile.
bool read_one(const std::string &dir, std::uint64_t id, PartitionInfo &p, std::error_code &ec,
              std::string &failed_path)
{
	p.id = id;
	p.stats.id = id;
	std::string v;
	bool missing;
	// "name" exists in every partition directory: its absence means the
	// partition went away between readdir and now.
	if (!read_value(dir, "name", v, missing, ec, failed_path))
		return false;
	if (missing)
		return false;
	if (!v.empty())
		p.name = v;

	auto number = [&](const char *file, auto &out, int base = 10) {
		if (!read_value(dir, file, v, missing, ec, failed_path))
			return false;
		if (missing)
			return true;
		auto n = parse_u64(v, base);
		if (!n) {
			ec = std::error_code(EBADMSG, std::generic_category());
			failed_path = dir + "/" + file;
			return false;
		}
		out = static_cast<std::remove_reference_t<decltype(out)>>(*n);
		return true;
	};
	std::uint64_t zero = 0;
	if (!number("owner_uid", p.owner_uid) || !number("owner_gid", p.owner_gid) ||
	    !number("mode", p.mode, 8) || !number("ipc_ns", p.ipc_ns) ||
	    !number("use_zero_pages", zero))
		return false;
	p.stats.zero_pages = zero != 0;
	for (const auto &f : gauges)
		if (!number(f.name, p.stats.*f.member))
			return false;
	if (!read_value(dir, "general_profit", v, missing, ec, failed_path))
		return false;
	if (!missing) {
		auto n = parse_s64(v);
		if (!n) {
			ec = std::error_code(EBADMSG, std::generic_category());
			failed_path = dir + "/general_profit";
			return false;
		}
		p.stats.general_profit = *n;
	}
	for (const auto &f : counters)
		if (!number(f.name, p.stats.*f.member))
			return false;
	return true;
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

std::vector<PartitionInfo> read_partitions(const std::string &dir, std::error_code &ec,
                                           std::string &failed_path)
{
	namespace fs = std::filesystem;
	ec.clear();
	std::vector<PartitionInfo> out;
	fs::directory_iterator it(dir, ec);
	if (ec) {
		failed_path = dir;
		return {};
	}
	for (; it != fs::directory_iterator(); it.increment(ec)) {
		if (ec) {
			failed_path = dir;
			return {};
		}
		auto id = parse_u64(it->path().filename().string());
		if (!id)
			continue; // not a partition directory
		PartitionInfo p;
		if (read_one(it->path().string(), *id, p, ec, failed_path))
			out.push_back(std::move(p));
		else if (ec)
			return {};
	}
	std::sort(out.begin(), out.end(),
	          [](const PartitionInfo &a, const PartitionInfo &b) { return a.id < b.id; });
	return out;
}

} // namespace ksmtool
