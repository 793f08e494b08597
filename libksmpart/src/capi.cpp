// SPDX-License-Identifier: LGPL-2.1-or-later
// The C API: a thin, exception-free shell around the C++ classes.
#include "ksmpart.h"

#include "internal.hpp"
#include "ksmpart/ksmpart.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

struct ksmpart_partition {
	ksmpart::Partition partition;
};

namespace {

thread_local std::string last_error;

/// Record the error for ksmpart_last_error(); return it as -errno.
int fail(const ksmpart::Error &e)
{
	try {
		last_error = e.message();
	} catch (...) {
	}
	int n = e.errnum();
	if (n > 0)
		return -n;
	// Library conditions map to the nearest errno.
	switch (static_cast<ksmpart::errc>(e.code().value())) {
	case ksmpart::errc::region_not_found:
		return -ENOENT;
	case ksmpart::errc::invalid_range:
		return -EINVAL;
	case ksmpart::errc::no_progress:
	case ksmpart::errc::bad_maps:
	case ksmpart::errc::bad_format:
		return -EIO;
	}
	return -EIO;
}

int fail(int errnum, const char *message)
{
	try {
		last_error = message;
	} catch (...) {
	}
	return -errnum;
}

/// Run f, turning exceptions into -errno (nothing may cross the C API).
template <typename F> auto guard(F f) noexcept -> decltype(f())
{
	try {
		return f();
	} catch (const std::bad_alloc &) {
		return fail(ENOMEM, "out of memory");
	} catch (const ksmpart::Exception &e) {
		return fail(e.error());
	} catch (const std::exception &e) {
		return fail(EIO, e.what());
	} catch (...) {
		return fail(EIO, "unknown C++ exception");
	}
}

constexpr std::size_t report_min_size = sizeof(ksmpart_merge_report);
constexpr std::size_t stats_min_size = sizeof(ksmpart_stats);

/// Copy a full struct into a size-versioned caller struct.
template <typename T> void put_sized(T *dst, T full)
{
	std::size_t n = std::min<std::size_t>(dst->size, sizeof(T));
	full.size = static_cast<std::uint32_t>(n);
	std::memcpy(static_cast<void *>(dst), &full, n);
}

void fill_report(ksmpart_merge_report *out, const ksmpart::Report &rep,
                 const ksmpart::MergeReport *m, int ret)
{
	if (!out)
		return;
	ksmpart_merge_report r{};
	r.error = ret;
	r.calls = static_cast<std::uint32_t>(rep.calls);
	r.bytes_requested = rep.bytes_requested;
	r.bytes_processed = rep.bytes_processed;
	if (rep.complete())
		r.flags |= KSMPART_REPORT_COMPLETE;
	if (m) {
		if (m->joined)
			r.flags |= KSMPART_REPORT_JOINED;
		const auto &c = m->counters;
		r.pages_scanned = c.pages_scanned;
		r.pages_merged = c.pages_merged;
		r.pages_already_shared = c.pages_already_shared;
		r.zero_pages_merged = c.zero_pages_merged;
		r.pages_unshared = c.pages_unshared;
		r.pages_failed = c.pages_failed;
		r.pages_absent = c.pages_absent;
		r.pages_skipped = c.pages_skipped;
	}
	put_sized(out, r);
}

/// Size check of an optional report; 0 if fine.
int check_report(const ksmpart_merge_report *r)
{
	if (r && r->size < report_min_size)
		return fail(EINVAL, "report->size is smaller than struct ksmpart_merge_report "
		                    "(set it to sizeof(struct ksmpart_merge_report))");
	return 0;
}

int check_vec(const struct iovec *vec, size_t vlen)
{
	if (!vec && vlen)
		return fail(EINVAL, "vec is NULL but vlen is not 0");
	return 0;
}

/// The C caller's pidfd, which must not be closed here.
struct Borrowed {
	explicit Borrowed(int pidfd) : pidfd(ksmpart::Pidfd::adopt(pidfd)) {}
	~Borrowed() { pidfd.release(); }
	ksmpart::Pidfd pidfd;
};

ssize_t ranges_out(const std::vector<ksmpart::Range> &ranges, struct iovec **vec)
{
	*vec = nullptr;
	if (ranges.empty())
		return 0;
	auto *v = static_cast<struct iovec *>(std::malloc(ranges.size() * sizeof(struct iovec)));
	if (!v)
		return fail(ENOMEM, "out of memory");
	for (std::size_t i = 0; i < ranges.size(); i++)
		v[i] = {reinterpret_cast<void *>(ranges[i].start), ranges[i].size()};
	*vec = v;
	return static_cast<ssize_t>(ranges.size());
}

int open_common(const char *name, unsigned flags, unsigned mode, ksmpart_partition **out)
{
	auto p = std::make_unique<ksmpart_partition>();
	ksmpart::Result<ksmpart::Partition> r = ksmpart::Error();
	if (!name) {
		ksmpart::CreateOptions o;
		o.zero_pages = flags & KSMPART_ZERO_PAGES;
		r = ksmpart::Partition::anonymous(o);
	} else if (flags & KSMPART_CREATE) {
		ksmpart::CreateOptions o;
		o.mode = mode;
		o.exclusive = flags & KSMPART_EXCL;
		o.zero_pages = flags & KSMPART_ZERO_PAGES;
		r = ksmpart::Partition::create(name, o);
	} else {
		// Flags and mode that need CREATE are passed on so that the
		// kernel rejects them (EINVAL) as the ABI says.
		int fd = ksmpart::sys::ksm_open(name, flags | ksmpart::open_cloexec, mode);
		if (fd < 0) {
			ksmpart::ErrorContext c;
			c.name = name;
			c.flags = flags;
			c.mode = mode;
			return fail(ksmpart::describe_error(ksmpart::Op::open, errno, c));
		}
		r = ksmpart::Partition::adopt(fd, name);
	}
	if (!r)
		return fail(r.error());
	p->partition = std::move(r).value();
	*out = p.release();
	return 0;
}

} // namespace

