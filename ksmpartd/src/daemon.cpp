// SPDX-License-Identifier: GPL-2.0-or-later
#include "daemon.hpp"
#include "log.hpp"

#include "cgroup.hpp"
#include "metrics.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <sstream>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef KSMPART_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace ksmpartd {

namespace {

void notify(const std::string &state)
{
#ifdef KSMPART_HAVE_LIBSYSTEMD
	sd_notify(0, state.c_str());
#else
	(void)state;
#endif
}

double thread_cpu_seconds()
{
	timespec ts{};
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double now_seconds()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string timestamp()
{
	char buf[32];
	std::time_t t = std::time(nullptr);
	std::tm tm{};
	gmtime_r(&t, &tm);
	std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

std::string read_small(const std::string &path)
{
	std::ifstream f(path);
	std::stringstream ss;
	ss << f.rdbuf();
	return ss.str();
}

std::string comm_of(const std::string &proc, pid_t pid)
{
	auto s = read_small(proc + "/" + std::to_string(pid) + "/comm");
	while (!s.empty() && s.back() == '\n')
		s.pop_back();
	return s;
}

std::vector<pid_t> all_pids(const std::string &proc)
{
	std::vector<pid_t> out;
	DIR *d = opendir(proc.c_str());
	if (!d)
		return out;
	while (dirent *e = readdir(d)) {
		char *end = nullptr;
		long v = std::strtol(e->d_name, &end, 10);
		if (end != e->d_name && *end == 0 && v > 0)
			out.push_back(static_cast<pid_t>(v));
	}
	closedir(d);
	std::sort(out.begin(), out.end());
	return out;
}

/// Read a request up to a newline or the end, with a deadline.
std::string read_request(int fd, std::size_t max, const char *end_marker)
{
	std::string s;
	char buf[1024];
	double deadline = now_seconds() + 2;
	while (s.size() < max && s.find(end_marker) == std::string::npos) {
		int left = static_cast<int>((deadline - now_seconds()) * 1000);
		if (left <= 0)
			break;
		pollfd p{fd, POLLIN, 0};
		if (poll(&p, 1, left) <= 0)
			break;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		s.append(buf, static_cast<std::size_t>(n));
	}
	return s;
}

void write_all(int fd, const std::string &s)
{
	std::size_t off = 0;
	while (off < s.size()) {
		ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		off += static_cast<std::size_t>(n);
	}
}

} // namespace

Daemon::Daemon(Options opts) : opts_(std::move(opts))
{
	if (opts_.cgroup_root.empty())
		opts_.cgroup_root = ksmtool::cgroup2_mount();
}

// The containers the OCI hook announced (cgroup -> annotation) outlive a
// restart of the daemon: kept next to the control socket (/run/ksmpartd),
// dropped when their cgroup is gone.
std::string Daemon::oci_state_path() const
{
	auto slash = cfg_.socket.rfind('/');
	std::string dir = slash == std::string::npos ? "." : cfg_.socket.substr(0, slash);
	return dir + "/oci-containers.json";
}

bool Daemon::prune_oci()
{
	bool pruned = false;
	for (auto it = oci_.begin(); it != oci_.end();) {
		struct stat st;
		if (stat((opts_.cgroup_root + it->first).c_str(), &st) != 0) {
			log(Level::info, "OCI container cgroup " + it->first + " is gone");
			it = oci_.erase(it);
			pruned = true;
		} else {
			++it;
		}
	}
	return pruned;
}

void Daemon::load_oci()
{
	std::ifstream in(oci_state_path());
	if (!in)
		return;
	json j = json::parse(in, nullptr, false);
	if (!j.is_object()) {
		log(Level::warning, oci_state_path() + ": not a JSON object, ignored");
		return;
	}
	for (const auto &[cg, ann] : j.items())
		if (ann.is_string() && !cg.empty() && cg[0] == '/')
			oci_[cg] = ann.get<std::string>();
	if (prune_oci())
		save_oci();
	if (!oci_.empty())
		log(Level::info, "re-read " + std::to_string(oci_.size()) +
		                     " OCI containers from " + oci_state_path());
}

void Daemon::save_oci() const
{
	std::string path = oci_state_path(), tmp = path + ".tmp";
	{
		std::ofstream out(tmp, std::ios::trunc);
		out << json(oci_).dump() << "\n";
		if (!out.flush()) {
			log(Level::warning, "cannot write " + tmp + ": " + std::strerror(errno));
			return;
		}
	}
	if (rename(tmp.c_str(), path.c_str()) != 0)
		log(Level::warning, "cannot replace " + path + ": " + std::strerror(errno));
}

bool Daemon::start(std::string &error)
{
	auto c = load_config(opts_.config_path, error);
	if (!c)
		return false;
	if (auto p = ksmpart::probe(); !p) {
		error = p.error().message();
		return false;
	}
	cfg_.socket = c->socket; // where the OCI state lives
	load_oci();
	if (!apply(std::move(*c)))
		return false;
	return open_listeners(error);
}

bool Daemon::reload()
{
	std::string error;
	auto c = load_config(opts_.config_path, error);
	if (!c) {
		reloads_failed_++;
		log(Level::err, "reload rejected, keeping the running configuration: " + error);
		return false;
	}
	std::string old_metrics = cfg_.metrics_listen, old_socket = cfg_.socket;
	if (!apply(std::move(*c))) {
		reloads_failed_++;
		return false;
	}
	if (cfg_.metrics_listen != old_metrics || cfg_.socket != old_socket) {
		close_listeners();
		if (!open_listeners(error))
			log(Level::err, error);
	}
	reloads_ok_++;
	log(Level::notice, "reloaded " + cfg_.path + ": " + std::to_string(cfg_.partitions.size()) +
	                       " partitions, " + std::to_string(cfg_.rules.size()) + " rules");
	return true;
}

bool Daemon::apply(Config c)
{
	set_log_level(c.log_level);
	cfg_ = std::move(c);
	loaded_at_ = timestamp();
	// Partitions no longer in the policy: let go of the fd. Members keep
	// them alive; nothing is unmerged behind the administrator's back.
	for (auto it = held_.begin(); it != held_.end();) {
		bool ad_hoc = false;
		for (const auto &[cg, ann] : oci_)
			ad_hoc |= ann == it->first && cfg_.oci_create;
		if (!cfg_.find(it->first) && !ad_hoc) {
			log(Level::notice, "partition '" + it->first +
			                       "' is no longer in the policy; closing it (its " +
			                       std::to_string(it->second.members.size()) +
			                       " members stay members)");
			it = held_.erase(it);
		} else {
			++it;
		}
	}
	for (const auto &spec : cfg_.partitions)
		hold(spec);
	rule_pids_.assign(cfg_.rules.size(), {});
	scan();
	return true;
}

Daemon::Held *Daemon::hold(const PartitionSpec &spec)
{
	if (auto it = held_.find(spec.name); it != held_.end()) {
		it->second.spec = spec;
		return &it->second;
	}
	ksmpart::CreateOptions co;
	co.mode = spec.mode;
	co.zero_pages = spec.zero_pages;
	auto r = ksmpart::Partition::open_or_create(spec.name, co);
	if (!r) {
		log(Level::err, "partition '" + spec.name + "': " + r.error().message());
		return nullptr;
	}
	Held h;
	h.spec = spec;
	h.created = r->created;
	h.part = std::move(r->partition);
	auto st = h.part.stats();
	h.id = st ? st->id : 0;
	h.members.clear();
	for (const auto &m : ksmpart::members(h.id, opts_.proc))
		h.members.insert(m.pid);
	log(Level::info, std::string(h.created ? "created" : "re-adopted") + " partition '" +
	                     spec.name + "' (id " + std::to_string(h.id) + ", " +
	                     std::to_string(h.members.size()) + " members)");
	auto [it, ok] = held_.emplace(spec.name, std::move(h));
	return &it->second;
}

std::string Daemon::cgroup_of(pid_t pid) const
{
	return ksmtool::cgroup_of(pid, opts_.proc);
}

int Daemon::match(const std::string &cg, std::string &partition) const
{
	return match_rules(cfg_, oci_, cg, partition);
}

bool Daemon::merge_one(Held &h, pid_t pid, bool join, const char *why)
{
	auto pidfd = ksmpart::Pidfd::open(pid);
	if (!pidfd)
		return false; // gone
	ksmpart::MergeReport rep;
	if (join && !h.spec.merge.on_join) {
		rep = h.part.join(*pidfd);
	} else if (h.spec.regions.empty()) {
		rep = h.part.merge(*pidfd, ksmpart::Selector::anonymous());
	} else {
		for (const auto &region : h.spec.regions) {
			auto r = h.part.merge(*pidfd, ksmpart::Selector::named(region));
			if (!r.ok() && r.error.code() == ksmpart::errc::region_not_found)
				r = h.part.join(*pidfd);
			rep.counters += r.counters;
			rep.joined |= r.joined;
			if (!r.ok()) {
				rep.error = r.error;
				break;
			}
		}
	}
	if (!rep.ok()) {
		int e = rep.error.errnum();
		if (e == ESRCH)
			return false;
		if (e == EBUSY) {
			if (busy_warned_.insert(pid).second)
				log(Level::warning,
				    "pid " + std::to_string(pid) + " (" + comm_of(opts_.proc, pid) +
				        "): " + rep.error.message() + "; not placing it in '" +
				        h.spec.name + "'");
			return false;
		}
		h.errors++;
		log(Level::warning, "partition '" + h.spec.name + "': " + rep.error.message());
		return false;
	}
	h.merges++;
	h.pages_merged += rep.counters.pages_merged + rep.counters.zero_pages_merged;
	if (rep.joined) {
		h.joined.insert(pid);
		h.members.insert(pid);
		log(Level::info, "placed pid " + std::to_string(pid) + " (" +
		                     comm_of(opts_.proc, pid) + ") in partition '" + h.spec.name +
		                     "' (" + why + ", " +
		                     std::to_string(rep.counters.pages_merged) + " pages merged)");
	} else {
		log(Level::debug,
		    "merged pid " + std::to_string(pid) + " in '" + h.spec.name + "' (" + why +
		        "): " + std::to_string(rep.counters.pages_merged) + " pages merged");
	}
	return true;
}

void Daemon::scan()
{
	if (prune_oci())
		save_oci();
	for (auto &[name, h] : held_) {
		h.members.clear();
		for (const auto &m : ksmpart::members(h.id, opts_.proc))
			h.members.insert(m.pid);
	}
	for (auto &v : rule_pids_)
		v.clear();
	const pid_t self = getpid();
	std::size_t seen = 0, matched = 0, placed = 0;
	for (pid_t pid : all_pids(opts_.proc)) {
		seen++;
		if (pid == self)
			continue;
		std::string cg = cgroup_of(pid);
		if (cg.empty())
			continue;
		std::string name;
		int rule = match(cg, name);
		if (rule == -1)
			continue;
		matched++;
		Held *h = nullptr;
		if (rule == -2) {
			PartitionSpec spec;
			spec.name = name;
			spec.mode = cfg_.oci_mode;
			h = hold(spec);
		} else {
			rule_pids_[static_cast<std::size_t>(rule)].push_back(pid);
			auto it = held_.find(name);
			h = it == held_.end() ? nullptr : &it->second;
		}
		if (!h || h->members.count(pid))
			continue;
		// Kernel threads and zombies have no ksm_stat to speak of.
		auto now = ksmpart::partition_of(pid, opts_.proc);
		if (!now)
			continue;
		if (*now == h->id) {
			h->members.insert(pid);
			continue;
		}
		if (*now != 0) {
			if (busy_warned_.insert(pid).second)
				log(Level::warning,
				    "pid " + std::to_string(pid) + " (" + comm_of(opts_.proc, pid) +
				        ") matches partition '" + name +
				        "' but is a member of partition " + std::to_string(*now) +
				        "; leaving it there");
			continue;
		}
		placed += merge_one(*h, pid, true, rule >= 0 ? "rule" : "oci");
	}
	log(Level::debug, "scan: " + std::to_string(seen) + " processes, " +
	                      std::to_string(matched) + " matched a rule, " +
	                      std::to_string(placed) + " placed");
}

void Daemon::merge_round(const char *trigger)
{
	const std::string t = trigger;
	std::vector<std::pair<Held *, pid_t>> work;
	for (auto &[name, h] : held_) {
		bool on = (t == "interval" && h.spec.merge.interval) ||
		          (t == "pressure" && h.spec.merge.pressure);
		if (!on)
			continue;
		for (pid_t p : h.members)
			work.push_back({&h, p});
	}
	rounds_++;
	rounds_by_trigger_[t]++;
	if (work.empty())
		return;
	const double start = thread_cpu_seconds();
	std::size_t n = work.size(), done = 0, first = cursor_ % n;
	for (; done < n; done++) {
		auto &[h, pid] = work[(first + done) % n];
		if (thread_cpu_seconds() - start > cfg_.cpu_budget) {
			budget_exhausted_++;
			log(Level::notice, std::string(trigger) + " round: CPU budget of " +
			                       std::to_string(cfg_.cpu_budget) + " s used after " +
			                       std::to_string(done) + " of " + std::to_string(n) +
			                       " processes; the rest go first next round");
			break;
		}
		merge_one(*h, pid, false, trigger);
	}
	cursor_ = (first + done) % n;
	round_cpu_seconds_ += thread_cpu_seconds() - start;
}

double Daemon::psi_some_avg10() const
{
	auto s = read_small("/proc/pressure/memory");
	auto pos = s.find("some avg10=");
	if (pos == std::string::npos)
		return -1;
	return std::atof(s.c_str() + pos + 11);
}

std::string Daemon::metrics() const
{
	std::vector<ksmpart::PartitionInfo> parts;
	const auto ps = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
	for (const auto &[name, h] : held_) {
		ksmpart::PartitionInfo info;
		info.id = h.id;
		info.name = name;
		info.mode = h.spec.mode;
		if (auto st = h.part.stats())
			info.stats = *st;
		if (auto text = read_small("/proc/self/fdinfo/" + std::to_string(h.part.fd()));
		    !text.empty())
			if (auto f = ksmpart::parse_fdinfo(text)) {
				info.uid = f->uid;
				info.gid = f->gid;
				info.mode = f->mode;
				info.flags = f->flags;
			}
		parts.push_back(std::move(info));
	}
	std::optional<ksmpart::Totals> totals;
	if (auto t = ksmpart::read_totals())
		totals = *t;
	auto lbl = [](const std::string &name, std::uint64_t id) {
		return "partition=\"" + std::to_string(id) + "\",name=\"" +
		       ksmtool::label_escape(name) + "\"";
	};
	std::vector<ksmtool::ExtraMetric> extra;
	ksmtool::ExtraMetric rounds{
	    "ksmpartd_rounds_total", "Merge rounds by trigger.", "counter", {}};
	for (const char *t : {"interval", "pressure"}) {
		auto it = rounds_by_trigger_.find(t);
		rounds.samples.push_back(
		    {std::string("trigger=\"") + t + "\"",
		     static_cast<double>(it == rounds_by_trigger_.end() ? 0 : it->second)});
	}
	extra.push_back(rounds);
	extra.push_back({"ksmpartd_round_cpu_seconds_total",
	                 "CPU time spent in merge rounds.",
	                 "counter",
	                 {{"", round_cpu_seconds_}}});
	extra.push_back({"ksmpartd_budget_exhausted_total",
	                 "Rounds stopped by the CPU budget before every process was merged.",
	                 "counter",
	                 {{"", static_cast<double>(budget_exhausted_)}}});
	extra.push_back({"ksmpartd_config_reloads_total",
	                 "Configuration reloads by result.",
	                 "counter",
	                 {{"result=\"ok\"", static_cast<double>(reloads_ok_)},
	                  {"result=\"rejected\"", static_cast<double>(reloads_failed_)}}});
	ksmtool::ExtraMetric managed{"ksmpartd_managed_processes",
	                             "Member processes of the partitions the daemon holds.",
	                             "gauge",
	                             {}};
	ksmtool::ExtraMetric merged{"ksmpartd_merged_processes_total",
	                            "Merges of a process done by the daemon (join and rounds).",
	                            "counter",
	                            {}};
	ksmtool::ExtraMetric errors{"ksmpartd_merge_errors_total",
	                            "Merges that failed (not counting processes that exited).",
	                            "counter",
	                            {}};
	for (const auto &[name, h] : held_) {
		managed.samples.push_back({lbl(name, h.id), static_cast<double>(h.members.size())});
		merged.samples.push_back({lbl(name, h.id), static_cast<double>(h.merges)});
		errors.samples.push_back({lbl(name, h.id), static_cast<double>(h.errors)});
	}
	if (!held_.empty()) {
		extra.push_back(managed);
		extra.push_back(merged);
		extra.push_back(errors);
	}
	return ksmtool::prometheus(parts, totals, ps, extra);
}

void Daemon::write_textfile() const
{
	if (cfg_.textfile.empty())
		return;
	std::string tmp = cfg_.textfile + ".tmp";
	{
		std::ofstream f(tmp, std::ios::trunc);
		f << metrics();
		if (!f) {
			log(Level::warning, "cannot write " + tmp);
			return;
		}
	}
	if (rename(tmp.c_str(), cfg_.textfile.c_str()) != 0)
		log(Level::warning, "cannot rename " + tmp + ": " + std::strerror(errno));
}

json Daemon::status() const
{
	const auto ps = static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
	json parts = json::array();
	for (const auto &[name, h] : held_) {
		auto st = h.part.stats();
		json p = {{"name", name},
		          {"id", h.id},
		          {"created", h.created},
		          {"mode",
		           [&] {
			           char b[8];
			           std::snprintf(b, sizeof(b), "%04o", h.spec.mode);
			           return std::string(b);
		           }()},
		          {"members", h.members.size()},
		          {"pids", std::vector<pid_t>(h.members.begin(), h.members.end())},
		          {"joined_by_daemon", h.joined.size()},
		          {"merges", h.merges},
		          {"errors", h.errors}};
		p["saved_bytes"] =
		    st ? static_cast<std::int64_t>(st->pages_sharing + st->ksm_zero_pages) * ps : 0;
		p["profit_bytes"] = st ? st->general_profit : 0;
		p["triggers"] = json::array();
		if (h.spec.merge.on_join)
			p["triggers"].push_back("join");
		if (h.spec.merge.interval)
			p["triggers"].push_back("interval");
		if (h.spec.merge.pressure)
			p["triggers"].push_back("pressure");
		parts.push_back(std::move(p));
	}
	return {{"version", std::string(ksmpart::version())},
	        {"pid", getpid()},
	        {"config", cfg_.path},
	        {"loaded", loaded_at_},
	        {"rounds", rounds_},
	        {"partitions", std::move(parts)}};
}

json Daemon::rules() const
{
	json rs = json::array();
	for (std::size_t i = 0; i < cfg_.rules.size(); i++)
		rs.push_back(
		    {{"index", i},
		     {"match", cfg_.rules[i].describe()},
		     {"partition", cfg_.rules[i].partition},
		     {"pids", i < rule_pids_.size() ? rule_pids_[i] : std::vector<pid_t>{}}});
	json oci = json::array();
	for (const auto &[cg, ann] : oci_)
		oci.push_back({{"cgroup", cg}, {"annotation", ann}});
	return {{"rules", std::move(rs)}, {"oci", std::move(oci)}};
}

json Daemon::adopt(const json &req)
{
	if (!req.is_object() || !req.contains("annotation") || !req["annotation"].is_string())
		return {{"error",
		         "adopt needs {\"annotation\": NAME, \"pid\": PID or \"cgroup\": PATH}"}};
	std::string ann = req["annotation"];
	bool declared = false;
	for (const auto &r : cfg_.rules)
		declared |= r.kind == Rule::Kind::annotation && r.pattern == ann;
	if (!declared && !cfg_.oci_create)
		return {{"error", "no rule places annotation '" + ann +
		                      "' and [oci] create is off: the policy does not allow it"}};
	std::string cg = req.value("cgroup", "");
	if (cg.empty() && req.contains("pid") && req["pid"].is_number_integer())
		cg = cgroup_of(req["pid"].get<pid_t>());
	if (cg.empty() || cg == "/")
		return {{"error", "cannot tell the container's cgroup"}};
	oci_[cg] = ann;
	save_oci();
	log(Level::info, "OCI container " + req.value("id", std::string("?")) + " (cgroup " + cg +
	                     ") has annotation '" + ann + "'");
	scan();
	std::string name;
	match(cg, name);
	auto it = held_.find(name);
	if (it == held_.end())
		return {
		    {"error", "annotation '" + ann + "' maps to no partition the daemon holds"}};
	return {{"ok", true}, {"partition", name}, {"id", it->second.id}, {"cgroup", cg}};
}

std::string Daemon::control(const std::string &line)
{
	std::string cmd = line.substr(0, line.find_first_of(" \n"));
	json reply;
	if (cmd == "status")
		reply = status();
	else if (cmd == "rules")
		reply = rules();
	else if (cmd == "adopt") {
		auto body = line.substr(std::min(line.size(), cmd.size() + 1));
		auto req = json::parse(body, nullptr, false);
		reply = req.is_discarded() ? json{{"error", "adopt: the request is not JSON"}}
		                           : adopt(req);
	} else
		reply = {{"error", "unknown request '" + cmd + "' (status, rules, adopt)"}};
	return reply.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

bool Daemon::open_listeners(std::string &error)
{
	if (!cfg_.socket.empty()) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		sockaddr_un a{};
		a.sun_family = AF_UNIX;
		if (cfg_.socket.size() >= sizeof(a.sun_path)) {
			error = "socket path too long: " + cfg_.socket;
			close(fd);
			return false;
		}
		std::memcpy(a.sun_path, cfg_.socket.c_str(), cfg_.socket.size() + 1);
		unlink(cfg_.socket.c_str());
		mode_t old = umask(077);
		int r = bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a));
		umask(old);
		if (r < 0 || listen(fd, 16) < 0) {
			error = "control socket " + cfg_.socket + ": " + std::strerror(errno);
			close(fd);
			return false;
		}
		control_fd_ = fd;
		bound_socket_ = cfg_.socket;
	}
	if (!cfg_.metrics_listen.empty()) {
		auto colon = cfg_.metrics_listen.rfind(':');
		std::string host = cfg_.metrics_listen.substr(0, colon);
		int port = std::atoi(cfg_.metrics_listen.c_str() + colon + 1);
		sockaddr_in a{};
		a.sin_family = AF_INET;
		a.sin_port = htons(static_cast<std::uint16_t>(port));
		if (inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1) {
			error =
			    "metrics_listen " + cfg_.metrics_listen + ": not an IPv4 address:port";
			return false;
		}
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof(a)) < 0 ||
		    listen(fd, 16) < 0) {
			error =
			    "metrics_listen " + cfg_.metrics_listen + ": " + std::strerror(errno);
			close(fd);
			return false;
		}
		metrics_fd_ = fd;
		bound_metrics_ = cfg_.metrics_listen;
	}
	return true;
}

