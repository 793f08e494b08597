// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.hpp"

#include <toml++/toml.h>

#include <fnmatch.h>
#include <fstream>
#include <set>
#include <sstream>

#include <ksmpart/syscall.hpp>

namespace ksmpartd {

namespace {

std::string where(const std::string &path, const toml::source_region &r)
{
	return path + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

/// The partition-name rules of the kernel (docs/abi.md 2.1).
std::string name_problem(const std::string &n)
{
	if (n.empty() || n.size() > ksmpart::name_max)
		return "a partition name has 1 to 255 bytes";
	if (n[0] == '.')
		return "a partition name must not start with '.'";
	for (char c : n)
		if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
		      c == '-' || c == ':' || c == '@'))
			return std::string("invalid character '") + c +
			       "' in partition name (allowed: A-Z a-z 0-9 . _ - : @)";
	return {};
}

std::optional<unsigned> octal_mode(const std::string &s)
{
	if (s.empty() || s.size() > 4)
		return std::nullopt;
	unsigned v = 0;
	for (char c : s) {
		if (c < '0' || c > '7')
			return std::nullopt;
		v = v * 8 + static_cast<unsigned>(c - '0');
	}
	if (v & ~0666u)
		return std::nullopt;
	return v;
}

struct Checker {
	const std::string &path;
	std::string error;

	bool fail(const toml::node &n, const std::string &msg)
	{
		if (error.empty())
			error = where(path, n.source()) + ": " + msg;
		return false;
	}
	bool fail(const std::string &msg)
	{
		if (error.empty())
			error = path + ": " + msg;
		return false;
	}
	/// Unknown keys are errors: a typo must not silently change the policy.
	bool only(const toml::table &t, std::initializer_list<std::string_view> keys,
	          const std::string &what)
	{
		for (auto &&[k, v] : t) {
			bool known = false;
			for (auto key : keys)
				known |= k.str() == key;
			if (!known) {
				std::string list;
				for (auto key : keys)
					list += (list.empty() ? "" : ", ") + std::string(key);
				return fail(v, "unknown key '" + std::string(k.str()) + "' in " +
				                   what + " (known: " + list + ")");
			}
		}
		return true;
	}
	bool number(const toml::table &t, const char *key, double &out, double min, double max)
	{
		auto *n = t.get(key);
		if (!n)
			return true;
		std::optional<double> v;
		if (auto i = n->value<std::int64_t>())
			v = static_cast<double>(*i);
		else if (auto d = n->value<double>())
			v = *d;
		if (!v)
			return fail(*n, std::string(key) + " must be a number");
		if (*v < min || *v > max) {
			std::ostringstream o;
			o << key << " must be between " << min << " and " << max;
			return fail(*n, o.str());
		}
		out = *v;
		return true;
	}
	bool string(const toml::table &t, const char *key, std::string &out)
	{
		auto *n = t.get(key);
		if (!n)
			return true;
		auto v = n->value<std::string>();
		if (!v)
			return fail(*n, std::string(key) + " must be a string");
		out = *v;
		return true;
	}
	bool boolean(const toml::table &t, const char *key, bool &out)
	{
		auto *n = t.get(key);
		if (!n)
			return true;
		auto v = n->value<bool>();
		if (!v)
			return fail(*n, std::string(key) + " must be true or false");
		out = *v;
		return true;
	}
	bool mode(const toml::table &t, const char *key, unsigned &out)
	{
		std::string s;
		auto *n = t.get(key);
		if (!n)
			return true;
		if (!string(t, key, s))
			return fail(*n, std::string(key) +
			                    " must be a string of octal digits, e.g. \"0600\"");
		auto m = octal_mode(s);
		if (!m)
			return fail(*n, std::string(key) + " \"" + s +
			                    "\" is not octal permission bits within 0666");
		out = *m;
		return true;
	}
};

} // namespace

std::string Rule::describe() const
{
	const char *k = kind == Kind::cgroup  ? "cgroup"
	                : kind == Kind::unit  ? "unit"
	                : kind == Kind::slice ? "slice"
	                                      : "annotation";
	return std::string(k) + " = \"" + pattern + "\"";
}

const PartitionSpec *Config::find(const std::string &name) const
{
	for (const auto &p : partitions)
		if (p.name == name)
			return &p;
	return nullptr;
}

