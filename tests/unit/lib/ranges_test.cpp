// SPDX-License-Identifier: GPL-2.0-or-later
// Maps text -> merge ranges, including torn reads and odd lines.
#include <ksmpart/ksmpart.hpp>

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace ksmpart;

namespace {

// A typical 6.12 maps file, with every kind of line that matters.
const char *const typical =
    R"(55d0c2800000-55d0c2828000 r--p 00000000 fe:01 1311235                    /usr/bin/app
55d0c2828000-55d0c2900000 r-xp 00028000 fe:01 1311235                    /usr/bin/app
55d0c2a00000-55d0c2a02000 rw-p 00100000 fe:01 1311235                    /usr/bin/app
55d0c2a02000-55d0c2a10000 rw-p 00000000 00:00 0 
55d0c2a1b000-55d0c2a3c000 rw-p 00000000 00:00 0                          [heap]
7f0000000000-7f0000001000 ---p 00000000 00:00 0 
7f0000001000-7f0000801000 rw-p 00000000 00:00 0 
7f0000900000-7f0000a00000 rw-s 00000000 00:01 1034                       /dev/zero (deleted)
7f0000a00000-7f0000b00000 rw-p 00000000 00:00 0                          [anon:jit cache]
7f0000b00000-7f0000c00000 rw-s 00000000 00:01 2048                       [anon_shmem:shared]
7ffd5c000000-7ffd5c021000 rw-p 00000000 00:00 0                          [stack]
7ffd5c1f0000-7ffd5c1f4000 r--p 00000000 00:00 0                          [vvar]
7ffd5c1f4000-7ffd5c1f6000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
)";

} // namespace

TEST(ParseMaps, Typical)
{
	std::size_t bad = 99;
	auto m = parse_maps(typical, &bad);
	EXPECT_EQ(bad, 0u);
	ASSERT_EQ(m.size(), 14u);
	EXPECT_EQ(m[4].path, "[heap]");
	EXPECT_EQ(m[8].path, "[anon:jit cache]");
	EXPECT_TRUE(m[8].is_private_anonymous());
	EXPECT_FALSE(m[9].is_private_anonymous()); // shared anonymous
	EXPECT_TRUE(m[5].inaccessible());
}

TEST(ParseMaps, OddLinesAreDroppedAndCounted)
{
	std::size_t bad = 0;
	auto m = parse_maps("garbage\n"
	                    "1000-2000 rw-p 00000000 00:00 0\n" // no trailing space
	                    "\n"
	                    "3000-2000 rw-p 00000000 00:00 0\n" // end before start
	                    "4000-4000 rw-p 00000000 00:00 0\n" // empty
	                    "5000-6000 rwxq 00000000 00:00 0\n" // bad perms
	                    "7000-8000 rw-p 00000000 00:00 0",  // no final newline
	                    &bad);
	EXPECT_EQ(bad, 4u);
	ASSERT_EQ(m.size(), 2u);
	EXPECT_EQ(m[0].start, 0x1000u);
	EXPECT_EQ(m[1].start, 0x7000u);
}

TEST(ParseMaps, TornReadOverlapsAreClippedAndSorted)
{
	// Two read() chunks around an mremap: a VMA appears twice, partly
	// overlapping, and out of order. No address may be kept twice.
	auto m = parse_maps("1000-5000 rw-p 00000000 00:00 0\n"
	                    "9000-a000 rw-p 00000000 00:00 0\n"
	                    "3000-7000 rw-p 00000000 00:00 0\n"
	                    "2000-4000 rw-p 00000000 00:00 0\n");
	ASSERT_EQ(m.size(), 3u);
	EXPECT_EQ(m[0].start, 0x1000u);
	EXPECT_EQ(m[0].end, 0x5000u);
	EXPECT_EQ(m[1].start, 0x5000u); // clipped
	EXPECT_EQ(m[1].end, 0x7000u);
	EXPECT_EQ(m[2].start, 0x9000u);
	auto r = anonymous_ranges(m);
	ASSERT_EQ(r.size(), 2u);
	EXPECT_EQ(r[0], (Range{0x1000, 0x7000}));
}

TEST(Ranges, AnonymousSelectsPrivateAnonymousAccessibleOnly)
{
	auto m = parse_maps(typical);
	auto r = anonymous_ranges(m);
	// bss+heap are not adjacent (gap), guard page excluded, shared excluded.
	std::vector<Range> want = {
	    {0x55d0c2a02000, 0x55d0c2a10000}, // anonymous after .data
	    {0x55d0c2a1b000, 0x55d0c2a3c000}, // [heap]
	    {0x7f0000001000, 0x7f0000801000}, // anonymous mmap (guard page left out)
	    {0x7f0000a00000, 0x7f0000b00000}, // [anon:jit cache]
	    {0x7ffd5c000000, 0x7ffd5c021000}, // [stack]
	};
	EXPECT_EQ(r, want);
}

