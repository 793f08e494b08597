// SPDX-License-Identifier: GPL-2.0-or-later
// The administrator's view and switches against the real kernel:
// /proc/ksm_partitions, membership in /proc/<pid>/ksm_stat, the fdinfo of
// held fds, the system-wide sums in /sys/kernel/mm/ksm/partitions/, EEXIST
// for another user's name under KSM_OPEN_CREATE, and EPERM when partitions
// are disabled or KSM's run is 2. Effects are checked, not return codes.
#include "vm_util.hpp"

#include <ksmpart/ksmpart.hpp>
#include <ksmpart/system.hpp>

#include <gtest/gtest.h>

#include <fstream>
#include <sys/stat.h>

using namespace ksmpart;
using vm::Buffer;
using vm::page_size;
using vm::pfn;

namespace {

std::string read(const std::string &path)
{
	std::ifstream f(path);
	std::string s;
	std::getline(f, s);
	return s;
}

void write(const std::string &path, const std::string &v)
{
	std::ofstream f(path);
	f << v << "\n";
	f.close();
	if (!f)
		throw std::runtime_error("write " + path);
}

/// Sets a sysfs knob for the scope of a test, restoring it after.
struct Knob {
	std::string path, old;
	Knob(std::string p, const std::string &value) : path(std::move(p)), old(read(path))
	{
		write(path, value);
	}
	~Knob() { write(path, old); }
};

bool new_abi()
{
	struct stat st;
	return stat("/proc/ksm_partitions", &st) == 0;
}

#define NEED_NEW_ABI()                                                                             \
	do {                                                                                       \
		if (!new_abi())                                                                    \
			GTEST_SKIP() << "kernel without /proc/ksm_partitions (older ksmpart ABI)"; \
	} while (0)

/// A child with n pages, page i filled with seed i, merged by the parent.
struct Filled {
	pid_t pid = -1;
	vm::Pipe go;
	Buffer buf;
	explicit Filled(std::size_t n) : buf(n)
	{
		vm::Pipe ready;
		pid = fork();
		if (pid == 0) {
			for (std::size_t i = 0; i < n; i++)
				buf.fill(i, static_cast<unsigned>(i + 1));
			ready.send("r");
			go.receive();
			_exit(0);
		}
		ready.receive();
	}
	~Filled()
	{
		go.send("x");
		waitpid(pid, nullptr, 0);
	}
};

} // namespace

