// SPDX-License-Identifier: GPL-2.0-or-later
#include "errors.hpp"

#include <cerrno>

#include <ksmpart/error.hpp>

namespace ksmtool {

namespace {

/// The errno of `ec` if it has one, else 0.
int errno_of(std::error_code ec)
{
	// Not every errno has a generic condition in libstdc++ (EMEDIUMTYPE).
	if (ec.category() == std::system_category() || ec.category() == std::generic_category())
		return ec.value();
	auto cond = ec.default_error_condition();
	return cond.category() == std::generic_category() ? cond.value() : 0;
}

std::string quoted(const std::string &s)
{
	return "'" + s + "'";
}

} // namespace

Exit exit_for(Op op, std::error_code ec)
{
	if (!ec)
		return Exit::ok;
	if (ec.category() == ksmpart::category()) {
		switch (static_cast<ksmpart::errc>(ec.value())) {
		case ksmpart::errc::region_not_found:
			return Exit::not_found;
		case ksmpart::errc::invalid_range:
			return Exit::usage;
		default:
			return Exit::failure;
		}
	}
	switch (errno_of(ec)) {
	case ENOSYS:
		return Exit::unsupported;
	case ENOTTY: // the stats ioctl on a kernel without statistics
		return op == Op::stats ? Exit::unsupported : Exit::failure;
	case EINVAL: // ZERO_PAGES, or the stats ioctl, on a kernel without them
		return op == Op::create || op == Op::stats ? Exit::unsupported : Exit::failure;
	case EPERM:
	case EACCES:
		return Exit::permission;
	case ENOENT: // no /proc/ksm_partitions: a kernel without it
		return op == Op::table ? Exit::unsupported : Exit::not_found;
	case ESRCH:
	case ENOTDIR:
	case EMEDIUMTYPE:
		return Exit::not_found;
	case EEXIST:
	case EBUSY:
		return Exit::conflict;
	default:
		return Exit::failure;
	}
}

std::string describe(Op op, std::error_code ec, const ErrorContext &ctx)
{
	int e = errno_of(ec);
	const std::string part = quoted(ctx.partition);
	const std::string what = ec.message();
	if (e == ENOSYS)
		return "this kernel has no ksmpart support (needs a kernel with "
		       "CONFIG_KSM_PARTITION)";

	switch (op) {
	case Op::table:
		if (e == ENOENT)
			return "no " + ctx.path +
			       ": this kernel does not list partitions there (an "
			       "older ksmpart kernel, or /proc is not mounted)";
		if (e == EACCES || e == EPERM)
			return "no permission to read " + ctx.path +
			       ": it is root-only (mode 0400)";
		return "cannot read " + ctx.path + ": " + what;
	case Op::unit:
		if (e == ENOENT)
			return "no cgroup of unit " + quoted(ctx.partition) + " below " + ctx.path +
			       " (is it running? systemd creates it on start)";
		return "cannot search " + ctx.path + " for unit " + quoted(ctx.partition) + ": " +
		       what;
	case Op::cgroup:
		switch (e) {
		case ENOENT:
			return "no such cgroup directory " + quoted(ctx.path);
		case ENOTDIR:
			return "not a directory: " + quoted(ctx.path);
		case EMEDIUMTYPE:
			return quoted(ctx.path) +
			       " is not a cgroup v2 directory (no cgroup.procs; is cgroup2 "
			       "mounted there?)";
		case EACCES:
		case EPERM:
			return "no permission to read the processes of cgroup " + quoted(ctx.path);
		default:
			return "cannot list the processes of cgroup " + quoted(ctx.path) + ": " +
			       what;
		}
	case Op::holder:
		if (e == ENOENT)
			return "partition " + part + " is not held by ksmpart-tool (no pid file " +
			       ctx.path + ")";
		if (e == ESRCH)
			return "partition " + part + " is not held: the holder recorded in " +
			       ctx.path + " is gone (stale pid file removed)";
		if (e == EACCES || e == EPERM)
			return "no permission for the holder of " + part + " (" + ctx.path +
			       "): it runs as another user";
		return "holder of partition " + part + " (" + ctx.path + "): " + what;
	default:
		return what;
	}
}

std::string hint(Op op, std::error_code ec)
{
	int e = errno_of(ec);
	if ((op == Op::open || op == Op::stats) && e == ENOENT)
		return "create it with 'create --hold' or 'merge --create'; a partition "
		       "vanishes when no fd and no member holds it";
	if (op == Op::merge && e == EBUSY)
		return "a process is a member of at most one partition; 'leave' the other "
		       "first";
	if ((op == Op::unmerge || op == Op::leave) && e == ENOENT)
		return "the process is not a member of this partition";
	return {};
}

Exit combine(const std::vector<Exit> &per_target)
{
	bool any_ok = false;
	Exit first_fail = Exit::ok;
	for (Exit e : per_target) {
		if (e == Exit::ok)
			any_ok = true;
		else if (first_fail == Exit::ok)
			first_fail = e;
	}
	if (first_fail == Exit::ok)
		return Exit::ok;
	return any_ok ? Exit::partial : first_fail;
}

} // namespace ksmtool
