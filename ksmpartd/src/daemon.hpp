// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpartd: holds the partitions of its policy, places processes into them
// by rule, merges them when the policy says, survives its own restart by
// re-adopting what exists, and answers the control socket and /metrics.
#pragma once

#include "config.hpp"

#include <ksmpart/ksmpart.hpp>
#include <ksmpart/system.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ksmpartd {

using json = nlohmann::ordered_json;

struct Options {
	std::string config_path = "/etc/ksmpart/ksmpartd.toml";
	std::string proc = "/proc";
	std::string cgroup_root; ///< empty: the cgroup2 mount from mountinfo
	unsigned rounds = 0;     ///< stop after this many merge rounds (tests); 0: never
};

/// A process placed (or found placed) by a rule.
struct Placement {
	pid_t pid = 0;
	std::string partition;
	int rule = -1; ///< index into the rules, -1: OCI create without a rule
};

class Daemon {
public:
	explicit Daemon(Options opts);
	/// Load the configuration, adopt what exists; false if the config is bad.
	bool start(std::string &error);
	/// The event loop until SIGTERM/SIGINT (or opts.rounds). Exit status.
	int run();

	// Pieces of the loop, public for tests.
	bool reload();
	void scan();
	void merge_round(const char *trigger);
	std::string metrics() const;
	json status() const;
	json rules() const;
	/// A container from the OCI hook: {"pid", "id", "annotation", "cgroup"}.
	json adopt(const json &req);
	/// One request line of the control socket -> the reply document.
	std::string control(const std::string &line);

private:
	struct Held {
		PartitionSpec spec;
		ksmpart::Partition part;
		std::uint64_t id = 0;
		bool created = false;     ///< by this daemon (else re-adopted)
		std::set<pid_t> members;  ///< from ksm_stat at the last scan
		std::set<pid_t> joined;   ///< joined by this daemon since it started
		std::uint64_t merges = 0; ///< processes merged
		std::uint64_t errors = 0; ///< merges that failed (not: process gone)
		std::uint64_t pages_merged = 0;
	};
	bool apply(Config c);
	Held *hold(const PartitionSpec &spec);
	bool merge_one(Held &h, pid_t pid, bool join, const char *why);
	std::string cgroup_of(pid_t pid) const;
	std::string oci_state_path() const;
	void load_oci();
	void save_oci() const;
	bool prune_oci();
	int match(const std::string &cgroup, std::string &partition) const;
	void write_textfile() const;
	void close_listeners();
	bool open_listeners(std::string &error);
	void serve_metrics(int fd);
	void serve_control(int fd);
	double psi_some_avg10() const;

	Options opts_;
	Config cfg_;
	std::string loaded_at_;
	std::map<std::string, Held> held_;       ///< by partition name
	std::map<std::string, std::string> oci_; ///< container cgroup -> annotation
	std::vector<std::vector<pid_t>> rule_pids_;
	std::set<pid_t> busy_warned_;
	std::size_t cursor_ = 0; ///< round-robin position across rounds
	std::uint64_t rounds_ = 0, budget_exhausted_ = 0, reloads_ok_ = 0, reloads_failed_ = 0;
	std::map<std::string, std::uint64_t> rounds_by_trigger_;
	double round_cpu_seconds_ = 0;
	int metrics_fd_ = -1, control_fd_ = -1;
	std::string bound_metrics_, bound_socket_;
};

} // namespace ksmpartd