TEST(Admin, ProcKsmPartitionsMembersAndTotals)
{
	NEED_NEW_ABI();
	std::string name = "vmadmin-" + std::to_string(getpid());
	auto part = Partition::create(name, {.mode = 0640, .exclusive = true}).value();
	Filled a(16), b(16);
	auto ra = Pidfd::open(a.pid).value(), rb = Pidfd::open(b.pid).value();
	std::vector<Range> r{Range::of(a.buf.p, a.buf.bytes())},
	    rbr{Range::of(b.buf.p, b.buf.bytes())};
	ASSERT_TRUE(part.merge(ra, r).complete());
	ASSERT_TRUE(part.merge(rb, rbr).complete());
	ASSERT_EQ(pfn(a.buf.p, a.pid), pfn(b.buf.p, b.pid)); // merged for real
	auto st = part.stats().value();

	auto table = read_partition_table();
	ASSERT_TRUE(table) << table.error().message();
	const PartitionInfo *mine = nullptr;
	for (const auto &p : *table)
		if (p.id == st.id)
			mine = &p;
	ASSERT_NE(mine, nullptr) << "id " << st.id << " not in /proc/ksm_partitions";
	EXPECT_EQ(mine->name, name);
	EXPECT_EQ(mine->uid, 0u);
	EXPECT_EQ(mine->mode, 0640u);
	EXPECT_EQ(mine->stats.members, 2u);
	EXPECT_EQ(mine->stats.pages_shared, 16u);
	EXPECT_EQ(mine->stats.pages_sharing, 16u);
	EXPECT_EQ(mine->stats.rmap_items, st.rmap_items);
	EXPECT_EQ(mine->stats.general_profit, st.general_profit);
	// Anonymous partitions are listed without a name.
	auto anon = Partition::anonymous().value();
	auto aid = anon.stats().value().id;
	bool found_anon = false;
	auto table2 = read_partition_table().value();
	for (const auto &p : table2)
		if (p.id == aid)
			found_anon = !p.name;
	EXPECT_TRUE(found_anon);

	// Membership, from ksm_stat.
	EXPECT_EQ(partition_of(a.pid).value(), st.id);
	EXPECT_EQ(partition_of(getpid()).value(), 0u);
	auto ms = members(st.id);
	ASSERT_EQ(ms.size(), 2u);
	EXPECT_EQ(ms[0].pid, std::min(a.pid, b.pid));
	EXPECT_EQ(ms[1].pid, std::max(a.pid, b.pid));
	EXPECT_EQ(ms[0].merging_pages, 16);

	// The fd this process holds, through fdinfo.
	bool held = false;
	for (const auto &f : partition_fds())
		if (f.pid == getpid() && f.fd == part.fd())
			held =
			    f.info.id == st.id && f.info.name == name && f.info.stats.members == 2;
	EXPECT_TRUE(held);

	// System-wide sums = the sums over /proc/ksm_partitions.
	auto t = read_totals();
	ASSERT_TRUE(t) << t.error().message();
	auto tab = read_partition_table().value();
	std::uint64_t sharing = 0, shared = 0;
	std::int64_t profit = 0;
	for (const auto &p : tab) {
		sharing += p.stats.pages_sharing;
		shared += p.stats.pages_shared;
		profit += p.stats.general_profit;
	}
	EXPECT_EQ(t->nr_partitions, tab.size());
	EXPECT_EQ(t->pages_sharing, sharing);
	EXPECT_EQ(t->pages_shared, shared);
	EXPECT_EQ(t->general_profit, profit);
	EXPECT_GE(t->pages_sharing, 16u);
}

TEST(Admin, NonRootSeesOnlyWhatItsProcessesHold)
{
	NEED_NEW_ABI();
	auto root_part = Partition::anonymous().value();
	auto root_id = root_part.stats().value().id;
	vm::Pipe id_out;
	int rc = vm::in_child([&]() -> int {
		// The fd inherited from root would make root's partition one it holds.
		close(root_part.fd());
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			return 10;
		// Not root: /proc/ksm_partitions is closed.
		auto t = read_partition_table();
		if (t || t.error().errnum() != EACCES)
			return 11;
		auto mine = Partition::anonymous().value();
		auto id = mine.stats().value().id;
		auto vis = visible_partitions();
		if (vis.size() != 1 || vis[0].id != id || vis[0].uid != 65534)
			return 12;
		for (const auto &p : vis)
			if (p.id == root_id)
				return 13;
		return 0;
	});
	EXPECT_EQ(rc, 0);
}

TEST(Admin, CreateOfAnotherUsersNameIsEexistOpenJoins)
{
	NEED_NEW_ABI();
	std::string name = "vmadmin-other-" + std::to_string(getpid());
	vm::Pipe ready, done;
	pid_t owner = fork();
	if (owner == 0) {
		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			_exit(1);
		auto p = Partition::create(name, {.mode = 0666, .exclusive = true});
		ready.send(p ? std::to_string(p->stats().value().id) : p.error().message());
		done.receive();
		_exit(0);
	}
	auto idtext = ready.receive();
	ASSERT_TRUE(!idtext.empty() && isdigit(idtext[0])) << idtext;
	std::uint64_t id = std::stoull(idtext);

	// As root (fsuid 0 != owner 1000): CREATE does not hand out uid 1000's
	// partition, even though its mode would allow opening it.
	auto c = Partition::create(name);
	ASSERT_FALSE(c);
	EXPECT_EQ(c.error().errnum(), EEXIST);
	EXPECT_NE(c.error().message().find("belongs to uid 1000"), std::string::npos)
	    << c.error().message();
	auto oc = Partition::open_or_create(name);
	ASSERT_FALSE(oc);
	EXPECT_EQ(oc.error().errnum(), EEXIST);
	// Opening on purpose joins it: the same partition.
	auto o = Partition::open(name);
	ASSERT_TRUE(o) << o.error().message();
	EXPECT_EQ(o->stats().value().id, id);
	// The owner's own CREATE opens its partition.
	int rc = vm::in_child([&]() -> int {
		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			return 10;
		auto again = Partition::open_or_create(name);
		if (!again || again->created || again->partition.stats().value().id != id)
			return 11;
		return 0;
	});
	EXPECT_EQ(rc, 0);
	done.send("x");
	waitpid(owner, nullptr, 0);
}

