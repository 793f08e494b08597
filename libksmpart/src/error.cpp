// SPDX-License-Identifier: LGPL-2.1-or-later
// Error messages that name the cause of each errno, per docs/abi.md.
#include "backend.hpp"
#include "internal.hpp"
#include "ksmpart/syscall.hpp"
#include "ksmpart/system.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ksmpart {
namespace {

class Category : public std::error_category {
public:
	const char *name() const noexcept override { return "ksmpart"; }
	std::string message(int ev) const override
	{
		switch (static_cast<errc>(ev)) {
		case errc::invalid_range:
			return "invalid range";
		case errc::no_progress:
			return "the kernel made no progress";
		case errc::region_not_found:
			return "no such region in the process's maps";
		case errc::bad_maps:
			return "unparsable /proc/<pid>/maps";
		case errc::bad_format:
			return "unexpected format of a ksmpart /proc or sysfs file";
		}
		return "unknown ksmpart error";
	}
};

const char *const no_syscalls =
    "this kernel has no ksmpart support (needs a kernel with CONFIG_KSM_PARTITION)";

/// "; the caller has CAP_X" or "; the caller lacks CAP_X".
std::string cap_note(int cap, const char *name)
{
	auto has = detail::has_capability(cap);
	if (!has)
		return "";
	return std::string("; the caller ") + (*has ? "has " : "lacks ") + name;
}

/// Who the target is, for messages.
std::string target(const ErrorContext &ctx)
{
	if (ctx.self || ctx.pidfd == pidfd_self)
		return "the calling process";
	if (ctx.pid > 0)
		return "pid " + std::to_string(ctx.pid);
	return "the target process";
}

std::string partition(const ErrorContext &ctx)
{
	if (!ctx.name.empty())
		return "partition '" + std::string(ctx.name) + "'";
	return "the partition";
}

/// Owner and mode of the named partition, for messages (find_named(); the
/// fd route only where opening it is harmless to try).
struct Owner {
	unsigned mode = 0;
	uid_t uid = 0;
	gid_t gid = 0;
};
std::optional<Owner> find_owner(std::string_view name, bool may_open)
{
	std::optional<PartitionInfo> p;
	if (may_open) {
		p = find_named(name);
	} else if (auto t = read_partition_table()) {
		for (auto &x : *t) {
			if (x.name != std::string(name))
				continue;
			if (p)
				return std::nullopt;
			p = x;
		}
	}
	if (!p)
		return std::nullopt;
	return Owner{p->mode, p->uid, p->gid};
}

/// Reads /sys/kernel/mm/ksm/<file> as a number; nullopt if unreadable.
std::optional<long> ksm_knob(const std::string &file)
{
	auto v = detail::read_file(detail::ksm_sysfs_dir() + "/" + file);
	if (!v)
		return std::nullopt;
	char *end = nullptr;
	long n = std::strtol(v->c_str(), &end, 10);
	if (end == v->c_str())
		return std::nullopt;
	return n;
}

const char *const disabled =
    "the administrator disabled ksmpart partitions (/sys/kernel/mm/ksm/partitions/enabled "
    "is 0): creating partitions and merging fail until it is set to 1";

/// Why a name is invalid, or "" if it looks valid.
std::string name_problem(std::string_view name)
{
	if (name.empty())
		return "the partition name is empty";
	if (name.size() > name_max)
		return "the partition name is " + std::to_string(name.size()) +
		       " bytes, more than " + std::to_string(name_max);
	if (name.front() == '.')
		return "a partition name must not start with '.'";
	for (std::size_t i = 0; i < name.size(); i++) {
		unsigned char c = name[i];
		if (!(isalnum(c) || c == '.' || c == '_' || c == '-' || c == ':' || c == '@')) {
			std::ostringstream o;
			o << "the partition name has byte 0x" << std::hex << unsigned(c) << std::dec
			  << " at offset " << i << " (allowed: A-Z a-z 0-9 . _ - : @)";
			return o.str();
		}
	}
	return "";
}

std::string octal(unsigned v)
{
	std::ostringstream o;
	o << "0" << std::oct << v;
	return o.str();
}

std::string open_message(int e, const ErrorContext &ctx)
{
	const bool named = !ctx.name.empty();
	const std::string what = named ? partition(ctx) : "anonymous partition";
	switch (e) {
	case EINVAL: {
		if (named) {
			auto p = name_problem(ctx.name);
			if (!p.empty())
				return what + ": " + p;
		}
		if (ctx.mode & ~0666u)
			return what + ": mode " + octal(ctx.mode) +
			       " has bits outside 0666 (only read/write bits are allowed)";
		if (ctx.flags & open_zero_pages)
			return what + ": flags rejected; this kernel may not support "
			              "KSM_OPEN_ZERO_PAGES (zero_pages)";
		return what + ": invalid flags or mode";
	}
	case ENAMETOOLONG:
		return what + ": name longer than " + std::to_string(name_max) + " bytes";
	case ENOENT:
		return what + " does not exist in this IPC namespace (create it with "
		              "KSM_OPEN_CREATE)";
	case EEXIST: {
		if (ctx.flags & open_excl)
			return what + " already exists (exclusive create)";
		// KSM_OPEN_CREATE without EXCL opens only the caller's own
		// partition; another user's name is EEXIST (docs/abi.md 4).
		std::string owner = "another user";
		if (auto o = find_owner(ctx.name, true))
			owner = "uid " + std::to_string(o->uid);
		return what + " exists and belongs to " + owner + " (the caller's fsuid is " +
		       std::to_string(geteuid()) +
		       "); open it without KSM_OPEN_CREATE if you meant to join it";
	}
	case EPERM:
		if (ksm_knob("partitions/enabled") == 0L)
			return what + ": " + disabled;
		return what + ": operation not permitted (is creating partitions disabled? see "
		              "/sys/kernel/mm/ksm/partitions/enabled)";
	case EACCES: {
		std::string who = "uid " + std::to_string(geteuid());
		std::string msg;
		if (auto o = find_owner(ctx.name, false))
			msg = what + ": mode " + octal(o->mode) + " owner uid " +
			      std::to_string(o->uid) + " gid " + std::to_string(o->gid) +
			      " denies read+write to " + who;
		else
			msg = what + ": its mode and owner deny read+write to " + who;
		return msg + " (CAP_IPC_OWNER overrides" +
		       cap_note(CAP_IPC_OWNER, "CAP_IPC_OWNER") + ")";
	}
	case EMFILE: {
		rlimit rl{};
		getrlimit(RLIMIT_NOFILE, &rl);
		return what + ": too many open files (RLIMIT_NOFILE " +
		       std::to_string(rl.rlim_cur) + ")";
	}
	case ENFILE:
		return what + ": the system-wide file table is full (fs.file-max)";
	case ENOMEM:
		return what + ": out of kernel memory";
	case EFAULT:
		return what + ": bad name address";
	}
	return what + ": " + std::strerror(e);
}

/// Is fd a partition fd of this process?
bool is_partition_fd(int fd)
{
	char buf[64];
	std::string link = "/proc/self/fd/" + std::to_string(fd);
	ssize_t n = readlink(link.c_str(), buf, sizeof(buf) - 1);
	if (n < 0)
		return false;
	return std::string_view(buf, n) == "anon_inode:[ksm_partition]";
}

std::string ptrace_note()
{
	std::string msg = "needs same uid and no setuid, or CAP_SYS_PTRACE" +
	                  cap_note(CAP_SYS_PTRACE, "CAP_SYS_PTRACE");
	if (auto scope = detail::read_file("/proc/sys/kernel/yama/ptrace_scope")) {
		int s = std::atoi(scope->c_str());
		if (s == 1)
			msg += "; Yama ptrace_scope=1 also limits it to descendants "
			       "without CAP_SYS_PTRACE";
		else if (s == 2)
			msg += "; Yama ptrace_scope=2 requires CAP_SYS_PTRACE";
		else if (s == 3)
			msg += "; Yama ptrace_scope=3 forbids it";
	}
	return msg;
}

std::string target_message(Op op, int e, const ErrorContext &ctx)
{
	const char *opname = op == Op::merge ? "merge" : op == Op::unmerge ? "unmerge" : "leave";
	std::string pre = std::string(opname) + " " + target(ctx) + ": ";
	switch (e) {
	case EBADF:
		if (ctx.fd >= 0 && !is_partition_fd(ctx.fd))
			return pre + "fd " + std::to_string(ctx.fd) + " is not a partition fd";
		if (ctx.pidfd != pidfd_self)
			return pre + "pidfd " + std::to_string(ctx.pidfd) + " is not an open pidfd";
		return pre + "bad partition fd or pidfd";
	case EINVAL:
		return pre + "invalid argument (flags, more than 1024 ranges, or a range "
		             "length above SSIZE_MAX)";
	case EFAULT:
		return pre + "a range lies outside the user address range (or wraps around)";
	case ESRCH:
		return pre + "no such process (it exited, is a zombie, has no address space, "
		             "or the pidfd names a non-leader thread)";
	case EPERM:
		if (op == Op::merge && ksm_knob("partitions/enabled") == 0L)
			return std::string(opname) + ": " + disabled;
		if (op == Op::merge && ksm_knob("run") == 2L)
			return std::string(opname) +
			       ": KSM is unmerging everything (/sys/kernel/mm/ksm/run is 2); "
			       "merging fails until the administrator sets it to 0 or 1";
		return std::string(opname) + ": no ptrace access to " + target(ctx) + " (" +
		       ptrace_note() + ")";
	case EBUSY:
		return std::string(opname) + ": " + target(ctx) +
		       " is a member of another partition (it must leave that one first)";
	case ENOENT:
		return pre + target(ctx) + " is not a member of " + partition(ctx);
	case EINTR:
		return pre + "interrupted by a signal before any progress";
	case ENOMEM:
		return pre + "out of memory";
	}
	return pre + std::strerror(e);
}

} // namespace

