// SPDX-License-Identifier: GPL-2.0-or-later
// /proc/ksm_partitions, fdinfo, ksm_stat membership and the system-wide
// sysfs files, parsed from files made here; and the messages of EPERM
// (partitions disabled, KSM run=2) and EEXIST (another user's name).
#include "backend.hpp"
#include "fake_kernel.hpp"

#include <ksmpart/ksmpart.hpp>
#include <ksmpart/system.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace ksmpart;
namespace fs = std::filesystem;

namespace {

const char *const table =
    "id uid gid mode flags members pages_shared pages_sharing pages_unshared ksm_zero_pages "
    "rmap_items general_profit name\n"
    "18446744073709551557 1000 1000 0600 0x8 2 10 20 5 3 40 118784 db\n"
    "9223372036854775809 0 0 0640 0x0 0 0 0 0 0 0 -1024\n";

class TempDir : public ::testing::Test {
protected:
	fs::path dir;
	void SetUp() override
	{
		char tmpl[] = "/tmp/ksmpart-sys.XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
	}
	void TearDown() override
	{
		sys::set_probe_paths("/sys/kernel/mm/ksm", "/proc/self/ksm_stat");
		fs::remove_all(dir);
	}
	void put(const fs::path &rel, const std::string &text)
	{
		fs::create_directories((dir / rel).parent_path());
		std::ofstream(dir / rel) << text;
	}
};

} // namespace

TEST(PartitionTable, ParsesEveryColumnAndTheOptionalName)
{
	auto r = parse_partition_table(table);
	ASSERT_TRUE(r) << r.error().message();
	ASSERT_EQ(r->size(), 2u);
	// Sorted by id; ids are full u64 values.
	const auto &anon = (*r)[0], &db = (*r)[1];
	EXPECT_EQ(anon.id, 9223372036854775809ull);
	EXPECT_FALSE(anon.name);
	EXPECT_EQ(anon.mode, 0640u);
	EXPECT_EQ(anon.stats.general_profit, -1024);
	EXPECT_EQ(db.id, 18446744073709551557ull);
	EXPECT_EQ(db.name, "db");
	EXPECT_EQ(db.uid, 1000u);
	EXPECT_EQ(db.gid, 1000u);
	EXPECT_EQ(db.mode, 0600u);
	EXPECT_EQ(db.flags, 0x8u);
	EXPECT_TRUE(db.stats.zero_pages);
	EXPECT_EQ(db.stats.id, db.id);
	EXPECT_EQ(db.stats.members, 2u);
	EXPECT_EQ(db.stats.pages_shared, 10u);
	EXPECT_EQ(db.stats.pages_sharing, 20u);
	EXPECT_EQ(db.stats.pages_unshared, 5u);
	EXPECT_EQ(db.stats.ksm_zero_pages, 3u);
	EXPECT_EQ(db.stats.rmap_items, 40u);
	EXPECT_EQ(db.stats.general_profit, 118784);
}

TEST(PartitionTable, HeaderOnlyIsEmpty)
{
	auto r = parse_partition_table("id uid gid mode flags members\n");
	ASSERT_TRUE(r);
	EXPECT_TRUE(r->empty());
}

TEST(PartitionTable, MalformedLineIsBadFormat)
{
	for (const char *bad :
	     {"hdr\n1 0 0 0600 0x0 1 2 3\n", "hdr\nx 0 0 0600 0x0 0 0 0 0 0 0 0\n",
	      "hdr\n1 0 0 0900 0x0 0 0 0 0 0 0 0\n", "hdr\n1 0 0 0600 0x0 0 0 0 0 0 0 0 a b\n"}) {
		auto r = parse_partition_table(bad);
		ASSERT_FALSE(r) << bad;
		EXPECT_EQ(r.error().code(), errc::bad_format);
		EXPECT_NE(r.error().message().find("line 2"), std::string::npos);
	}
}

TEST_F(TempDir, ReadPartitionTableErrors)
{
	auto none = read_partition_table((dir / "nope").string());
	ASSERT_FALSE(none);
	EXPECT_EQ(none.error().errnum(), ENOENT);
	put("ksm_partitions", table);
	auto ok = read_partition_table((dir / "ksm_partitions").string());
	ASSERT_TRUE(ok);
	EXPECT_EQ(ok->size(), 2u);
	if (geteuid() != 0) {
		fs::permissions(dir / "ksm_partitions", fs::perms::owner_read,
		                fs::perm_options::remove);
		auto denied = read_partition_table((dir / "ksm_partitions").string());
		ASSERT_FALSE(denied);
		EXPECT_EQ(denied.error().errnum(), EACCES);
		EXPECT_NE(denied.error().message().find("root-only"), std::string::npos);
	}
}