bool glob_match(const std::string &pattern, const std::string &text)
{
	return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

std::optional<Config> parse_config(const std::string &text, const std::string &path,
                                   std::string &error)
{
	toml::table root;
	try {
		root = toml::parse(text, path);
	} catch (const toml::parse_error &e) {
		error = where(path, e.source()) + ": " + std::string(e.description());
		return std::nullopt;
	}
	Config c;
	c.path = path;
	Checker ck{path, {}};
	auto done = [&]() -> std::optional<Config> {
		if (!ck.error.empty()) {
			error = ck.error;
			return std::nullopt;
		}
		return c;
	};
	if (!ck.only(root, {"daemon", "oci", "partition", "rule"}, "the file"))
		return done();

	if (auto *d = root.get("daemon")) {
		auto *t = d->as_table();
		if (!t) {
			ck.fail(*d, "[daemon] must be a table");
			return done();
		}
		if (!ck.only(*t,
		             {"interval", "scan", "cpu_budget", "psi_threshold", "psi_poll",
		              "metrics_listen", "textfile", "socket", "log_level"},
		             "[daemon]") ||
		    !ck.number(*t, "interval", c.interval, 0, 86400) ||
		    !ck.number(*t, "scan", c.scan, 0.1, 3600) ||
		    !ck.number(*t, "cpu_budget", c.cpu_budget, 0.001, 3600) ||
		    !ck.number(*t, "psi_threshold", c.psi_threshold, 0, 100) ||
		    !ck.number(*t, "psi_poll", c.psi_poll, 0.1, 3600) ||
		    !ck.string(*t, "metrics_listen", c.metrics_listen) ||
		    !ck.string(*t, "textfile", c.textfile) || !ck.string(*t, "socket", c.socket) ||
		    !ck.string(*t, "log_level", c.log_level))
			return done();
		static const std::set<std::string> levels = {"debug", "info", "notice", "warning",
		                                             "err"};
		if (!levels.count(c.log_level)) {
			ck.fail(*t->get("log_level"),
			        "log_level must be one of debug, info, notice, warning, err");
			return done();
		}
		if (!c.metrics_listen.empty() && c.metrics_listen.find(':') == std::string::npos) {
			ck.fail(*t->get("metrics_listen"), "metrics_listen must be ADDRESS:PORT");
			return done();
		}
	}
	if (auto *o = root.get("oci")) {
		auto *t = o->as_table();
		if (!t) {
			ck.fail(*o, "[oci] must be a table");
			return done();
		}
		if (!ck.only(*t, {"create", "mode"}, "[oci]") ||
		    !ck.boolean(*t, "create", c.oci_create) || !ck.mode(*t, "mode", c.oci_mode))
			return done();
	}
	if (auto *ps = root.get("partition")) {
		auto *arr = ps->as_array();
		if (!arr || !arr->is_array_of_tables()) {
			ck.fail(*ps, "partitions are [[partition]] tables");
			return done();
		}
		for (auto &&n : *arr) {
			auto &t = *n.as_table();
			PartitionSpec p;
			if (!ck.only(t, {"name", "mode", "zero_pages", "merge", "regions"},
			             "[[partition]]") ||
			    !ck.string(t, "name", p.name) || !ck.mode(t, "mode", p.mode) ||
			    !ck.boolean(t, "zero_pages", p.zero_pages))
				return done();
			if (auto why = name_problem(p.name); !why.empty()) {
				ck.fail(t, "[[partition]] name \"" + p.name + "\": " + why);
				return done();
			}
			if (c.find(p.name)) {
				ck.fail(t, "partition \"" + p.name + "\" is declared twice");
				return done();
			}
			if (auto *m = t.get("merge")) {
				auto *ma = m->as_array();
				if (!ma) {
					ck.fail(*m, "merge must be a list of \"join\", "
					            "\"interval\", \"pressure\"");
					return done();
				}
				p.merge = {false, false, false};
				for (auto &&e : *ma) {
					auto s = e.value<std::string>();
					if (s == "join")
						p.merge.on_join = true;
					else if (s == "interval")
						p.merge.interval = true;
					else if (s == "pressure")
						p.merge.pressure = true;
					else {
						ck.fail(e, "merge: unknown trigger (known: join, "
						           "interval, "
						           "pressure)");
						return done();
					}
				}
			}
			if (auto *r = t.get("regions")) {
				auto *ra = r->as_array();
				if (!ra) {
					ck.fail(*r, "regions must be a list of maps names, e.g. "
					            "[\"[heap]\"]");
					return done();
				}
				for (auto &&e : *ra) {
					auto s = e.value<std::string>();
					if (!s || s->empty()) {
						ck.fail(e,
						        "regions: a maps name such as \"[heap]\"");
						return done();
					}
					p.regions.push_back(*s);
				}
			}
			c.partitions.push_back(std::move(p));
		}
	}
	if (auto *rs = root.get("rule")) {
		auto *arr = rs->as_array();
		if (!arr || !arr->is_array_of_tables()) {
			ck.fail(*rs, "rules are [[rule]] tables");
			return done();
		}
		for (auto &&n : *arr) {
			auto &t = *n.as_table();
			if (!ck.only(t, {"partition", "cgroup", "unit", "slice", "annotation"},
			             "[[rule]]"))
				return done();
			Rule r;
			if (!ck.string(t, "partition", r.partition))
				return done();
			int kinds = 0;
			for (auto [key, kind] : {std::pair{"cgroup", Rule::Kind::cgroup},
			                         std::pair{"unit", Rule::Kind::unit},
			                         std::pair{"slice", Rule::Kind::slice},
			                         std::pair{"annotation", Rule::Kind::annotation}}) {
				if (t.contains(key)) {
					kinds++;
					r.kind = kind;
					if (!ck.string(t, key, r.pattern))
						return done();
				}
			}
			if (kinds != 1) {
				ck.fail(t, "a [[rule]] has exactly one of cgroup, unit, slice, "
				           "annotation");
				return done();
			}
			if (r.pattern.empty()) {
				ck.fail(t, "a [[rule]] pattern must not be empty");
				return done();
			}
			if (r.kind == Rule::Kind::cgroup && r.pattern[0] != '/') {
				ck.fail(t, "cgroup = \"" + r.pattern +
				               "\": write it as /proc/PID/cgroup shows it, "
				               "starting with '/'");
				return done();
			}
			if (r.partition.empty() || !c.find(r.partition)) {
				ck.fail(t, "rule " + r.describe() + ": partition \"" + r.partition +
				               "\" is not declared by a [[partition]]");
				return done();
			}
			c.rules.push_back(std::move(r));
		}
	}
	if (c.cpu_budget <= 0)
		ck.fail("cpu_budget must be positive");
	return done();
}

namespace {

std::vector<std::string> components(const std::string &path)
{
	std::vector<std::string> out;
	std::stringstream ss(path);
	std::string c;
	while (std::getline(ss, c, '/'))
		if (!c.empty())
			out.push_back(c);
	return out;
}

bool under(const std::string &cg, const std::string &prefix)
{
	return cg == prefix ||
	       (cg.size() > prefix.size() && cg.compare(0, prefix.size(), prefix) == 0 &&
	        cg[prefix.size()] == '/');
}

} // namespace

int match_rules(const Config &c, const std::map<std::string, std::string> &oci,
                const std::string &cg, std::string &partition)
{
	auto parts = components(cg);
	for (std::size_t i = 0; i < c.rules.size(); i++) {
		const auto &r = c.rules[i];
		bool m = false;
		switch (r.kind) {
		case Rule::Kind::cgroup:
			m = glob_match(r.pattern, cg) || glob_match(r.pattern + "/*", cg);
			break;
		case Rule::Kind::unit:
		case Rule::Kind::slice: {
			std::string pat = r.pattern;
			if (r.kind == Rule::Kind::unit && pat.find('.') == std::string::npos)
				pat += ".service";
			for (const auto &comp : parts)
				m |= glob_match(pat, comp);
			break;
		}
		case Rule::Kind::annotation:
			for (const auto &[prefix, ann] : oci)
				m |= ann == r.pattern && under(cg, prefix);
			break;
		}
		if (m) {
			partition = r.partition;
			return static_cast<int>(i);
		}
	}
	if (c.oci_create)
		for (const auto &[prefix, ann] : oci)
			if (under(cg, prefix)) {
				partition = ann;
				return -2;
			}
	return -1;
}

std::optional<Config> load_config(const std::string &path, std::string &error)
{
	std::ifstream f(path);
	if (!f) {
		error = path + ": cannot be read: " + std::strerror(errno);
		return std::nullopt;
	}
	std::stringstream ss;
	ss << f.rdbuf();
	return parse_config(ss.str(), path, error);
}

} // namespace ksmpartd
