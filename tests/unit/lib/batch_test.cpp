// SPDX-License-Identifier: GPL-2.0-or-later
// Batching of merge/unmerge over the fake kernel: every byte of every range
// is handed to the kernel exactly once and in order, in calls of at most
// 1024 iovecs, resuming after partial returns and stopping at errors.
#include "fake_kernel.hpp"

#include <ksmpart/ksmpart.hpp>

#include <gtest/gtest.h>

using namespace ksmpart;

namespace {

/// `n` ranges of `pages` pages each, one page apart, from a fake base.
std::vector<Range> make_ranges(std::size_t n, std::size_t pages, std::uintptr_t base = 0x10000000)
{
	std::vector<Range> v;
	for (std::size_t i = 0; i < n; i++) {
		std::uintptr_t s = base + i * (pages + 1) * fake::page;
		v.push_back({s, s + pages * fake::page});
	}
	return v;
}

/// The pieces the kernel processed, glued back together in order.
std::vector<Range> glued(const std::vector<fake::Piece> &pieces)
{
	std::vector<Range> out;
	for (auto &p : pieces) {
		if (!out.empty() && out.back().end == p.start)
			out.back().end = p.end;
		else
			out.push_back({p.start, p.end});
	}
	return out;
}

struct Batching : ::testing::Test {
	fake::Kernel k;
	sys::ScopedBackend scope{k};
	Partition part = Partition::adopt(1001, "test");
	~Batching() override { part.release(); }
};

} // namespace

TEST_F(Batching, FewRangesOneCall)
{
	auto r = make_ranges(3, 2);
	auto rep = part.merge(Pidfd::self(), std::span<const Range>(r));
	EXPECT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(rep.calls, 1u);
	EXPECT_EQ(k.vlens, std::vector<std::size_t>{3});
	EXPECT_EQ(rep.bytes_requested, 6 * fake::page);
	EXPECT_EQ(rep.bytes_processed, 6 * fake::page);
	EXPECT_EQ(glued(k.pieces), r);
	EXPECT_EQ(rep.counters.pages_scanned, 6u);
	EXPECT_TRUE(rep.joined);
}

TEST_F(Batching, MoreThanMaxIovecsSplitsIntoCallsOf1024)
{
	auto r = make_ranges(2500, 1);
	auto rep = part.merge(Pidfd::self(), std::span<const Range>(r));
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(k.vlens, (std::vector<std::size_t>{1024, 1024, 452}));
	EXPECT_EQ(glued(k.pieces), r);
	EXPECT_EQ(rep.counters.pages_scanned, 2500u);
	EXPECT_EQ(rep.bytes_processed, 2500 * fake::page);
	// Joined is reported by the first call only, and kept.
	EXPECT_TRUE(rep.joined);
}

TEST_F(Batching, PartialReturnsResumeMidRange)
{
	// 7 pages per call: ranges of 3 pages get split across calls.
	k.call_budget = 7 * fake::page;
	auto r = make_ranges(10, 3);
	auto rep = part.merge(Pidfd::self(), std::span<const Range>(r));
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(rep.calls, 5u); // 30 pages / 7 per call
	EXPECT_EQ(glued(k.pieces), r);
	EXPECT_EQ(k.processed(), 30 * fake::page);
	EXPECT_EQ(rep.counters.pages_scanned, pages_touched(r, fake::page));
}

TEST_F(Batching, UnalignedRangesResumeAtPageBoundaries)
{
	k.call_budget = 3 * fake::page;
	std::vector<Range> r = {{0x10000100, 0x10005100}, {0x20000010, 0x20000020}};
	auto rep = part.merge(Pidfd::self(), std::span<const Range>(r));
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(glued(k.pieces), r);
	// Pages touched, each once: 6 + 1.
	EXPECT_EQ(rep.counters.pages_scanned, 7u);
}

TEST_F(Batching, SingleHugeRangeIsCappedAndContinued)
{
	// 5 GiB in one range: more than MAX_RW_COUNT per call.
	std::vector<Range> r = {{0x100000000, 0x100000000 + (5ull << 30)}};
	auto rep = part.merge(Pidfd::self(), std::span<const Range>(r));
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(rep.calls, 3u);
	EXPECT_EQ(glued(k.pieces), r);
	EXPECT_EQ(rep.counters.pages_scanned, (5ull << 30) / fake::page);
}

TEST_F(Batching, ZeroLengthRangesAreSkippedNotSent)
{
	std::vector<Range> r = {{0x1000, 0x1000}, {0x5000, 0x6000}, {0x9000, 0x9000}};
	auto rep = part.merge(Pidfd::self(), std::span<const Range>(r));
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(rep.calls, 1u);
	ASSERT_EQ(k.pieces.size(), 1u);
	EXPECT_EQ(k.pieces[0].start, 0x5000u);
}

TEST_F(Batching, NoRangesStillJoins)
{
	auto rep = part.join(Pidfd::self());
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(k.vlens, std::vector<std::size_t>{0});
	EXPECT_TRUE(rep.joined);
	EXPECT_EQ(rep.bytes_requested, 0u);
}