extern "C" {

const char *ksmpart_version(void)
{
	return KSMPART_VERSION;
}

const char *ksmpart_last_error(void)
{
	return last_error.c_str();
}

int ksmpart_available(void)
{
	return guard([]() -> int {
		auto r = ksmpart::probe();
		return r ? 0 : fail(r.error());
	});
}

int ksmpart_open(const char *name, unsigned int flags, unsigned int mode,
                 struct ksmpart_partition **out)
{
	return guard([&]() -> int {
		if (!name || !out)
			return fail(EINVAL, "ksmpart_open: name and out must not be NULL");
		if (flags & ~(KSMPART_CREATE | KSMPART_EXCL | KSMPART_ZERO_PAGES))
			return fail(EINVAL, "ksmpart_open: unknown flags");
		return open_common(name, flags, mode, out);
	});
}

int ksmpart_open_or_create(const char *name, unsigned int flags, unsigned int mode,
                           struct ksmpart_partition **out, int *created)
{
	return guard([&]() -> int {
		if (!name || !out)
			return fail(EINVAL,
			            "ksmpart_open_or_create: name and out must not be NULL");
		if (flags & ~KSMPART_ZERO_PAGES)
			return fail(EINVAL, "ksmpart_open_or_create: only KSMPART_ZERO_PAGES is "
			                    "allowed in flags");
		ksmpart::CreateOptions o;
		o.mode = mode;
		o.zero_pages = flags & KSMPART_ZERO_PAGES;
		auto r = ksmpart::Partition::open_or_create(name, o);
		if (!r)
			return fail(r.error());
		auto p = std::make_unique<ksmpart_partition>();
		p->partition = std::move(r->partition);
		if (created)
			*created = r->created ? 1 : 0;
		*out = p.release();
		return 0;
	});
}

int ksmpart_open_anonymous(unsigned int flags, struct ksmpart_partition **out)
{
	return guard([&]() -> int {
		if (!out)
			return fail(EINVAL, "ksmpart_open_anonymous: out must not be NULL");
		if (flags & ~KSMPART_ZERO_PAGES)
			return fail(EINVAL, "ksmpart_open_anonymous: only KSMPART_ZERO_PAGES "
			                    "is allowed in flags");
		return open_common(nullptr, flags, 0, out);
	});
}

int ksmpart_adopt_fd(int fd, struct ksmpart_partition **out)
{
	return guard([&]() -> int {
		if (fd < 0 || !out)
			return fail(EINVAL, "ksmpart_adopt_fd: needs fd >= 0 and out");
		auto p = std::make_unique<ksmpart_partition>();
		p->partition = ksmpart::Partition::adopt(fd);
		*out = p.release();
		return 0;
	});
}

int ksmpart_fd(const struct ksmpart_partition *p)
{
	if (!p)
		return fail(EINVAL, "ksmpart_fd: NULL handle");
	return p->partition.fd();
}

void ksmpart_close(struct ksmpart_partition *p)
{
	delete p;
}

int ksmpart_pidfd_open(pid_t pid)
{
	return guard([&]() -> int {
		if (pid == 0)
			return KSMPART_PIDFD_SELF;
		if (pid < 0)
			return fail(EINVAL, "ksmpart_pidfd_open: negative pid");
		// Not Pidfd::open: it maps getpid() to self, but the caller asked
		// for a real fd it will close.
		int fd = ksmpart::sys::pidfd_open(pid, 0);
		if (fd < 0)
			return fail(ksmpart::describe_error(ksmpart::Op::pidfd_open, errno,
			                                    ksmpart::detail::pid_context(pid)));
		return fd;
	});
}

int ksmpart_merge(const struct ksmpart_partition *p, int pidfd, const struct iovec *vec,
                  size_t vlen, struct ksmpart_merge_report *report)
{
	return guard([&]() -> int {
		if (!p)
			return fail(EINVAL, "ksmpart_merge: NULL handle");
		if (int r = check_report(report); r || (r = check_vec(vec, vlen)))
			return r;
		Borrowed target(pidfd);
		auto rep =
		    p->partition.merge(target.pidfd, std::span<const struct iovec>(vec, vlen));
		int ret = rep.ok() ? 0 : fail(rep.error);
		fill_report(report, rep, &rep, ret);
		return ret;
	});
}

int ksmpart_merge_anonymous(const struct ksmpart_partition *p, pid_t pid,
                            struct ksmpart_merge_report *report)
{
	return guard([&]() -> int {
		if (!p)
			return fail(EINVAL, "ksmpart_merge_anonymous: NULL handle");
		if (int r = check_report(report))
			return r;
		auto target = ksmpart::Pidfd::open(pid);
		if (!target)
			return fail(target.error());
		auto rep = p->partition.merge(*target, ksmpart::Selector::anonymous());
		int ret = rep.ok() ? 0 : fail(rep.error);
		fill_report(report, rep, &rep, ret);
		return ret;
	});
}

int ksmpart_merge_anonymous_pidfd(const struct ksmpart_partition *p, int pidfd,
                                  struct ksmpart_merge_report *report)
{
	return guard([&]() -> int {
		if (!p)
			return fail(EINVAL, "ksmpart_merge_anonymous_pidfd: NULL handle");
		if (int r = check_report(report))
			return r;
		Borrowed target(pidfd);
		auto rep = p->partition.merge(target.pidfd, ksmpart::Selector::anonymous());
		int ret = rep.ok() ? 0 : fail(rep.error);
		fill_report(report, rep, &rep, ret);
		return ret;
	});
}

int ksmpart_unmerge(const struct ksmpart_partition *p, int pidfd, const struct iovec *vec,
                    size_t vlen, struct ksmpart_merge_report *report)
{
	return guard([&]() -> int {
		if (!p)
			return fail(EINVAL, "ksmpart_unmerge: NULL handle");
		if (int r = check_report(report); r || (r = check_vec(vec, vlen)))
			return r;
		Borrowed target(pidfd);
		auto rep =
		    p->partition.unmerge(target.pidfd, std::span<const struct iovec>(vec, vlen));
		int ret = rep.ok() ? 0 : fail(rep.error);
		fill_report(report, rep, nullptr, ret);
		return ret;
	});
}

int ksmpart_leave(const struct ksmpart_partition *p, int pidfd)
{
	return guard([&]() -> int {
		if (!p)
			return fail(EINVAL, "ksmpart_leave: NULL handle");
		Borrowed target(pidfd);
		auto r = p->partition.leave(target.pidfd);
		return r ? 0 : fail(r.error());
	});
}

int ksmpart_get_stats(const struct ksmpart_partition *p, struct ksmpart_stats *st)
{
	return guard([&]() -> int {
		if (!p || !st)
			return fail(EINVAL, "ksmpart_get_stats: NULL argument");
		if (st->size < stats_min_size)
			return fail(EINVAL, "st->size is smaller than struct ksmpart_stats (set "
			                    "it to sizeof(struct ksmpart_stats))");
		auto r = p->partition.stats();
		if (!r)
			return fail(r.error());
		ksmpart_stats s{};
		s.flags = r->zero_pages ? KSMPART_ZERO_PAGES : 0;
		s.id = r->id;
		s.members = r->members;
		s.pages_shared = r->pages_shared;
		s.pages_sharing = r->pages_sharing;
		s.pages_unshared = r->pages_unshared;
		s.ksm_zero_pages = r->ksm_zero_pages;
		s.rmap_items = r->rmap_items;
		s.stable_node_chains = r->stable_node_chains;
		s.stable_node_dups = r->stable_node_dups;
		s.general_profit = r->general_profit;
		s.merge_calls = r->merge_calls;
		s.unmerge_calls = r->unmerge_calls;
		s.leave_calls = r->leave_calls;
		s.pages_scanned = r->pages_scanned;
		s.pages_merged = r->pages_merged;
		s.zero_pages_merged = r->zero_pages_merged;
		s.pages_failed = r->pages_failed;
		s.pages_absent = r->pages_absent;
		s.pages_skipped = r->pages_skipped;
		s.merge_time_ns = r->merge_time_ns;
		s.unmerge_time_ns = r->unmerge_time_ns;
		put_sized(st, s);
		return 0;
	});
}

ssize_t ksmpart_anonymous_ranges(pid_t pid, struct iovec **vec)
{
	return guard([&]() -> ssize_t {
		if (!vec)
			return fail(EINVAL, "ksmpart_anonymous_ranges: vec must not be NULL");
		*vec = nullptr;
		auto target = ksmpart::Pidfd::open(pid);
		if (!target)
			return fail(target.error());
		auto r = ksmpart::select_ranges(*target, ksmpart::Selector::anonymous());
		if (!r)
			return fail(r.error());
		return ranges_out(*r, vec);
	});
}

ssize_t ksmpart_anonymous_ranges_pidfd(int pidfd, struct iovec **vec)
{
	return guard([&]() -> ssize_t {
		if (!vec)
			return fail(EINVAL, "ksmpart_anonymous_ranges_pidfd: vec must not be NULL");
		*vec = nullptr;
		Borrowed target(pidfd);
		auto r = ksmpart::select_ranges(target.pidfd, ksmpart::Selector::anonymous());
		if (!r)
			return fail(r.error());
		return ranges_out(*r, vec);
	});
}

ssize_t ksmpart_region_ranges(pid_t pid, const char *region, struct iovec **vec)
{
	return guard([&]() -> ssize_t {
		if (!vec || !region)
			return fail(EINVAL,
			            "ksmpart_region_ranges: region and vec must not be NULL");
		*vec = nullptr;
		auto target = ksmpart::Pidfd::open(pid);
		if (!target)
			return fail(target.error());
		auto r = ksmpart::select_ranges(*target, ksmpart::Selector::named(region));
		if (!r)
			return fail(r.error());
		return ranges_out(*r, vec);
	});
}

} // extern "C"