TEST(Admin, DisabledPartitionsRefuseCreateAndMergeOnly)
{
	NEED_NEW_ABI();
	const std::string knob = "/sys/kernel/mm/ksm/partitions/enabled";
	ASSERT_TRUE(partitions_enabled().has_value()) << knob;
	std::string name = "vmadmin-off-" + std::to_string(getpid());
	auto part = Partition::create(name, {.exclusive = true}).value();
	Filled a(8), b(8);
	auto ra = Pidfd::open(a.pid).value(), rb = Pidfd::open(b.pid).value();
	std::vector<Range> r{Range::of(a.buf.p, a.buf.bytes())},
	    rbr{Range::of(b.buf.p, b.buf.bytes())};
	ASSERT_TRUE(part.merge(ra, r).complete());
	{
		Knob off(knob, "0");
		EXPECT_EQ(partitions_enabled(), false);
		auto anon = Partition::anonymous();
		ASSERT_FALSE(anon);
		EXPECT_EQ(anon.error().errnum(), EPERM);
		EXPECT_NE(anon.error().message().find("administrator disabled"), std::string::npos)
		    << anon.error().message();
		auto fresh = Partition::create(name + "-new");
		EXPECT_EQ(fresh.error().errnum(), EPERM);
		auto m = part.merge(rb, rbr);
		EXPECT_EQ(m.error.errnum(), EPERM);
		EXPECT_NE(m.error.message().find("administrator disabled"), std::string::npos)
		    << m.error.message();
		EXPECT_NE(pfn(a.buf.p, a.pid), pfn(b.buf.p, b.pid)); // b did not merge
		// Opening, statistics, unmerge and leave keep working.
		auto o = Partition::open(name);
		ASSERT_TRUE(o) << o.error().message();
		EXPECT_TRUE(o->stats());
		EXPECT_TRUE(part.unmerge(ra, r).complete());
		EXPECT_TRUE(part.leave(ra));
		EXPECT_EQ(partition_of(a.pid).value(), 0u);
	}
	EXPECT_EQ(partitions_enabled(), true);
	EXPECT_TRUE(part.merge(ra, r).complete());
}

TEST(Admin, MergeIsEpermWhileRunIs2)
{
	NEED_NEW_ABI();
	auto part = Partition::anonymous().value();
	Filled a(8), b(8);
	auto ra = Pidfd::open(a.pid).value(), rb = Pidfd::open(b.pid).value();
	std::vector<Range> r{Range::of(a.buf.p, a.buf.bytes())},
	    rbr{Range::of(b.buf.p, b.buf.bytes())};
	ASSERT_TRUE(part.merge(ra, r).complete());
	{
		Knob run("/sys/kernel/mm/ksm/run", "2");
		auto m = part.merge(rb, rbr);
		EXPECT_EQ(m.error.errnum(), EPERM);
		EXPECT_NE(m.error.message().find("/sys/kernel/mm/ksm/run is 2"), std::string::npos)
		    << m.error.message();
		EXPECT_NE(pfn(a.buf.p, a.pid), pfn(b.buf.p, b.pid));
	}
	// run=2 unmerged a and forgot its pages: merge both again.
	ASSERT_TRUE(part.merge(ra, r).complete());
	auto again = part.merge(rb, rbr);
	EXPECT_TRUE(again.complete()) << again.error.message();
	EXPECT_EQ(pfn(a.buf.p, a.pid), pfn(b.buf.p, b.pid));
}