void Daemon::close_listeners()
{
	if (control_fd_ >= 0) {
		close(control_fd_);
		unlink(bound_socket_.c_str());
	}
	if (metrics_fd_ >= 0)
		close(metrics_fd_);
	control_fd_ = metrics_fd_ = -1;
}

void Daemon::serve_metrics(int lfd)
{
	int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	auto req = read_request(fd, 8192, "\r\n\r\n");
	std::string resp;
	if (req.rfind("GET /metrics", 0) == 0) {
		auto body = metrics();
		resp =
		    "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		    "Content-Length: " +
		    std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
	} else {
		std::string body = "ksmpartd: GET /metrics\n";
		resp = "HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: " +
		       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
	}
	write_all(fd, resp);
	close(fd);
}

void Daemon::serve_control(int lfd)
{
	int fd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	auto line = read_request(fd, 65536, "\n");
	write_all(fd, control(line));
	close(fd);
}

int Daemon::run()
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, nullptr);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);

	auto ready_status = [&] {
		std::size_t members = 0;
		for (const auto &[n, h] : held_)
			members += h.members.size();
		return "STATUS=" + std::to_string(held_.size()) + " partitions, " +
		       std::to_string(members) + " members";
	};
	// STATUS= only when it changes: a notify socket whose reader lags
	// must not be flooded (a full datagram queue would block us).
	std::string last_status = ready_status();
	notify("READY=1\n" + last_status);
	log(Level::notice, "started: " + cfg_.path + ", " + std::to_string(held_.size()) +
	                       " partitions, " + std::to_string(cfg_.rules.size()) + " rules");
	write_textfile();

	double now = now_seconds();
	double next_scan = now + cfg_.scan, next_round = now + cfg_.interval,
	       next_psi = now + cfg_.psi_poll;
	bool pressure_active = false;
	for (;;) {
		bool interval_on = cfg_.interval > 0, pressure_on = false;
		for (const auto &[n, h] : held_)
			pressure_on |= h.spec.merge.pressure;
		double next = next_scan;
		if (interval_on)
			next = std::min(next, next_round);
		if (pressure_on)
			next = std::min(next, next_psi);
		int timeout =
		    std::max(0, static_cast<int>(std::ceil((next - now_seconds()) * 1000)));
		pollfd fds[3] = {
		    {sfd, POLLIN, 0}, {control_fd_, POLLIN, 0}, {metrics_fd_, POLLIN, 0}};
		int r = poll(fds, 3, timeout);
		if (r < 0 && errno != EINTR) {
			log(Level::err, std::string("poll: ") + std::strerror(errno));
			return 1;
		}
		if (r > 0 && (fds[0].revents & POLLIN)) {
			signalfd_siginfo si{};
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					notify("RELOADING=1");
					reload();
					notify("READY=1\n" + ready_status());
				} else {
					notify("STOPPING=1");
					log(Level::notice,
					    "stopping on signal " + std::to_string(si.ssi_signo) +
					        "; partitions stay with their members");
					close_listeners();
					return 0;
				}
			}
		}
		if (r > 0 && control_fd_ >= 0 && (fds[1].revents & POLLIN))
			serve_control(control_fd_);
		if (r > 0 && metrics_fd_ >= 0 && (fds[2].revents & POLLIN))
			serve_metrics(metrics_fd_);
		now = now_seconds();
		bool changed = false;
		if (now >= next_scan) {
			scan();
			next_scan = now + cfg_.scan;
			changed = true;
		}
		if (interval_on && now >= next_round) {
			merge_round("interval");
			next_round = now_seconds() + cfg_.interval;
			changed = true;
			if (opts_.rounds && rounds_by_trigger_["interval"] >= opts_.rounds) {
				write_textfile();
				close_listeners();
				return 0;
			}
		}
		if (pressure_on && now >= next_psi) {
			double avg10 = psi_some_avg10();
			bool high = avg10 >= cfg_.psi_threshold;
			// One round per crossing, then again while it stays high at
			// each poll: pressure rounds are bounded by the CPU budget.
			if (high) {
				if (!pressure_active)
					log(Level::notice,
					    "memory pressure some avg10=" + std::to_string(avg10) +
					        " >= " + std::to_string(cfg_.psi_threshold) +
					        ": merging");
				merge_round("pressure");
				changed = true;
			}
			pressure_active = high;
			next_psi = now_seconds() + cfg_.psi_poll;
		}
		if (changed) {
			write_textfile();
			if (auto st = ready_status(); st != last_status) {
				last_status = st;
				notify(st);
			}
		}
	}
}

} // namespace ksmpartd