const std::error_category &category() noexcept
{
	static const Category c;
	return c;
}

Error make_error(errc e, std::string message)
{
	return {make_error_code(e), std::move(message)};
}

Error describe_error(Op op, int e, const ErrorContext &ctx)
{
	std::error_code code(e, std::system_category());
	if (e == ENOSYS && op != Op::pidfd_open && op != Op::read_maps)
		return {code, no_syscalls};
	switch (op) {
	case Op::open:
		return {code, "open " + open_message(e, ctx)};
	case Op::merge:
	case Op::unmerge:
	case Op::leave:
		return {code, target_message(op, e, ctx)};
	case Op::stats:
		if (e == ENOTTY || e == EINVAL)
			return {code, "stats: this kernel has no partition statistics "
			              "(KSM_IOC_GET_STATS; needs a newer ksmpart kernel)"};
		if (e == EBADF)
			return {code, "stats: fd " + std::to_string(ctx.fd) +
			                  " is not an open partition fd"};
		return {code, std::string("stats: ") + std::strerror(e)};
	case Op::pidfd_open:
		if (e == ESRCH)
			return {code, "no process with pid " + std::to_string(ctx.pid)};
		if (e == ENOSYS)
			return {code, "this kernel has no pidfd_open (needs Linux 5.3)"};
		if (e == EINVAL)
			return {code, "pidfd_open: pid " + std::to_string(ctx.pid) +
			                  " is not a thread-group leader or invalid"};
		return {code, "pidfd_open(" + std::to_string(ctx.pid) + "): " + std::strerror(e)};
	case Op::read_maps: {
		std::string pre = "read /proc/" +
		                  (ctx.pid > 0 ? std::to_string(ctx.pid) : std::string("self")) +
		                  "/maps: ";
		if (e == ESRCH)
			return {code, pre + "the process is gone or has no address space"};
		if (e == EACCES || e == EPERM)
			return {code, pre +
			                  "permission denied (needs ptrace read access: same "
			                  "uid, or CAP_SYS_PTRACE" +
			                  cap_note(CAP_SYS_PTRACE, "CAP_SYS_PTRACE") + ")"};
		return {code, pre + std::strerror(e)};
	}
	case Op::other:
		break;
	}
	return {code, std::strerror(e)};
}

namespace detail {

std::optional<bool> has_capability(int cap) noexcept
{
	cap_t caps = cap_get_proc();
	if (!caps)
		return std::nullopt;
	cap_flag_value_t v = CAP_CLEAR;
	int r = cap_get_flag(caps, static_cast<cap_value_t>(cap), CAP_EFFECTIVE, &v);
	cap_free(caps);
	if (r != 0)
		return std::nullopt;
	return v == CAP_SET;
}

std::optional<std::string> read_file(const std::string &path)
{
	std::string s;
	if (read_proc_file(path, s) < 0)
		return std::nullopt;
	return s;
}

int read_proc_file(const std::string &path, std::string &out)
{
	int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	out.clear();
	char buf[16384];
	for (;;) {
		ssize_t n = ::read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			::close(fd);
			return -e;
		}
		if (n == 0)
			break;
		out.append(buf, n);
	}
	::close(fd);
	return 0;
}

Error invalid_argument(std::string message)
{
	return {std::error_code(EINVAL, std::system_category()), std::move(message)};
}

void close_fd(int fd) noexcept
{
	int saved = errno;
	::close(fd);
	errno = saved;
}

} // namespace detail
} // namespace ksmpart
