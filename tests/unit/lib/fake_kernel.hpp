// SPDX-License-Identifier: GPL-2.0-or-later
// A fake kernel for host tests: models what docs/abi.md says ksm_merge and
// ksm_unmerge do with iovecs (UIO_MAXIOV, MAX_RW_COUNT, page-granular
// partial progress, errors only before progress) and records every call.
#pragma once

#include "backend.hpp"

#include <ksmpart/syscall.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <linux/ksmpart.h>
#include <optional>
#include <sys/uio.h>
#include <vector>

namespace fake {

constexpr std::size_t page = 4096;

/// One processed piece of a range, in the order the kernel processed it.
struct Piece {
	std::uintptr_t start, end;
};

class Kernel : public ksmpart::sys::Backend {
public:
	// Configuration.
	int open_errno = 0;          ///< fail ksm_open with this
	int merge_errno = 0;         ///< fail merge/unmerge calls with this ...
	int fail_from_call = 0;      ///< ... from this call number on (0 = first)
	std::size_t call_budget = 0; ///< if not 0: at most this many bytes per call
	int stats_errno = 0;
	ksm_partition_stats stats{};
	std::uint32_t kernel_result_size = sizeof(ksm_merge_result); ///< older kernel: smaller
	bool join_on_first = true;
	bool is_ksmpart = true; ///< supported(): the kernel shows a ksmpart marker

	// Records.
	std::vector<std::size_t> vlens; ///< vlen of each merge/unmerge call
	std::vector<Piece> pieces;      ///< processed pieces in order
	int calls = 0;
	int opens = 0;
	bool member = false;

	bool supported() override { return is_ksmpart; }

	int ksm_open(const char *, unsigned flags, unsigned) override
	{
		opens++;
		if (open_errno)
			return err(open_errno);
		if (flags & ~0xfU)
			return err(EINVAL);
		return 1000 + opens; // never closed for real: tests only pass it back
	}

	ssize_t ksm_merge(int, int, const struct iovec *vec, std::size_t vlen,
	                  struct ksm_merge_result *res, unsigned flags) override
	{
		ksm_merge_result r{};
		ssize_t n = process(vec, vlen, flags, &r);
		if (n >= 0 && res) {
			if (res->size < KSM_MERGE_RESULT_SIZE_VER0)
				return err(EINVAL);
			std::uint32_t sz = std::min(res->size, kernel_result_size);
			r.size = sz;
			if (!member && join_on_first)
				r.flags |= KSM_MERGE_RESULT_JOINED;
			std::memcpy(res, &r, sz);
		}
		if (n >= 0)
			member = true;
		return n;
	}

	ssize_t ksm_unmerge(int, int, const struct iovec *vec, std::size_t vlen,
	                    unsigned flags) override
	{
		return process(vec, vlen, flags, nullptr);
	}

	int ksm_leave(int, int, unsigned flags) override
	{
		if (flags)
			return err(EINVAL);
		if (merge_errno && calls >= fail_from_call)
			return err(merge_errno);
		member = false;
		return 0;
	}

	int get_stats(int, struct ksm_partition_stats *st, std::size_t size) override
	{
		if (stats_errno)
			return err(stats_errno);
		auto s = stats;
		s.size = static_cast<std::uint32_t>(std::min(size, sizeof(s)));
		std::memcpy(st, &s, s.size);
		return 0;
	}

	int pidfd_open(pid_t, unsigned) override { return err(ENOSYS); }
	int pidfd_alive(int) override { return 0; }

	/// Total bytes processed over all calls.
	std::uint64_t processed() const
	{
		std::uint64_t n = 0;
		for (auto &p : pieces)
			n += p.end - p.start;
		return n;
	}

private:
	static int err(int e)
	{
		errno = e;
		return -1;
	}

	ssize_t process(const struct iovec *vec, std::size_t vlen, unsigned flags,
	                ksm_merge_result *r)
	{
		int call = calls++;
		vlens.push_back(vlen);
		if (flags)
			return err(EINVAL);
		if (vlen > 1024)
			return err(EINVAL);
		if (merge_errno && call >= fail_from_call)
			return err(merge_errno);
		// import_iovec: one range capped to MAX_RW_COUNT; the total too.
		std::size_t limit = ksmpart::max_bytes_per_call;
		if (call_budget)
			limit = std::min(limit, call_budget);
		std::size_t done = 0;
		for (std::size_t i = 0; i < vlen && done < limit; i++) {
			auto start = reinterpret_cast<std::uintptr_t>(vec[i].iov_base);
			std::size_t len = std::min(vec[i].iov_len, limit - done);
			if (len < vec[i].iov_len) {
				// Partial range: stop at the end of the last whole page.
				std::uintptr_t end = (start + len) / page * page;
				if (end <= start) {
					if (done == 0) // cannot happen with budgets >= 2 pages
						return err(EIO);
					break;
				}
				len = end - start;
			}
			if (len == 0)
				continue;
			pieces.push_back({start, start + len});
			if (r) {
				std::uint64_t touched = (start + len - 1) / page - start / page + 1;
				r->pages_scanned += touched;
				r->pages_merged += touched;
			}
			done += len;
			if (len < vec[i].iov_len)
				break;
		}
		return static_cast<ssize_t>(done);
	}
};

} // namespace fake
