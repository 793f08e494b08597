// SPDX-License-Identifier: GPL-2.0-or-later
#include "internal.hpp"

#include <ksmpart/maps.hpp>
#include <ksmpart/ranges.hpp>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

using ksmpart::parse_maps_line;

TEST(MapsLine, AnonymousPrivate)
{
	auto e = parse_maps_line("7f12a4000000-7f12a4021000 rw-p 00000000 00:00 0 ");
	ASSERT_TRUE(e);
	EXPECT_EQ(e->start, 0x7f12a4000000u);
	EXPECT_EQ(e->end, 0x7f12a4021000u);
	EXPECT_TRUE(e->readable);
	EXPECT_TRUE(e->writable);
	EXPECT_FALSE(e->executable);
	EXPECT_FALSE(e->shared);
	EXPECT_EQ(e->path, "");
	EXPECT_TRUE(e->is_private_anonymous());
}

TEST(MapsLine, HeapIsAnonymous)
{
	auto e = parse_maps_line("55d0c2a1b000-55d0c2a3c000 rw-p 00000000 00:00 0          [heap]");
	ASSERT_TRUE(e);
	EXPECT_EQ(e->path, "[heap]");
	EXPECT_TRUE(e->is_private_anonymous());
}

TEST(MapsLine, FileBackedWithSpacesInPath)
{
	auto e = parse_maps_line(
	    "7f12a4200000-7f12a4228000 r-xp 00028000 fe:01 1311235   /opt/my app/lib x.so");
	ASSERT_TRUE(e);
	EXPECT_TRUE(e->executable);
	EXPECT_EQ(e->offset, 0x28000u);
	EXPECT_EQ(e->inode, 1311235u);
	EXPECT_EQ(e->path, "/opt/my app/lib x.so");
	EXPECT_FALSE(e->is_private_anonymous());
}

TEST(MapsLine, SharedAnonymousIsNotMergeable)
{
	auto e = parse_maps_line(
	    "7f0000000000-7f0000001000 rw-s 00000000 00:01 1034 /dev/zero (deleted)");
	ASSERT_TRUE(e);
	EXPECT_TRUE(e->shared);
	EXPECT_FALSE(e->is_private_anonymous());
}

TEST(MapsLine, VdsoAndVvarAreNotAnonymousMemory)
{
	auto e = parse_maps_line("7ffd5a3f0000-7ffd5a3f2000 r-xp 00000000 00:00 0   [vdso]");
	ASSERT_TRUE(e);
	EXPECT_FALSE(e->is_private_anonymous());
}

TEST(MapsLine, RejectsMalformed)
{
	EXPECT_FALSE(parse_maps_line(""));
	EXPECT_FALSE(parse_maps_line("zzzz-1000 rw-p 00000000 00:00 0"));
	EXPECT_FALSE(parse_maps_line("2000-1000 rw-p 00000000 00:00 0"));
	EXPECT_FALSE(parse_maps_line("1000-2000 rw-x 00000000 00:00 0"));
	EXPECT_FALSE(parse_maps_line("1000-2000 rw-p 0000000g 00:00 0"));
	EXPECT_FALSE(parse_maps_line("1000-2000 rw-p 00000000 0000 0"));
	EXPECT_FALSE(parse_maps_line("1000-2000 rw-p 00000000 00:00"));
	EXPECT_FALSE(parse_maps_line("1000-2000 rw-p 00000000 00:00 12a"));
}

// PROCMAP_QUERY (Linux 6.11+) and the text of /proc/self/maps describe the
// same VMAs; read_maps() uses the first where the kernel has it.
TEST(ProcmapQuery, AgreesWithTheText)
{
	int err = 0;
	auto q = ksmpart::query_maps_for_tests(0, err);
	if (err == -ENOTTY)
		GTEST_SKIP() << "this kernel has no PROCMAP_QUERY (before 6.11)";
	ASSERT_EQ(err, 0);
	std::ifstream f("/proc/self/maps");
	std::stringstream ss;
	ss << f.rdbuf();
	auto t = ksmpart::parse_maps(ss.str());
	// Both are snapshots of a live process: compare the VMAs of the program,
	// its libraries and its stack, which do not move.
	std::size_t compared = 0;
	for (const auto &te : t) {
		// [vsyscall] is the gate area, outside the VMA tree the ioctl walks.
		if (te.path.empty() || te.path.starts_with("[anon") || te.path == "[vsyscall]")
			continue;
		auto it = std::find_if(q.begin(), q.end(), [&](const ksmpart::MapEntry &e) {
			return e.start == te.start;
		});
		ASSERT_NE(it, q.end()) << te.path;
		EXPECT_EQ(it->end, te.end) << te.path;
		EXPECT_EQ(it->path, te.path);
		EXPECT_EQ(it->readable, te.readable) << te.path;
		EXPECT_EQ(it->writable, te.writable) << te.path;
		EXPECT_EQ(it->executable, te.executable) << te.path;
		EXPECT_EQ(it->shared, te.shared) << te.path;
		EXPECT_EQ(it->offset, te.offset) << te.path;
		EXPECT_EQ(it->inode, te.inode) << te.path;
		EXPECT_EQ(it->is_private_anonymous(), te.is_private_anonymous()) << te.path;
		compared++;
	}
	EXPECT_GT(compared, 3u);
	auto r = ksmpart::read_maps(0);
	ASSERT_TRUE(r) << r.error().message();
	EXPECT_FALSE(r->empty());
}
