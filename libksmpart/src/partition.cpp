// SPDX-License-Identifier: LGPL-2.1-or-later
// Partition: the fd object and batched merge/unmerge.
#include "ksmpart/partition.hpp"

#include "backend.hpp"
#include "internal.hpp"
#include "ksmpart/syscall.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <linux/ksmpart.h>
#include <unistd.h>
#include <vector>

namespace ksmpart {

static_assert(sizeof(struct ksm_merge_result) >= KSM_MERGE_RESULT_SIZE_VER0);
static_assert(sizeof(struct ksm_partition_stats) >= KSM_PARTITION_STATS_SIZE_VER0);

MergeCounters &MergeCounters::operator+=(const MergeCounters &o) noexcept
{
	pages_scanned += o.pages_scanned;
	pages_merged += o.pages_merged;
	pages_already_shared += o.pages_already_shared;
	zero_pages_merged += o.zero_pages_merged;
	pages_unshared += o.pages_unshared;
	pages_failed += o.pages_failed;
	pages_absent += o.pages_absent;
	pages_skipped += o.pages_skipped;
	return *this;
}

namespace {

ErrorContext context(const Partition &p, const Pidfd &target)
{
	ErrorContext c;
	c.name = p.name();
	c.pid = target.pid();
	c.self = target.is_self();
	c.fd = p.fd();
	c.pidfd = target.fd();
	return c;
}

/// Runs `call(vec, vlen)` over all of `iov` in batches of at most
/// max_iovecs, resuming after partial returns, until done or an error.
/// `call` returns what the system call returns (-1 and errno on failure).
template <typename Call>
void run_batches(std::vector<struct iovec> iov, Report &rep, Op op, const ErrorContext &ctx,
                 Call call)
{
	for (const auto &v : iov)
		rep.bytes_requested += v.iov_len;
	std::size_t i = 0;
	auto skip_empty = [&] {
		while (i < iov.size() && iov[i].iov_len == 0)
			i++;
	};
	skip_empty();
	// No ranges at all still makes one call: the kernel then only joins
	// (merge) or checks membership (unmerge), as with vlen == 0.
	if (i == iov.size()) {
		rep.calls++;
		if (call(nullptr, 0) < 0)
			rep.error = describe_error(op, errno, ctx);
		return;
	}
	while (i < iov.size()) {
		std::size_t n = std::min(iov.size() - i, max_iovecs);
		ssize_t done = call(&iov[i], n);
		rep.calls++;
		if (done < 0) {
			rep.error = describe_error(op, errno, ctx);
			return;
		}
		if (done == 0) {
			// The kernel reports an error instead of 0 progress; do not spin.
			rep.error = make_error(errc::no_progress,
			                       "the kernel processed 0 bytes of a non-empty range");
			return;
		}
		rep.bytes_processed += static_cast<std::uint64_t>(done);
		// Advance past what was processed, splitting a partly done range.
		auto left = static_cast<std::size_t>(done);
		while (left > 0 && i < iov.size()) {
			std::size_t take = std::min(left, iov[i].iov_len);
			iov[i].iov_base = static_cast<char *>(iov[i].iov_base) + take;
			iov[i].iov_len -= take;
			left -= take;
			if (iov[i].iov_len == 0)
				i++;
		}
		skip_empty();
	}
}

MergeCounters counters_of(const ksm_merge_result &r)
{
	MergeCounters c;
	c.pages_scanned = r.pages_scanned;
	c.pages_merged = r.pages_merged;
	c.pages_already_shared = r.pages_already_shared;
	c.zero_pages_merged = r.zero_pages_merged;
	c.pages_unshared = r.pages_unshared;
	c.pages_failed = r.pages_failed;
	c.pages_absent = r.pages_absent;
	c.pages_skipped = r.pages_skipped;
	return c;
}

std::vector<struct iovec> to_iovecs(std::span<const Range> ranges, Error &err)
{
	std::vector<struct iovec> v;
	v.reserve(ranges.size());
	for (const auto &r : ranges) {
		if (r.end < r.start) {
			err = make_error(errc::invalid_range, "a range ends before it starts");
			return {};
		}
		v.push_back({reinterpret_cast<void *>(r.start), r.end - r.start});
	}
	return v;
}

Result<Partition> do_open(const char *name, unsigned flags, unsigned mode)
{
	int fd = sys::backend().ksm_open(name, flags, mode);
	if (fd < 0) {
		ErrorContext c;
		c.name = name ? name : "";
		c.flags = flags;
		c.mode = mode;
		return describe_error(Op::open, errno, c);
	}
	return Partition::adopt(fd, name ? name : "");
}

} // namespace

Result<Partition> Partition::create(std::string_view name, const CreateOptions &opts)
{
	std::string n(name);
	if (n.find('\0') != n.npos)
		return detail::invalid_argument("open partition: name contains a NUL byte");
	unsigned flags = open_create | (opts.exclusive ? open_excl : 0) |
	                 (opts.zero_pages ? open_zero_pages : 0) |
	                 (opts.cloexec ? open_cloexec : 0);
	return do_open(n.c_str(), flags, opts.mode);
}

Result<Partition> Partition::open(std::string_view name, bool cloexec)
{
	std::string n(name);
	if (n.find('\0') != n.npos)
		return detail::invalid_argument("open partition: name contains a NUL byte");
	return do_open(n.c_str(), cloexec ? open_cloexec : 0, 0);
}

Result<Opened> Partition::open_or_create(std::string_view name, const CreateOptions &opts)
{
	CreateOptions o = opts;
	o.exclusive = true;
	auto r = create(name, o);
	if (r)
		return Opened{std::move(r).value(), true};
	if (opts.exclusive || r.error().errnum() != EEXIST)
		return r.error();
	// It exists: CREATE without EXCL opens it if it is ours, else EEXIST
	// (another user's). A racing last close may have removed it meanwhile,
	// in which case this creates it after all (flags say so, not us): the
	// partition is new but indistinguishable; report it as opened.
	o.exclusive = false;
	auto again = create(name, o);
	if (!again)
		return again.error();
	return Opened{std::move(again).value(), false};
}

Result<Partition> Partition::anonymous(const CreateOptions &opts)
{
	unsigned flags =
	    (opts.zero_pages ? open_zero_pages : 0) | (opts.cloexec ? open_cloexec : 0);
	return do_open(nullptr, flags, 0);
}

Partition Partition::adopt(int fd, std::string name) noexcept
{
	return Partition(fd, std::move(name));
}

Partition::Partition(Partition &&other) noexcept : fd_(other.fd_), name_(std::move(other.name_))
{
	other.fd_ = -1;
}

Partition &Partition::operator=(Partition &&other) noexcept
{
	if (this != &other) {
		if (fd_ >= 0)
			detail::close_fd(fd_);
		fd_ = other.fd_;
		name_ = std::move(other.name_);
		other.fd_ = -1;
	}
	return *this;
}

Partition::~Partition()
{
	if (fd_ >= 0)
		detail::close_fd(fd_);
}

int Partition::release() noexcept
{
	int fd = fd_;
	fd_ = -1;
	return fd;
}

MergeReport Partition::merge(const Pidfd &target, std::span<const struct iovec> ranges) const
{
	MergeReport rep;
	const int fd = fd_, pidfd = target.fd();
	run_batches(std::vector<struct iovec>(ranges.begin(), ranges.end()), rep, Op::merge,
	            context(*this, target), [&](const struct iovec *vec, std::size_t vlen) {
		            ksm_merge_result res{};
		            res.size = sizeof(res);
		            ssize_t r = sys::backend().ksm_merge(fd, pidfd, vec, vlen, &res, 0);
		            if (r >= 0) {
			            // Fields past the kernel's res.size stay 0 (zeroed above).
			            rep.counters += counters_of(res);
			            if (res.flags & KSM_MERGE_RESULT_JOINED)
				            rep.joined = true;
		            }
		            return r;
	            });
	return rep;
}

MergeReport Partition::merge(const Pidfd &target, std::span<const Range> ranges) const
{
	Error err;
	auto iov = to_iovecs(ranges, err);
	if (err) {
		MergeReport rep;
		rep.error = err;
		return rep;
	}
	return merge(target, std::span<const struct iovec>(iov));
}

MergeReport Partition::merge(const Pidfd &target, const Selector &what) const
{
	auto ranges = select_ranges(target, what);
	if (!ranges) {
		MergeReport rep;
		rep.error = ranges.error();
		return rep;
	}
	return merge(target, std::span<const Range>(*ranges));
}

MergeReport Partition::join(const Pidfd &target) const
{
	return merge(target, std::span<const struct iovec>());
}

UnmergeReport Partition::unmerge(const Pidfd &target, std::span<const struct iovec> ranges) const
{
	UnmergeReport rep;
	const int fd = fd_, pidfd = target.fd();
	run_batches(std::vector<struct iovec>(ranges.begin(), ranges.end()), rep, Op::unmerge,
	            context(*this, target), [&](const struct iovec *vec, std::size_t vlen) {
		            return sys::backend().ksm_unmerge(fd, pidfd, vec, vlen, 0);
	            });
	return rep;
}

UnmergeReport Partition::unmerge(const Pidfd &target, std::span<const Range> ranges) const
{
	Error err;
	auto iov = to_iovecs(ranges, err);
	if (err) {
		UnmergeReport rep;
		rep.error = err;
		return rep;
	}
	return unmerge(target, std::span<const struct iovec>(iov));
}

UnmergeReport Partition::unmerge(const Pidfd &target, const Selector &what) const
{
	auto ranges = select_ranges(target, what);
	if (!ranges) {
		UnmergeReport rep;
		rep.error = ranges.error();
		return rep;
	}
	return unmerge(target, std::span<const Range>(*ranges));
}

Result<void> Partition::leave(const Pidfd &target) const
{
	if (sys::backend().ksm_leave(fd_, target.fd(), 0) < 0)
		return describe_error(Op::leave, errno, context(*this, target));
	return {};
}

Result<Stats> Partition::stats() const
{
	ksm_partition_stats k{};
	if (sys::backend().get_stats(fd_, &k, sizeof(k)) < 0) {
		ErrorContext c;
		c.name = name_;
		c.fd = fd_;
		return describe_error(Op::stats, errno, c);
	}
	Stats s;
	s.size = k.size;
	s.zero_pages = k.flags & KSM_OPEN_ZERO_PAGES;
	s.id = k.id;
	s.members = k.members;
	s.pages_shared = k.pages_shared;
	s.pages_sharing = k.pages_sharing;
	s.pages_unshared = k.pages_unshared;
	s.ksm_zero_pages = k.ksm_zero_pages;
	s.rmap_items = k.rmap_items;
	s.stable_node_chains = k.stable_node_chains;
	s.stable_node_dups = k.stable_node_dups;
	s.general_profit = k.general_profit;
	s.merge_calls = k.merge_calls;
	s.unmerge_calls = k.unmerge_calls;
	s.leave_calls = k.leave_calls;
	s.pages_scanned = k.pages_scanned;
	s.pages_merged = k.pages_merged;
	s.zero_pages_merged = k.zero_pages_merged;
	s.pages_failed = k.pages_failed;
	s.pages_absent = k.pages_absent;
	s.pages_skipped = k.pages_skipped;
	s.merge_time_ns = k.merge_time_ns;
	s.unmerge_time_ns = k.unmerge_time_ns;
	return s;
}

} // namespace ksmpart
