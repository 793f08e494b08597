// SPDX-License-Identifier: LGPL-2.1-or-later
// Errors of libksmpart: a std::error_code (errno values in
// std::system_category(), library conditions in ksmpart::category()) plus a
// message that names the cause in terms of the call that failed.
#pragma once

#include <string>
#include <string_view>
#include <sys/types.h>
#include <system_error>

namespace ksmpart {

/// Conditions detected by the library itself (not errnos).
enum class errc {
	invalid_range = 1, ///< a range with end < start, or a bad argument
	no_progress,       ///< the kernel returned 0 bytes for a non-empty request
	region_not_found,  ///< a named region (e.g. "[heap]") is not in the maps
	bad_maps,          ///< /proc/<pid>/maps could not be parsed at all
	bad_format,        ///< a /proc or sysfs file of ksmpart has an unexpected format
};

/// The category of ksmpart::errc ("ksmpart").
const std::error_category &category() noexcept;

inline std::error_code make_error_code(errc e) noexcept
{
	return {static_cast<int>(e), category()};
}

/// The operation that failed; it selects how an errno is explained.
enum class Op {
	open,       ///< ksm_open() of a named or anonymous partition
	merge,      ///< ksm_merge()
	unmerge,    ///< ksm_unmerge()
	leave,      ///< ksm_leave()
	stats,      ///< ioctl(KSM_IOC_GET_STATS)
	pidfd_open, ///< pidfd_open()
	read_maps,  ///< reading /proc/<pid>/maps
	other,
};

/// What the library knew when the call failed, for the message.
struct ErrorContext {
	std::string_view name; ///< partition name, empty if anonymous/unknown
	pid_t pid = 0;         ///< target pid, 0 if unknown
	bool self = false;     ///< the target is the caller
	unsigned flags = 0;    ///< ksm_open flags (KSM_OPEN_*)
	unsigned mode = 0;     ///< ksm_open mode
	int fd = -1;           ///< partition fd, -1 if none yet
	int pidfd = -1;        ///< target pidfd (or pidfd_self), -1 if none
};

/// An error: code plus human-readable message. A default-constructed Error
/// means success (operator bool is false).
class Error {
public:
	Error() = default;
	Error(std::error_code code, std::string message) : code_(code), message_(std::move(message))
	{
	}

	std::error_code code() const noexcept { return code_; }
	/// The errno if the code is in the system category, else 0.
	int errnum() const noexcept
	{
		return code_.category() == std::system_category() ? code_.value() : 0;
	}
	/// Full message, e.g. "merge: no ptrace access to pid 42 (...)".
	const std::string &message() const noexcept { return message_; }
	explicit operator bool() const noexcept { return static_cast<bool>(code_); }

private:
	std::error_code code_;
	std::string message_;
};

/// Build the Error for `errnum` returned by `op`: the message explains the
/// cause per docs/abi.md and, for EPERM/EACCES, names the capability that
/// would have allowed the call and whether the caller has it (libcap).
Error describe_error(Op op, int errnum, const ErrorContext &ctx = {});

/// Build an Error for a library condition.
Error make_error(errc e, std::string message);

/// Thrown by Result<T>::value() on an error.
class Exception : public std::system_error {
public:
	explicit Exception(const Error &e) : std::system_error(e.code(), e.message()), error_(e) {}
	const Error &error() const noexcept { return error_; }
	/// The message alone (what() may append the code's text).
	const std::string &message() const noexcept { return error_.message(); }

private:
	Error error_;
};

} // namespace ksmpart

template <> struct std::is_error_code_enum<ksmpart::errc> : std::true_type {
};
