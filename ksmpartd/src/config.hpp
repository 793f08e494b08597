// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpartd's policy: what partitions it holds, which processes go where,
// and when to merge. Read from a TOML file (ksmpartd.toml(5)); a file that
// does not validate is rejected as a whole with a message naming the line.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ksmpartd {

/// When the processes of a partition are merged.
struct Triggers {
	bool on_join = true;   ///< a process is merged when it is placed
	bool interval = true;  ///< every daemon.interval seconds
	bool pressure = false; ///< when memory PSI crosses daemon.psi_threshold
};

struct PartitionSpec {
	std::string name;
	unsigned mode = 0600;
	bool zero_pages = false;
	Triggers merge;
	/// Only these maps regions (e.g. "[heap]"); empty: all anonymous memory.
	std::vector<std::string> regions;
};

/// A placement rule: the first that matches a process decides.
struct Rule {
	enum class Kind { cgroup, unit, slice, annotation };
	Kind kind = Kind::cgroup;
	std::string pattern;   ///< cgroup path glob, unit, slice or annotation value
	std::string partition; ///< an index into Config::partitions by name
	std::string describe() const;
};

struct Config {
	std::string path;            ///< where it was read from
	double interval = 30;        ///< seconds between merge rounds (0: none)
	double scan = 2;             ///< seconds between looks for processes to place
	double cpu_budget = 1.0;     ///< CPU seconds a round may spend merging
	double psi_threshold = 10.0; ///< memory PSI "some avg10" percent
	double psi_poll = 2.0;       ///< seconds between PSI checks
	std::string metrics_listen;  ///< "127.0.0.1:9477"; empty: no HTTP endpoint
	std::string textfile;        ///< node_exporter textfile; empty: none
	std::string socket = "/run/ksmpartd/control.sock";
	std::string log_level = "info";
	/// OCI containers whose annotation names a partition that is not in
	/// [[partition]]: create it (with oci_mode) or refuse.
	bool oci_create = false;
	unsigned oci_mode = 0600;
	std::vector<PartitionSpec> partitions;
	std::vector<Rule> rules;

	const PartitionSpec *find(const std::string &name) const;
};

/// Parse and validate. On error, nullopt and `error` says what and where
/// ("FILE:LINE:COL: ..."), for the journal and for --check.
std::optional<Config> parse_config(const std::string &text, const std::string &path,
                                   std::string &error);
std::optional<Config> load_config(const std::string &path, std::string &error);

/// Shell-style glob (* ? [..]) of a whole string; '*' also matches '/'.
bool glob_match(const std::string &pattern, const std::string &text);

/// The partition for a process in cgroup `cgroup` (as /proc/PID/cgroup
/// prints it): the index of the first rule that matches, with `partition`
/// set; -2 for an OCI container whose annotation names a partition that
/// [oci] create allows; -1 if nothing places it. `oci` maps container
/// cgroups to their annotation (processes below them count too).
int match_rules(const Config &c, const std::map<std::string, std::string> &oci,
                const std::string &cgroup, std::string &partition);

} // namespace ksmpartd