TEST(Fdinfo, PartitionFd)
{
	auto p =
	    parse_fdinfo("pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n"
	                 "ksm_id:\t12345678901234567890\nksm_name:\tweb\nksm_owner:\t1000 100\n"
	                 "ksm_mode:\t0640\nksm_flags:\t0x8\nksm_members:\t3\n"
	                 "ksm_pages_shared:\t7\nksm_pages_sharing:\t9\nksm_pages_unshared:\t1\n"
	                 "ksm_zero_pages:\t2\nksm_rmap_items:\t17\nksm_stable_node_chains:\t0\n"
	                 "ksm_stable_node_dups:\t0\nksm_general_profit:\t-5\n"
	                 "ksm_merge_calls:\t4\nksm_unmerge_calls:\t1\nksm_leave_calls:\t1\n"
	                 "ksm_pages_scanned:\t100\nksm_pages_merged:\t9\n"
	                 "ksm_zero_pages_merged:\t2\nksm_pages_failed:\t0\n"
	                 "ksm_pages_absent:\t3\nksm_pages_skipped:\t4\n"
	                 "ksm_merge_time_ns:\t1000\nksm_unmerge_time_ns:\t2000\n");
	ASSERT_TRUE(p);
	EXPECT_EQ(p->id, 12345678901234567890ull);
	EXPECT_EQ(p->name, "web");
	EXPECT_EQ(p->uid, 1000u);
	EXPECT_EQ(p->gid, 100u);
	EXPECT_EQ(p->mode, 0640u);
	EXPECT_TRUE(p->stats.zero_pages);
	EXPECT_EQ(p->stats.members, 3u);
	EXPECT_EQ(p->stats.pages_sharing, 9u);
	EXPECT_EQ(p->stats.ksm_zero_pages, 2u);
	EXPECT_EQ(p->stats.zero_pages_merged, 2u);
	EXPECT_EQ(p->stats.general_profit, -5);
	EXPECT_EQ(p->stats.unmerge_time_ns, 2000u);
}

TEST(Fdinfo, AnonymousAndNotAPartition)
{
	auto anon = parse_fdinfo("ksm_id:\t5\nksm_owner:\t0 0\nksm_mode:\t0000\nksm_flags:\t0x0\n");
	ASSERT_TRUE(anon);
	EXPECT_FALSE(anon->name);
	EXPECT_FALSE(parse_fdinfo("pos:\t0\nflags:\t02\n"));
}

TEST_F(TempDir, MembersFromKsmStat)
{
	auto stat = [](long part, long merging) {
		return "ksm_rmap_items 3\nksm_zero_pages 1\nksm_merging_pages " +
		       std::to_string(merging) +
		       "\nksm_process_profit 4096\nksm_merge_any: no\nksm_mergeable: no\n"
		       "ksm_partition " +
		       std::to_string(part) + "\n";
	};
	put("10/ksm_stat", stat(77, 5));
	put("10/comm", "python3\n");
	put("10/cgroup", "0::/system.slice/web.service\n");
	put("11/ksm_stat", stat(0, 0));
	put("12/ksm_stat", stat(88, 2));
	put("12/comm", "qemu\n");
	put("13/ksm_stat", ""); // a zombie
	put("self/ksm_stat", stat(77, 1));
	auto all = members(0, dir.string());
	ASSERT_EQ(all.size(), 2u);
	EXPECT_EQ(all[0].pid, 10);
	EXPECT_EQ(all[0].partition, 77u);
	EXPECT_EQ(all[0].comm, "python3");
	EXPECT_EQ(all[0].cgroup, "/system.slice/web.service");
	EXPECT_EQ(all[0].merging_pages, 5);
	EXPECT_EQ(all[0].zero_pages, 1);
	EXPECT_EQ(all[0].profit, 4096);
	EXPECT_EQ(all[1].pid, 12);
	auto only = members(88, dir.string());
	ASSERT_EQ(only.size(), 1u);
	EXPECT_EQ(only[0].pid, 12);

	auto p = partition_of(10, dir.string());
	ASSERT_TRUE(p);
	EXPECT_EQ(*p, 77u);
	EXPECT_EQ(*partition_of(11, dir.string()), 0u);
	EXPECT_EQ(partition_of(13, dir.string()).error().errnum(), ESRCH);
	EXPECT_EQ(partition_of(14, dir.string()).error().errnum(), ESRCH);
	put("15/ksm_stat", "ksm_rmap_items 0\n"); // an upstream kernel
	EXPECT_EQ(partition_of(15, dir.string()).error().errnum(), ENOSYS);
}