TEST_F(Batching, ErrorAfterProgressIsPartial)
{
	k.merge_errno = ESRCH;
	k.fail_from_call = 2;
	auto r = make_ranges(3000, 1);
	auto rep = part.merge(Pidfd::self(), std::span<const Range>(r));
	EXPECT_FALSE(rep.ok());
	EXPECT_TRUE(rep.partial());
	EXPECT_FALSE(rep.complete());
	EXPECT_EQ(rep.error.errnum(), ESRCH);
	EXPECT_EQ(rep.calls, 3u);
	EXPECT_EQ(rep.bytes_processed, 2048 * fake::page);
	EXPECT_EQ(rep.counters.pages_scanned, 2048u);
	EXPECT_NE(rep.error.message().find("no such process"), std::string::npos)
	    << rep.error.message();
}

TEST_F(Batching, ErrorOnFirstCallIsNotPartial)
{
	k.merge_errno = EBUSY;
	auto r = make_ranges(2, 1);
	Pidfd target = Pidfd::adopt(77, 4242);
	auto rep = part.merge(target, std::span<const Range>(r));
	target.release();
	EXPECT_FALSE(rep.partial());
	EXPECT_EQ(rep.bytes_processed, 0u);
	EXPECT_EQ(rep.error.errnum(), EBUSY);
	EXPECT_EQ(
	    rep.error.message(),
	    "merge: pid 4242 is a member of another partition (it must leave that one first)");
}

TEST_F(Batching, OlderKernelResultSizeLeavesNewFieldsZero)
{
	// A kernel writing only a prefix (a struct grown after it was built)
	// must not leave garbage in the rest.
	k.kernel_result_size = 16; // size, flags, pages_scanned
	auto r = make_ranges(4, 1);
	auto rep = part.merge(Pidfd::self(), std::span<const Range>(r));
	ASSERT_TRUE(rep.complete());
	EXPECT_EQ(rep.counters.pages_scanned, 4u);
	EXPECT_EQ(rep.counters.pages_merged, 0u); // beyond the kernel's 16 bytes
}

TEST_F(Batching, InvalidRangeMakesNoCall)
{
	std::vector<Range> r = {{0x2000, 0x1000}};
	auto rep = part.merge(Pidfd::self(), std::span<const Range>(r));
	EXPECT_EQ(rep.error.code(), errc::invalid_range);
	EXPECT_EQ(k.calls, 0);
}

TEST_F(Batching, UnmergeBatchesLikeMerge)
{
	k.call_budget = 100 * fake::page;
	auto r = make_ranges(1500, 1);
	auto rep = part.unmerge(Pidfd::self(), std::span<const Range>(r));
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(rep.calls, 15u);
	EXPECT_EQ(glued(k.pieces), r);
	for (auto v : k.vlens)
		EXPECT_LE(v, 1024u);
}

TEST_F(Batching, UnmergeOfNonMemberNamesThePartition)
{
	k.merge_errno = ENOENT;
	auto r = make_ranges(1, 1);
	auto rep = part.unmerge(Pidfd::self(), std::span<const Range>(r));
	EXPECT_EQ(rep.error.errnum(), ENOENT);
	EXPECT_NE(rep.error.message().find("not a member of partition 'test'"), std::string::npos)
	    << rep.error.message();
}

TEST_F(Batching, NoProgressDoesNotSpin)
{
	struct Lazy : fake::Kernel {
		ssize_t ksm_merge(int, int, const struct iovec *, std::size_t,
		                  struct ksm_merge_result *, unsigned) override
		{
			calls++;
			return 0;
		}
	} lazy;
	sys::ScopedBackend s(lazy);
	auto r = make_ranges(1, 1);
	auto rep = part.merge(Pidfd::self(), std::span<const Range>(r));
	EXPECT_EQ(rep.error.code(), errc::no_progress);
	EXPECT_EQ(lazy.calls, 1);
}

TEST(Stats, ReadsTheSizeVersionedStruct)
{
	fake::Kernel k;
	sys::ScopedBackend scope{k};
	k.stats.id = 7;
	k.stats.flags = KSM_OPEN_ZERO_PAGES;
	k.stats.pages_sharing = 12;
	k.stats.general_profit = -4096;
	k.stats.unmerge_time_ns = 99;
	auto p = Partition::adopt(1001);
	auto s = p.stats();
	p.release();
	ASSERT_TRUE(s) << s.error().message();
	EXPECT_EQ(s->size, sizeof(ksm_partition_stats));
	EXPECT_EQ(s->id, 7u);
	EXPECT_TRUE(s->zero_pages);
	EXPECT_EQ(s->pages_sharing, 12u);
	EXPECT_EQ(s->general_profit, -4096);
	EXPECT_EQ(s->unmerge_time_ns, 99u);
}

TEST(Stats, OldKernelWithoutIoctl)
{
	fake::Kernel k;
	sys::ScopedBackend scope{k};
	k.stats_errno = ENOTTY;
	auto p = Partition::adopt(1001);
	auto s = p.stats();
	p.release();
	ASSERT_FALSE(s);
	EXPECT_EQ(s.error().errnum(), ENOTTY);
	EXPECT_NE(s.error().message().find("no partition statistics"), std::string::npos);
	EXPECT_THROW(s.value(), ksmpart::Exception);
}
