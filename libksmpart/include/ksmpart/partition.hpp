// SPDX-License-Identifier: LGPL-2.1-or-later
// Partition: an owned partition fd and the operations on it.
#pragma once

#include "ksmpart/pidfd.hpp"
#include "ksmpart/ranges.hpp"
#include "ksmpart/result.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <sys/uio.h>

namespace ksmpart {

/// Sums of struct ksm_merge_result over the calls of one merge, in base pages.
struct MergeCounters {
	std::uint64_t pages_scanned = 0;
	std::uint64_t pages_merged = 0;
	std::uint64_t pages_already_shared = 0;
	std::uint64_t zero_pages_merged = 0;
	std::uint64_t pages_unshared = 0;
	std::uint64_t pages_failed = 0;
	std::uint64_t pages_absent = 0;
	std::uint64_t pages_skipped = 0;

	/// pages_scanned + pages_absent + pages_skipped.
	std::uint64_t pages_touched() const noexcept
	{
		return pages_scanned + pages_absent + pages_skipped;
	}
	MergeCounters &operator+=(const MergeCounters &o) noexcept;
	friend bool operator==(const MergeCounters &, const MergeCounters &) = default;
};

/// Outcome of merge()/unmerge() over any number of ranges, done in as many
/// system calls as needed (at most 1024 iovecs and MAX_RW_COUNT bytes each,
/// continuing after partial returns). Processing stops at the first error;
/// what was done before it is reported.
struct [[nodiscard]] Report {
	std::uint64_t bytes_requested = 0; ///< sum of the range lengths
	std::uint64_t bytes_processed = 0; ///< prefix of the ranges done
	std::size_t calls = 0;             ///< system calls made
	Error error;                       ///< what stopped it; false if none

	bool ok() const noexcept { return !error; }
	/// Every byte processed, no error.
	bool complete() const noexcept { return ok() && bytes_processed == bytes_requested; }
	/// Some progress, then an error.
	bool partial() const noexcept { return !ok() && bytes_processed > 0; }
};

struct [[nodiscard]] MergeReport : Report {
	MergeCounters counters;
	bool joined = false; ///< the target joined the partition during this merge
};

using UnmergeReport = Report;

/// Partition statistics (struct ksm_partition_stats). Fields beyond what the
/// kernel wrote are 0; `size` says how many bytes it wrote.
struct Stats {
	std::uint32_t size = 0;
	bool zero_pages = false; ///< created with KSM_OPEN_ZERO_PAGES
	std::uint64_t id = 0;
	std::uint64_t members = 0;
	std::uint64_t pages_shared = 0;
	std::uint64_t pages_sharing = 0;
	std::uint64_t pages_unshared = 0;
	std::uint64_t ksm_zero_pages = 0;
	std::uint64_t rmap_items = 0;
	std::uint64_t stable_node_chains = 0;
	std::uint64_t stable_node_dups = 0;
	std::int64_t general_profit = 0;
	std::uint64_t merge_calls = 0;
	std::uint64_t unmerge_calls = 0;
	std::uint64_t leave_calls = 0;
	std::uint64_t pages_scanned = 0;
	std::uint64_t pages_merged = 0;
	std::uint64_t zero_pages_merged = 0;
	std::uint64_t pages_failed = 0;
	std::uint64_t pages_absent = 0;
	std::uint64_t pages_skipped = 0;
	std::uint64_t merge_time_ns = 0;
	std::uint64_t unmerge_time_ns = 0;
};

/// Options for creating a partition.
struct CreateOptions {
	unsigned mode = 0600;    ///< permission bits (only 0666 allowed); named only
	bool exclusive = false;  ///< fail with EEXIST if the name exists
	bool zero_pages = false; ///< KSM_OPEN_ZERO_PAGES
	bool cloexec = true;     ///< KSM_OPEN_CLOEXEC
};

class Partition;

/// What open_or_create() did.
struct Opened;

/// An owned partition fd. Thread-safety: the const operations (merge,
/// unmerge, join, leave, stats) may run concurrently on one Partition from
/// several threads (each call is independent in the kernel); moving,
/// assigning, release() and destruction must not race with them, as for any
/// C++ object.
class Partition {
public:
	/// Create the named partition (KSM_OPEN_CREATE). If it exists already
	/// and is the caller's own (owner uid == fsuid) it is opened, unless
	/// `opts.exclusive`; one of another user's gives EEXIST, never that
	/// user's partition (docs/abi.md 4). mode and zero_pages apply only if
	/// it is created.
	static Result<Partition> create(std::string_view name, const CreateOptions &opts = {});
	/// Open an existing named partition on purpose, whoever owns it:
	/// checked against its owner and mode (EACCES), ENOENT if none.
	static Result<Partition> open(std::string_view name, bool cloexec = true);
	/// Create the partition if no partition of this name exists, else open
	/// the caller's own one; says which happened. Never joins another
	/// user's partition: that is EEXIST (use open() for it).
	static Result<Opened> open_or_create(std::string_view name, const CreateOptions &opts = {});
	/// Create a new anonymous partition (mode and exclusive are ignored).
	static Result<Partition> anonymous(const CreateOptions &opts = {});
	/// Take ownership of a partition fd (from dup, SCM_RIGHTS, ...).
	static Partition adopt(int fd, std::string name = {}) noexcept;

	Partition() noexcept = default; ///< empty (fd() == -1)
	Partition(Partition &&other) noexcept;
	Partition &operator=(Partition &&other) noexcept;
	Partition(const Partition &) = delete;
	Partition &operator=(const Partition &) = delete;
	~Partition();

	int fd() const noexcept { return fd_; }
	bool valid() const noexcept { return fd_ >= 0; }
	/// The name it was opened by; empty if anonymous or adopted unnamed.
	const std::string &name() const noexcept { return name_; }
	int release() noexcept;

	/// Merge the target's ranges (joining it if it is a member of none).
	MergeReport merge(const Pidfd &target, std::span<const Range> ranges) const;
	MergeReport merge(const Pidfd &target, std::span<const struct iovec> ranges) const;
	/// Merge what `what` selects in the target's current maps.
	MergeReport merge(const Pidfd &target, const Selector &what) const;
	/// Join the target without scanning (ksm_merge with vlen 0).
	MergeReport join(const Pidfd &target) const;

	UnmergeReport unmerge(const Pidfd &target, std::span<const Range> ranges) const;
	UnmergeReport unmerge(const Pidfd &target, std::span<const struct iovec> ranges) const;
	UnmergeReport unmerge(const Pidfd &target, const Selector &what) const;

	/// Unmerge everything of the target and remove it from the partition.
	Result<void> leave(const Pidfd &target) const;

	/// ioctl(KSM_IOC_GET_STATS). ENOTTY on kernels without statistics.
	Result<Stats> stats() const;

private:
	Partition(int fd, std::string name) noexcept : fd_(fd), name_(std::move(name)) {}
	int fd_ = -1;
	std::string name_;
};

struct Opened {
	Partition partition;
	bool created = false; ///< true: made by this call; false: the caller's existing one
};

} // namespace ksmpart