TEST_F(TempDir, Totals)
{
	auto d = dir / "partitions";
	put("partitions/nr_partitions", "3\n");
	put("partitions/pages_shared", "10\n");
	put("partitions/pages_sharing", "30\n");
	put("partitions/pages_unshared", "7\n");
	put("partitions/ksm_zero_pages", "2\n");
	put("partitions/rmap_items", "49\n");
	put("partitions/general_profit", "-12\n");
	auto t = read_totals(d.string());
	ASSERT_TRUE(t) << t.error().message();
	EXPECT_EQ(t->nr_partitions, 3u);
	EXPECT_EQ(t->pages_sharing, 30u);
	EXPECT_EQ(t->ksm_zero_pages, 2u);
	EXPECT_EQ(t->general_profit, -12);
	fs::remove(d / "rmap_items");
	auto missing = read_totals(d.string());
	ASSERT_FALSE(missing);
	EXPECT_EQ(missing.error().errnum(), ENOENT);
	EXPECT_NE(missing.error().message().find("rmap_items"), std::string::npos);
}

TEST_F(TempDir, EnabledKnob)
{
	EXPECT_FALSE(partitions_enabled(dir.string()));
	put("partitions/enabled", "0\n");
	EXPECT_EQ(partitions_enabled(dir.string()), false);
	put("partitions/enabled", "1\n");
	EXPECT_EQ(partitions_enabled(dir.string()), true);
}

// EPERM is told apart by reading the knobs.
TEST_F(TempDir, EpermSaysTheAdministratorDisabledPartitions)
{
	put("partitions/enabled", "0\n");
	put("run", "1\n");
	sys::set_probe_paths(dir.string(), "/nonexistent");
	fake::Kernel k;
	k.open_errno = EPERM;
	sys::ScopedBackend s(k);
	auto p = Partition::anonymous();
	ASSERT_FALSE(p);
	EXPECT_EQ(p.error().errnum(), EPERM);
	EXPECT_NE(p.error().message().find("administrator disabled"), std::string::npos)
	    << p.error().message();
	auto m = describe_error(Op::merge, EPERM, {});
	EXPECT_NE(m.message().find("administrator disabled"), std::string::npos) << m.message();
}

TEST_F(TempDir, EpermOfMergeWhileRunIs2)
{
	put("partitions/enabled", "1\n");
	put("run", "2\n");
	sys::set_probe_paths(dir.string(), "/nonexistent");
	auto m = describe_error(Op::merge, EPERM, {});
	EXPECT_NE(m.message().find("/sys/kernel/mm/ksm/run is 2"), std::string::npos)
	    << m.message();
	put("run", "1\n");
	auto ptrace = describe_error(Op::merge, EPERM, {});
	EXPECT_NE(ptrace.message().find("ptrace"), std::string::npos) << ptrace.message();
	// Unmerge and leave are never refused by the knobs.
	put("run", "2\n");
	auto u = describe_error(Op::unmerge, EPERM, {});
	EXPECT_NE(u.message().find("ptrace"), std::string::npos) << u.message();
}

TEST(Eexist, CreateOfAnotherUsersNameSaysWhose)
{
	fake::Kernel k;
	k.open_errno = EEXIST;
	sys::ScopedBackend s(k);
	auto p = Partition::create("db");
	ASSERT_FALSE(p);
	EXPECT_EQ(p.error().errnum(), EEXIST);
	EXPECT_NE(p.error().message().find("belongs to"), std::string::npos) << p.error().message();
	EXPECT_NE(p.error().message().find("without KSM_OPEN_CREATE"), std::string::npos);
	CreateOptions excl;
	excl.exclusive = true;
	auto e = Partition::create("db", excl);
	EXPECT_NE(e.error().message().find("already exists (exclusive create)"), std::string::npos)
	    << e.error().message();
}

TEST(OpenOrCreate, SaysWhichHappened)
{
	struct Existing : fake::Kernel {
		int ksm_open(const char *name, unsigned flags, unsigned mode) override
		{
			seen.push_back(flags & ~ksmpart::open_cloexec);
			if (flags & ksmpart::open_excl) {
				errno = EEXIST;
				return -1;
			}
			return fake::Kernel::ksm_open(name, flags, mode);
		}
		std::vector<unsigned> seen;
	} k;
	sys::ScopedBackend s(k);
	auto r = Partition::open_or_create("db");
	ASSERT_TRUE(r) << r.error().message();
	EXPECT_FALSE(r->created);
	ASSERT_EQ(k.seen.size(), 2u);
	EXPECT_EQ(k.seen[0], open_create | open_excl);
	EXPECT_EQ(k.seen[1], open_create); // never without CREATE: not another user's
	r->partition.release();

	fake::Kernel fresh;
	sys::ScopedBackend s2(fresh);
	auto c = Partition::open_or_create("db");
	ASSERT_TRUE(c);
	EXPECT_TRUE(c->created);
	c->partition.release();
}
