// SPDX-License-Identifier: GPL-2.0-or-later
// Partition::stats() (KSM_IOC_GET_STATS) against ground truth the test
// creates: known numbers of duplicate, unique and zero-filled pages.
#include "vm_util.hpp"

#include <ksmpart/ksmpart.hpp>

#include <gtest/gtest.h>

#include <linux/ksmpart.h>

using namespace ksmpart;
using vm::Buffer;
using vm::page_size;
using vm::pfn;

namespace {

Stats stats_of(const Partition &p)
{
	auto s = p.stats();
	if (!s)
		throw std::runtime_error(s.error().message());
	return *s;
}

std::vector<Range> one(const Buffer &b)
{
	return {Range::of(b.p, b.bytes())};
}

} // namespace

TEST(Stats, CountersMatchWhatWasMerged)
{
	auto part = Partition::anonymous().value();
	auto s0 = part.stats();
	ASSERT_TRUE(s0) << s0.error().message();
	EXPECT_EQ(s0->size, sizeof(ksm_partition_stats));
	EXPECT_NE(s0->id, 0u);
	EXPECT_EQ(s0->members, 0u);
	EXPECT_EQ(s0->merge_calls, 0u);
	EXPECT_FALSE(s0->zero_pages);

	Buffer b(40);
	for (std::size_t i = 0; i < 20; i++)
		b.fill(i, 3);
	for (std::size_t i = 20; i < 40; i++)
		b.fill(i, 500 + i);
	auto rep = part.merge(Pidfd::self(), one(b));
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	auto s = stats_of(part);
	EXPECT_EQ(s.id, s0->id);
	EXPECT_EQ(s.members, 1u);
	EXPECT_EQ(s.pages_shared, 1u);   // one KSM page ...
	EXPECT_EQ(s.pages_sharing, 19u); // ... mapped 20 times
	EXPECT_EQ(s.pages_unshared, 20u);
	EXPECT_EQ(s.rmap_items, 40u);
	EXPECT_EQ(s.merge_calls, rep.calls);
	EXPECT_EQ(s.pages_scanned, rep.counters.pages_scanned);
	EXPECT_EQ(s.pages_merged, rep.counters.pages_merged);
	EXPECT_EQ(s.pages_merged, 19u);
	EXPECT_EQ(s.pages_absent, 0u);
	EXPECT_EQ(s.pages_skipped, 0u);
	EXPECT_GT(s.merge_time_ns, 0u);
	// Saved 19 pages, minus metadata.
	EXPECT_LT(s.general_profit, static_cast<std::int64_t>(19 * page_size()));
	EXPECT_EQ(vm::ksm_stat()["ksm_merging_pages"], 20);

	// A forked child shares the membership (and the mappings).
	vm::Pipe p;
	pid_t child = fork();
	if (child == 0) {
		p.receive();
		_exit(0);
	}
	EXPECT_EQ(stats_of(part).members, 2u);
	p.send("exit");
	waitpid(child, nullptr, 0);
	EXPECT_EQ(stats_of(part).members, 1u);

	ASSERT_TRUE(part.leave(Pidfd::self()));
	s = stats_of(part);
	EXPECT_EQ(s.members, 0u);
	EXPECT_EQ(s.pages_shared, 0u);
	EXPECT_EQ(s.pages_sharing, 0u);
	EXPECT_EQ(s.leave_calls, 1u);
	EXPECT_EQ(s.merge_calls, rep.calls);
	EXPECT_TRUE(b.holds(0, 3) && b.holds(39, 539));
}

TEST(Stats, ZeroPagesPartition)
{
	auto zp = Partition::anonymous({.zero_pages = true});
	ASSERT_TRUE(zp) << zp.error().message();
	Buffer b(16);
	std::memset(b.p, 0, b.bytes()); // real, zero-filled pages
	Buffer probe(1);
	volatile char c = probe.p[0]; // read fault maps the zero page
	(void)c;
	const auto zero_pfn = pfn(probe.p);
	ASSERT_NE(pfn(b.p), zero_pfn);

	auto rep = zp->merge(Pidfd::self(), one(b));
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(rep.counters.zero_pages_merged, 16u);
	for (std::size_t i = 0; i < 16; i++)
		EXPECT_EQ(pfn(b.page(i)), zero_pfn) << "page " << i;
	auto s = stats_of(*zp);
	EXPECT_TRUE(s.zero_pages);
	EXPECT_EQ(s.ksm_zero_pages, 16u);
	EXPECT_EQ(s.zero_pages_merged, 16u);
	EXPECT_EQ(vm::ksm_stat()["ksm_zero_pages"], 16);
	ASSERT_TRUE(zp->leave(Pidfd::self()));
	EXPECT_EQ(stats_of(*zp).ksm_zero_pages, 0u);
	EXPECT_NE(pfn(b.p), zero_pfn); // unshared on leave
}

TEST(Stats, ReopenedNameIsTheSamePartition)
{
	std::string name = "vmtest-stats-" + std::to_string(getpid());
	auto a = Partition::create(name).value();
	auto b = Partition::open(name).value();
	auto c = Partition::create(name, {.zero_pages = true}).value(); // exists: flag ignored
	EXPECT_EQ(stats_of(a).id, stats_of(b).id);
	EXPECT_EQ(stats_of(a).id, stats_of(c).id);
	EXPECT_FALSE(stats_of(c).zero_pages);
	auto d = Partition::anonymous().value();
	EXPECT_NE(stats_of(a).id, stats_of(d).id);
}