TEST(Ranges, AdjacentAnonymousVmasAreCoalesced)
{
	auto m = parse_maps("1000-2000 rw-p 00000000 00:00 0\n"
	                    "2000-3000 r--p 00000000 00:00 0\n"
	                    "3000-4000 rw-p 00000000 00:00 0 [heap]\n");
	EXPECT_EQ(anonymous_ranges(m), (std::vector<Range>{{0x1000, 0x4000}}));
}

TEST(Ranges, NamedRegion)
{
	auto m = parse_maps(typical);
	EXPECT_EQ(region_ranges(m, "[heap]"),
	          (std::vector<Range>{{0x55d0c2a1b000, 0x55d0c2a3c000}}));
	EXPECT_EQ(region_ranges(m, "[anon:jit cache]").size(), 1u);
	// A file's private mappings (COW pages are anonymous).
	EXPECT_EQ(region_ranges(m, "/usr/bin/app"),
	          (std::vector<Range>{{0x55d0c2800000, 0x55d0c2900000},
	                              {0x55d0c2a00000, 0x55d0c2a02000}}));
	EXPECT_TRUE(region_ranges(m, "[anon_shmem:shared]").empty()); // shared
	EXPECT_TRUE(region_ranges(m, "[nope]").empty());
}

TEST(Ranges, AddressRangeIntersectedWithAnonymousMaps)
{
	auto m = parse_maps(typical);
	// From inside the guard page to the middle of the shared mapping.
	auto r = intersect_ranges(m, {0x7f0000000800, 0x7f0000950000});
	EXPECT_EQ(r, (std::vector<Range>{{0x7f0000001000, 0x7f0000801000}}));
	// Unaligned ends are kept as they are (the kernel rounds).
	r = intersect_ranges(m, {0x7f0000001234, 0x7f0000005678});
	EXPECT_EQ(r, (std::vector<Range>{{0x7f0000001234, 0x7f0000005678}}));
	EXPECT_TRUE(intersect_ranges(m, {0x1000, 0x2000}).empty());
}

TEST(Ranges, PagesTouchedRoundsEachRange)
{
	std::vector<Range> r = {{0x1fff, 0x2001}, {0x3000, 0x4000}, {0x5000, 0x5000}};
	EXPECT_EQ(pages_touched(r, 4096), 3u);
}

TEST(Ranges, CoalesceDropsEmptyAndMergesOverlaps)
{
	auto r = coalesce({{0x5000, 0x6000}, {0x1000, 0x3000}, {0x2000, 0x2000}, {0x2500, 0x4000}});
	EXPECT_EQ(r, (std::vector<Range>{{0x1000, 0x4000}, {0x5000, 0x6000}}));
}

TEST(ReadMaps, SelfContainsOurMapping)
{
	long ps = sysconf(_SC_PAGESIZE);
	void *p = mmap(nullptr, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(p, MAP_FAILED);
	auto sel = select_ranges(Pidfd::self(), Selector::anonymous());
	ASSERT_TRUE(sel) << sel.error().message();
	auto a = reinterpret_cast<std::uintptr_t>(p);
	bool found = false;
	for (auto &r : *sel)
		found |= r.start <= a && a + 4 * ps <= r.end;
	EXPECT_TRUE(found);
	// After munmap, a fresh selection must not contain it.
	munmap(p, 4 * ps);
	sel = select_ranges(Pidfd::self(), Selector::addresses(Range::of(p, 4 * ps)));
	ASSERT_TRUE(sel);
	EXPECT_TRUE(sel->empty());
}

TEST(ReadMaps, VanishedProcessIsEsrch)
{
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	ASSERT_GT(child, 0);
	int status;
	waitpid(child, &status, 0);
	auto m = read_maps(child);
	ASSERT_FALSE(m);
	EXPECT_EQ(m.error().errnum(), ESRCH) << m.error().message();
}

TEST(ReadMaps, ZombieIsEsrch)
{
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	ASSERT_GT(child, 0);
	// Wait until it is a zombie (exited, not reaped).
	siginfo_t si{};
	ASSERT_EQ(waitid(P_PID, child, &si, WEXITED | WNOWAIT), 0);
	auto m = read_maps(child);
	EXPECT_FALSE(m);
	EXPECT_EQ(m.error().errnum(), ESRCH);
	waitpid(child, nullptr, 0);
}

TEST(ReadMaps, MissingRegionIsNamed)
{
	auto r = select_ranges(Pidfd::self(), Selector::named("[no such region]"));
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().code(), errc::region_not_found);
	EXPECT_NE(r.error().message().find("[no such region]"), std::string::npos);
}
