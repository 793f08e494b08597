// SPDX-License-Identifier: GPL-2.0-or-later
// --range/--region parsing and the selection of ranges from maps.
#include "range_arg.hpp"

#include <gtest/gtest.h>

using namespace ksmtool;
using ksmpart::Range;

namespace {

std::optional<Range> range(const char *s)
{
	std::string why;
	auto r = parse_range(s, why);
	if (!r) {
		EXPECT_FALSE(why.empty()) << s;
	}
	return r;
}

ksmpart::MapEntry entry(const char *line)
{
	auto e = ksmpart::parse_maps_line(line);
	EXPECT_TRUE(e) << line;
	return *e;
}

} // namespace

TEST(ParseRange, StartEndHexLikeMaps)
{
	EXPECT_EQ(range("7f12a000-7f12c000"), (Range{0x7f12a000, 0x7f12c000}));
	EXPECT_EQ(range("0x1000-0X2000"), (Range{0x1000, 0x2000}));
	EXPECT_EQ(range("ABC000-abd000"), (Range{0xabc000, 0xabd000}));
}

TEST(ParseRange, StartPlusSize)
{
	EXPECT_EQ(range("1000+4096"), (Range{0x1000, 0x2000}));
	EXPECT_EQ(range("1000+4K"), (Range{0x1000, 0x2000}));
	EXPECT_EQ(range("0x10000000+2M"), (Range{0x10000000, 0x10200000}));
	EXPECT_EQ(range("0+1G"), (Range{0, 1ull << 30}));
	EXPECT_EQ(range("1000+0x1000"), (Range{0x1000, 0x2000}));
	// Unaligned is allowed: the kernel covers the pages touched.
	EXPECT_EQ(range("1001+1"), (Range{0x1001, 0x1002}));
}

TEST(ParseRange, Rejects)
{
	EXPECT_FALSE(range(""));
	EXPECT_FALSE(range("1000"));
	EXPECT_FALSE(range("-1000"));
	EXPECT_FALSE(range("1000-"));
	EXPECT_FALSE(range("2000-1000"));
	EXPECT_FALSE(range("1000-1000"));
	EXPECT_FALSE(range("1000+0"));
	EXPECT_FALSE(range("xyz-1000"));
	EXPECT_FALSE(range("1000-2000-3000"));
	EXPECT_FALSE(range("1000+-5"));
	EXPECT_FALSE(range("1000+5X"));
	EXPECT_FALSE(range("1000+4KK"));
	EXPECT_FALSE(range("ffffffffffffffff+2"));     // wraps
	EXPECT_FALSE(range("1-10000000000000000"));    // 65 bits
	EXPECT_FALSE(range("0+99999999999999999999")); // overflow
	EXPECT_FALSE(range("0+17179869184G"));         // 2^34 G overflows
	EXPECT_FALSE(range(" 1000-2000"));
}

TEST(ParseSize, Units)
{
	EXPECT_EQ(parse_size("0"), 0u);
	EXPECT_EQ(parse_size("123"), 123u);
	EXPECT_EQ(parse_size("2k"), 2048u);
	EXPECT_EQ(parse_size("3M"), 3ull << 20);
	EXPECT_EQ(parse_size("1T"), 1ull << 40);
	EXPECT_EQ(parse_size("0x10"), 16u);
	EXPECT_FALSE(parse_size(""));
	EXPECT_FALSE(parse_size("K"));
	EXPECT_FALSE(parse_size("1.5M"));
}

class Select : public ::testing::Test {
protected:
	std::vector<ksmpart::MapEntry> maps{
	    entry("00400000-00452000 r-xp 00000000 08:02 173521 /usr/bin/prog"),
	    entry("00651000-00652000 rw-p 00051000 08:02 173521 /usr/bin/prog"),
	    entry("01000000-01100000 rw-p 00000000 00:00 0 [heap]"),
	    entry("7f0000000000-7f0000200000 rw-p 00000000 00:00 0"),
	    entry("7f0000200000-7f0000300000 rw-s 00000000 00:01 99 /dev/shm/x"),
	    entry("7f0000300000-7f0000400000 rw-p 00000000 00:00 0 [anon:cache]"),
	    entry("7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]"),
	};
};

TEST_F(Select, DefaultIsAllAnonymousMemory)
{
	std::vector<std::string> missing;
	auto r = select_ranges(maps, {}, {}, missing);
	EXPECT_TRUE(missing.empty());
	// The file mapping and the shared mapping are not anonymous.
	for (const auto &x : r) {
		EXPECT_FALSE(x.start < 0x00652000 && x.end > 0x00400000) << std::hex << x.start;
		EXPECT_FALSE(x.start < 0x7f0000300000 && x.end > 0x7f0000200000)
		    << std::hex << x.start;
	}
	bool heap = false, anon = false, stack = false;
	for (const auto &x : r) {
		heap |= x.start <= 0x01000000 && x.end >= 0x01100000;
		anon |= x.start <= 0x7f0000000000 && x.end >= 0x7f0000200000;
		stack |= x.start <= 0x7ffc00000000 && x.end >= 0x7ffc00021000;
	}
	EXPECT_TRUE(heap);
	EXPECT_TRUE(anon);
	EXPECT_TRUE(stack);
}

TEST_F(Select, Regions)
{
	std::vector<std::string> missing;
	auto r = select_ranges(maps, {}, {"[heap]", "[stack]"}, missing);
	EXPECT_TRUE(missing.empty());
	EXPECT_EQ(r,
	          (std::vector<Range>{{0x01000000, 0x01100000}, {0x7ffc00000000, 0x7ffc00021000}}));
}

TEST_F(Select, NamedAnonRegion)
{
	std::vector<std::string> missing;
	auto r = select_ranges(maps, {}, {"[anon:cache]"}, missing);
	EXPECT_EQ(r, (std::vector<Range>{{0x7f0000300000, 0x7f0000400000}}));
}

TEST_F(Select, MissingRegionIsReported)
{
	std::vector<std::string> missing;
	auto r = select_ranges(maps, {}, {"[heap]", "[nothere]"}, missing);
	EXPECT_EQ(missing, std::vector<std::string>{"[nothere]"});
	EXPECT_EQ(r, (std::vector<Range>{{0x01000000, 0x01100000}}));
}

TEST_F(Select, ExplicitRangesKeptAndCoalesced)
{
	std::vector<std::string> missing;
	auto r = select_ranges(maps, {{0x5000, 0x9000}, {0x1000, 0x6000}, {0x20000, 0x21000}},
	                       {"[heap]"}, missing);
	EXPECT_EQ(r, (std::vector<Range>{
	                 {0x1000, 0x9000}, {0x20000, 0x21000}, {0x01000000, 0x01100000}}));
}
