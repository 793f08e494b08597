// SPDX-License-Identifier: GPL-2.0-or-later
#include "cgroup.hpp"
#include "util.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <sstream>

namespace ksmtool {

namespace fs = std::filesystem;

fs::path resolve_cgroup(const std::string &arg, const fs::path &root)
{
	fs::path p(arg);
	std::error_code ec;
	if (p.is_absolute() || fs::exists(p, ec))
		return p;
	return root / p;
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
