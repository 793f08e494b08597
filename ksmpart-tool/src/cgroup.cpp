// SPDX-License-Identifier: GPL-2.0-or-later
#include "cgroup.hpp"
#include "util.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <sstream>

namespace ksmtool {

namespace fs = std::filesystem;

std::string cgroup2_mount(const std::string &mountinfo)
{
	std::string text;
	std::error_code ec;
	if (!read_file(mountinfo, text, ec))
		return cgroup2_root;
	std::istringstream in(text);
	std::string line;
	while (std::getline(in, line)) {
		// id parent maj:min root mountpoint options [optional...] - type source super
		auto dash = line.find(" - ");
		if (dash == line.npos)
			continue;
		std::istringstream rest(line.substr(dash + 3));
		std::string type;
		rest >> type;
		if (type != "cgroup2")
			continue;
		std::istringstream f(line);
		std::string id, parent, dev, root, mountpoint;
		f >> id >> parent >> dev >> root >> mountpoint;
		if (!mountpoint.empty())
			return mountpoint;
	}
	return cgroup2_root;
}

fs::path resolve_cgroup(const std::string &arg, const fs::path &root)
{
	std::string a = arg;
	if (a.starts_with("0::"))
		a.erase(0, 3);
	fs::path p(a);
	auto rel = p.lexically_relative(root);
	if (p.is_absolute() && !rel.empty() && *rel.begin() != "..")
		return p.lexically_normal();
	auto out = (root / p.relative_path()).lexically_normal();
	// "a/." normalises to "a/": no trailing separator.
	if (!out.has_filename() && out.has_parent_path() && out != out.root_path())
		out = out.parent_path();
	return out;
}

std::vector<fs::path> unit_cgroups(const std::string &unit, const fs::path &root,
                                   std::error_code &ec)
{
	ec.clear();
	std::string name = unit;
	static const char *const suffixes[] = {".service", ".scope", ".slice",
	                                       ".socket",  ".mount", ".swap"};
	bool has_suffix = false;
	for (const char *s : suffixes)
		has_suffix |= name.ends_with(s);
	if (!has_suffix)
		name += ".service";
	std::vector<fs::path> found;
	std::error_code wec;
	fs::recursive_directory_iterator it(root, fs::directory_options::none, wec), end;
	if (wec) {
		ec = wec;
		return {};
	}
	for (; it != end; it.increment(wec)) {
		if (wec) {
			// A cgroup removed during the walk: skip it.
			wec.clear();
			continue;
		}
		std::error_code dec;
		if (!it->is_directory(dec) || it->is_symlink(dec))
			continue;
		if (it->path().filename() == name) {
			found.push_back(it->path());
			it.disable_recursion_pending(); // sub-cgroups belong to it
		}
	}
	if (found.empty())
		ec = std::error_code(ENOENT, std::generic_category());
	std::sort(found.begin(), found.end());
	return found;
}

std::string cgroup_of(pid_t pid, const std::string &proc)
{
	std::string text;
	std::error_code ec;
	if (!read_file(proc + "/" + std::to_string(pid) + "/cgroup", text, ec))
		return {};
	std::istringstream in(text);
	std::string line;
	while (std::getline(in, line))
		if (line.starts_with("0::"))
			return line.substr(3);
	return {};
}

bool parse_cgroup_procs(const std::string &text, std::vector<pid_t> &pids)
{
	std::istringstream in(text);
	std::string line;
	while (std::getline(in, line)) {
		if (line.empty())
			continue;
		pid_t pid = 0;
		auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
		if (ec != std::errc() || ptr != line.data() + line.size() || pid <= 0)
			return false;
		pids.push_back(pid);
	}
	return true;
}

namespace {

/// Read one cgroup.procs; a missing file is reported as ENOENT.
bool read_procs(const fs::path &file, std::vector<pid_t> &pids, std::error_code &ec)
{
	std::string text;
	if (!read_file(file, text, ec))
		return false;
	if (!parse_cgroup_procs(text, pids)) {
		ec = std::error_code(EBADMSG, std::generic_category());
		return false;
	}
	return true;
}

/// Add the processes of the cgroups below `dir`. A child that vanishes
/// mid-walk (ENOENT/ENODEV) had no processes left; every other error,
/// EACCES included, is reported rather than silently losing processes.
bool walk_children(const fs::path &dir, std::vector<pid_t> &pids, std::error_code &ec)
{
	fs::directory_iterator it(dir, ec);
	if (ec)
		return ec.value() == ENOENT || ec.value() == ENODEV ? (ec.clear(), true) : false;
	for (; it != fs::directory_iterator(); it.increment(ec)) {
		if (ec)
			return false;
		std::error_code dec;
		if (it->is_symlink(dec) || !it->is_directory(dec))
			continue;
		std::error_code rec;
		if (!read_procs(it->path() / "cgroup.procs", pids, rec)) {
			if (rec.value() == ENOENT || rec.value() == ENODEV)
				continue;
			ec = rec;
			return false;
		}
		if (!walk_children(it->path(), pids, ec))
			return false;
	}
	return true;
}

} // namespace

std::vector<pid_t> cgroup_pids(const fs::path &dir, std::error_code &ec)
{
	ec.clear();
	std::vector<pid_t> pids;
	auto st = fs::status(dir, ec);
	if (ec)
		return {};
	if (!fs::is_directory(st)) {
		ec = std::error_code(ENOTDIR, std::generic_category());
		return {};
	}
	if (!fs::exists(dir / "cgroup.procs", ec)) {
		if (!ec)
			ec = std::error_code(EMEDIUMTYPE, std::generic_category());
		return {};
	}
	if (!read_procs(dir / "cgroup.procs", pids, ec) || !walk_children(dir, pids, ec))
		return {};
	std::sort(pids.begin(), pids.end());
	pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
	return pids;
}

} // namespace ksmtool
