// SPDX-License-Identifier: GPL-2.0-or-later
// libksmpart against the real kernel: merges checked by their effect (PFN
// equality via pagemap, /proc/<pid>/ksm_stat, content), batching, partial
// progress and the error messages of real denials.
#include "vm_util.hpp"

#include <ksmpart/ksmpart.hpp>

#include <gtest/gtest.h>

#include <set>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

using namespace ksmpart;
using vm::Buffer;
using vm::page_size;
using vm::pfn;

namespace {

/// Leaves whatever partition this process joined, so tests stay independent
/// (membership outlives the partition fd).
struct SelfTest : ::testing::Test {
	std::vector<int> fds; // dups: the partitions may be closed before TearDown
	void member_of(const Partition &p) { fds.push_back(dup(p.fd())); }
	void TearDown() override
	{
		for (int fd : fds) {
			sys::ksm_leave(fd, pidfd_self, 0);
			close(fd);
		}
	}
};

std::vector<Range> one(const Buffer &b)
{
	return {Range::of(b.p, b.bytes())};
}

} // namespace

TEST(Kernel, HasKsmpart)
{
	auto r = probe();
	ASSERT_TRUE(r) << r.error().message();
}

TEST_F(SelfTest, MergesDuplicatePagesOfSelf)
{
	auto part = Partition::anonymous().value();
	member_of(part);
	Buffer b(64);
	for (std::size_t i = 0; i < 32; i++)
		b.fill(i, 7); // duplicates
	for (std::size_t i = 32; i < 64; i++)
		b.fill(i, 100 + i); // unique
	auto before = vm::ksm_stat()["ksm_merging_pages"];

	auto rep = part.merge(Pidfd::self(), one(b));
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_TRUE(rep.joined);
	EXPECT_EQ(rep.calls, 1u);
	EXPECT_EQ(rep.bytes_processed, b.bytes());
	const auto &c = rep.counters;
	EXPECT_EQ(c.pages_scanned, 64u);
	EXPECT_EQ(c.pages_absent + c.pages_skipped, 0u);
	// The first duplicate becomes a candidate, the other 31 merge with it.
	EXPECT_EQ(c.pages_merged, 31u);
	EXPECT_EQ(c.pages_unshared, 33u);
	EXPECT_EQ(c.pages_scanned, c.pages_merged + c.pages_already_shared + c.zero_pages_merged +
	                               c.pages_unshared + c.pages_failed);

	// Effect: one physical page for all duplicates, unique pages their own.
	auto shared = pfn(b.page(0));
	ASSERT_NE(shared, 0u);
	std::set<std::uint64_t> unique;
	for (std::size_t i = 0; i < 32; i++)
		EXPECT_EQ(pfn(b.page(i)), shared) << "page " << i;
	for (std::size_t i = 32; i < 64; i++)
		unique.insert(pfn(b.page(i)));
	EXPECT_EQ(unique.size(), 32u);
	EXPECT_EQ(unique.count(shared), 0u);
	EXPECT_EQ(vm::ksm_stat()["ksm_merging_pages"] - before, 32);

	// Contents intact; a write breaks sharing for that page only.
	for (std::size_t i = 0; i < 64; i++)
		ASSERT_TRUE(b.holds(i, i < 32 ? 7 : 100 + i)) << "page " << i;
	b.fill(0, 8);
	EXPECT_NE(pfn(b.page(0)), shared);
	EXPECT_EQ(pfn(b.page(1)), shared);
	EXPECT_TRUE(b.holds(0, 8));
	EXPECT_TRUE(b.holds(1, 7));

	// Merging again finds them shared; nothing new is joined.
	auto again = part.merge(Pidfd::self(), one(b));
	ASSERT_TRUE(again.complete()) << again.error.message();
	EXPECT_FALSE(again.joined);
	EXPECT_EQ(again.counters.pages_already_shared, 31u);
}

TEST(Merge, ForkedChildByPidfd)
{
	vm::Pipe up, down;
	const std::size_t n = 16;
	pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		Buffer b(n);
		for (std::size_t i = 0; i < n; i++)
			b.fill(i, 42);
		up.send(std::to_string(reinterpret_cast<std::uintptr_t>(b.p)));
		down.receive(); // parent merged us
		bool ok = true;
		for (std::size_t i = 0; i < n; i++)
			ok &= b.holds(i, 42);
		_exit(ok ? 0 : 1);
	}
	auto addr = reinterpret_cast<char *>(std::stoull(up.receive()));
	auto target = Pidfd::open(child);
	ASSERT_TRUE(target) << target.error().message();
	EXPECT_EQ(target->pid(), child);
	auto part = Partition::anonymous().value();
	auto rep = part.merge(*target, std::vector<Range>{Range::of(addr, n * page_size())});
	EXPECT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_TRUE(rep.joined);
	EXPECT_EQ(rep.counters.pages_merged, n - 1);
	auto first = pfn(addr, child);
	EXPECT_NE(first, 0u);
	for (std::size_t i = 1; i < n; i++)
		EXPECT_EQ(pfn(addr + i * page_size(), child), first) << "page " << i;
	EXPECT_EQ(vm::ksm_stat(child)["ksm_merging_pages"], static_cast<long long>(n));
	// The parent is not a member: leaving it is ENOENT.
	auto l = part.leave(Pidfd::self());
	EXPECT_EQ(l.error().errnum(), ENOENT);
	down.send("go");
	int status;
	waitpid(child, &status, 0);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child saw changed content";
}

namespace {

/// A child that fills `pages` pages with `seed`, runs merge(buffer) and
/// reports "<ok> <address>" then waits to be released; while it waits the
/// parent can inspect its pagemap.
struct Merger {
	pid_t pid = -1;
	vm::Pipe up, down;
	bool ok = false;
	char *addr = nullptr;
	std::string message;

	template <typename F> void start(std::size_t pages, unsigned seed, F merge)
	{
		pid = fork();
		if (pid < 0)
			throw std::runtime_error("fork");
		if (pid == 0) {
			Buffer b(pages);
			for (std::size_t i = 0; i < pages; i++)
				b.fill(i, seed);
			std::string msg = merge(b);
			up.send(std::to_string(msg.empty()) + " " +
			        std::to_string(reinterpret_cast<std::uintptr_t>(b.p)) + " " + msg);
			down.receive();
			_exit(0);
		}
		std::istringstream in(up.receive());
		std::uintptr_t a = 0;
		in >> ok >> a;
		std::getline(in, message);
		addr = reinterpret_cast<char *>(a);
	}
	~Merger()
	{
		if (pid > 0) {
			down.send("done");
			waitpid(pid, nullptr, 0);
		}
	}
};

} // namespace

TEST_F(SelfTest, NamedPartitionSharesAcrossProcessesAnonymousDoesNot)
{
	std::string name = "vmtest-named-" + std::to_string(getpid());
	auto part = Partition::create(name, {.mode = 0600, .exclusive = true}).value();
	member_of(part);
	Buffer mine(1);
	mine.fill(0, 77);
	auto rep = part.merge(Pidfd::self(), one(mine));
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(rep.counters.pages_unshared, 1u); // a candidate for the others to find

	// Both children are forked while we are a member: they inherit the
	// membership, so each leaves first (exec would do the same).
	Merger named, anon;
	named.start(1, 77, [&](const Buffer &b) -> std::string {
		auto p = Partition::open(name);
		if (!p)
			return p.error().message();
		auto r = p->merge(Pidfd::self(), one(b));
		return r.complete() && r.counters.pages_merged == 1 ? ""
		                                                    : "merge: " + r.error.message();
	});
	anon.start(2, 77, [&](const Buffer &b) -> std::string {
		if (auto l = part.leave(Pidfd::self()); !l)
			return l.error().message();
		auto q = Partition::anonymous().value();
		auto r = q.merge(Pidfd::self(), one(b));
		return r.complete() && r.counters.pages_merged == 1 ? ""
		                                                    : "merge: " + r.error.message();
	});
	ASSERT_TRUE(named.ok) << named.message;
	ASSERT_TRUE(anon.ok) << anon.message;

	auto ours = pfn(mine.p);
	ASSERT_NE(ours, 0u);
	// Same named partition: the child's page merged with ours.
	EXPECT_EQ(pfn(named.addr, named.pid), ours);
	// Its own anonymous partition: merged within itself, never with ours.
	auto theirs = pfn(anon.addr, anon.pid);
	EXPECT_NE(theirs, 0u);
	EXPECT_EQ(pfn(anon.addr + page_size(), anon.pid), theirs);
	EXPECT_NE(theirs, ours);

	// Opening by name again gives the same partition, and EXCL refuses.
	auto again = Partition::create(name, {.exclusive = true});
	ASSERT_FALSE(again);
	EXPECT_EQ(again.error().errnum(), EEXIST);
	EXPECT_EQ(again.error().message(),
	          "open partition '" + name + "' already exists (exclusive create)");
}

TEST_F(SelfTest, MoreThan1024RangesAreAllMerged)
{
	// 30 contents x 100 copies, one range per page, interleaved so that
	// every call of 1024 ranges sees every content.
	const std::size_t groups = 30, copies = 100, n = groups * copies;
	auto part = Partition::anonymous().value();
	member_of(part);
	Buffer b(n);
	std::vector<Range> ranges;
	for (std::size_t i = 0; i < n; i++) {
		b.fill(i, 1000 + i % groups);
		ranges.push_back(Range::of(b.page(i), page_size()));
	}
	auto rep = part.merge(Pidfd::self(), ranges);
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(rep.calls, 3u);
	EXPECT_EQ(rep.counters.pages_scanned, n);
	EXPECT_EQ(rep.counters.pages_merged, n - groups);
	for (std::size_t g = 0; g < groups; g++) {
		auto first = pfn(b.page(g));
		ASSERT_NE(first, 0u);
		for (std::size_t i = g; i < n; i += groups) {
			ASSERT_EQ(pfn(b.page(i)), first) << "group " << g << " page " << i;
		}
		if (g > 0) {
			EXPECT_NE(first, pfn(b.page(g - 1)));
		}
	}
	EXPECT_EQ(vm::ksm_stat()["ksm_merging_pages"], static_cast<long long>(n));
}

TEST_F(SelfTest, SingleRangeBeyondMaxRwCountIsContinued)
{
	// 2 GiB + 64 MiB, reserved only: the first call stops at MAX_RW_COUNT,
	// the library continues. Duplicates at both ends prove both calls ran.
	const std::size_t bytes = (2048ull + 64) << 20;
	void *m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(m, MAP_FAILED);
	auto *p = static_cast<char *>(m);
	madvise(p, bytes, MADV_NOHUGEPAGE);
	char *last = p + bytes - page_size();
	std::memset(p, 0x33, page_size());
	std::memset(last, 0x33, page_size());
	auto part = Partition::anonymous().value();
	member_of(part);
	auto rep = part.merge(Pidfd::self(), std::vector<Range>{Range::of(p, bytes)});
	EXPECT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(rep.calls, 2u);
	EXPECT_EQ(rep.bytes_processed, bytes);
	EXPECT_EQ(rep.counters.pages_touched(), bytes / page_size());
	EXPECT_EQ(rep.counters.pages_scanned, 2u);
	EXPECT_EQ(rep.counters.pages_merged, 1u);
	EXPECT_EQ(pfn(p), pfn(last));
	EXPECT_NE(pfn(p), 0u);
	(void)part.leave(Pidfd::self());
	munmap(m, bytes);
}

TEST_F(SelfTest, ErrorInALaterBatchIsPartial)
{
	auto part = Partition::anonymous().value();
	member_of(part);
	Buffer b(1030);
	std::vector<Range> ranges;
	for (std::size_t i = 0; i < 1030; i++) {
		b.fill(i, 5 + i % 8); // 128 copies each: below max_page_sharing
		ranges.push_back(Range::of(b.page(i), page_size()));
	}
	// Range 1027 lies in kernel space: the second call fails with EFAULT
	// before any progress, after the first call merged 1024 pages.
	ranges[1027] = {0xffff800000000000ull, 0xffff800000001000ull};
	auto rep = part.merge(Pidfd::self(), ranges);
	EXPECT_TRUE(rep.partial());
	EXPECT_EQ(rep.error.errnum(), EFAULT);
	EXPECT_EQ(rep.bytes_processed, 1024 * page_size());
	EXPECT_EQ(rep.counters.pages_scanned, 1024u);
	EXPECT_EQ(rep.calls, 2u);
	EXPECT_NE(rep.error.message().find("outside the user address range"), std::string::npos)
	    << rep.error.message();
	for (std::size_t i = 8; i < 1024; i++) {
		ASSERT_EQ(pfn(b.page(i)), pfn(b.page(i % 8))) << "page " << i;
	}
	for (std::size_t i = 1024; i < 1030; i++) {
		EXPECT_NE(pfn(b.page(i)), pfn(b.page(i % 8)))
		    << "page " << i << " was never reached";
	}
}

TEST_F(SelfTest, SelectorsPickARegionOrAnAddressRange)
{
	auto part = Partition::anonymous().value();
	member_of(part);
	// A private file mapping: written pages are anonymous copies, mergeable;
	// the region is found by its path in the maps.
	char path[] = "/tmp/ksmpart-vmtest-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(ftruncate(fd, 8 * page_size()), 0);
	auto *f = static_cast<char *>(
	    mmap(nullptr, 8 * page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
	close(fd);
	ASSERT_NE(f, MAP_FAILED);
	for (std::size_t i = 0; i < 8; i++)
		std::memset(f + i * page_size(), 0x5c, page_size());
	auto rep = part.merge(Pidfd::self(), Selector::named(path));
	unlink(path);
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(rep.counters.pages_touched(), 8u);
	EXPECT_EQ(rep.counters.pages_merged, 7u);
	EXPECT_EQ(pfn(f + 7 * page_size()), pfn(f));
	munmap(f, 8 * page_size());

	auto none = part.merge(Pidfd::self(), Selector::named("[anon:absent]"));
	EXPECT_EQ(none.error.code(), errc::region_not_found);

	// An address range: only its part of the buffer is merged.
	Buffer b(8);
	for (std::size_t i = 0; i < 8; i++)
		b.fill(i, 21);
	auto half =
	    part.merge(Pidfd::self(), Selector::addresses(Range::of(b.page(4), 4 * page_size())));
	ASSERT_TRUE(half.complete()) << half.error.message();
	EXPECT_EQ(half.counters.pages_touched(), 4u);
	EXPECT_EQ(pfn(b.page(7)), pfn(b.page(4)));
	EXPECT_NE(pfn(b.page(3)), pfn(b.page(4)));
}

TEST_F(SelfTest, UnmergeBreaksSharing)
{
	auto part = Partition::anonymous().value();
	member_of(part);
	Buffer b(4);
	for (std::size_t i = 0; i < 4; i++)
		b.fill(i, 11);
	ASSERT_TRUE(part.merge(Pidfd::self(), one(b)).complete());
	ASSERT_EQ(pfn(b.page(0)), pfn(b.page(3)));
	auto rep =
	    part.unmerge(Pidfd::self(), std::vector<Range>{Range::of(b.page(2), 2 * page_size())});
	ASSERT_TRUE(rep.complete()) << rep.error.message();
	EXPECT_EQ(pfn(b.page(0)), pfn(b.page(1)));
	EXPECT_NE(pfn(b.page(2)), pfn(b.page(0)));
	EXPECT_NE(pfn(b.page(3)), pfn(b.page(0)));
	EXPECT_NE(pfn(b.page(2)), pfn(b.page(3)));
	EXPECT_TRUE(b.holds(2, 11) && b.holds(3, 11));
	ASSERT_TRUE(part.leave(Pidfd::self()));
	EXPECT_EQ(vm::ksm_stat()["ksm_merging_pages"], 0);
}

TEST_F(SelfTest, MemberOfAnotherPartitionIsEbusy)
{
	auto a = Partition::anonymous().value();
	auto b = Partition::create("vmtest-busy-" + std::to_string(getpid())).value();
	member_of(a);
	ASSERT_TRUE(a.join(Pidfd::self()).complete());
	auto rep = b.join(Pidfd::self());
	EXPECT_EQ(rep.error.errnum(), EBUSY);
	EXPECT_EQ(rep.error.message(), "merge: the calling process is a member of another "
	                               "partition (it must leave that one first)");
	auto l = b.leave(Pidfd::self());
	EXPECT_EQ(l.error().errnum(), ENOENT);
	EXPECT_EQ(l.error().message(),
	          "leave the calling process: the calling process is not a member of partition "
	          "'vmtest-busy-" +
	              std::to_string(getpid()) + "'");
}

TEST(Errors, ExitedTargetIsEsrch)
{
	vm::Pipe p;
	pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		p.receive();
		_exit(0);
	}
	auto target = Pidfd::open(child).value();
	p.send("exit");
	siginfo_t si{};
	ASSERT_EQ(waitid(P_PID, child, &si, WEXITED | WNOWAIT), 0); // zombie now
	auto part = Partition::anonymous().value();
	auto rep = part.join(target);
	EXPECT_EQ(rep.error.errnum(), ESRCH);
	EXPECT_NE(rep.error.message().find("pid " + std::to_string(child) + ": no such process"),
	          std::string::npos)
	    << rep.error.message();
	waitpid(child, nullptr, 0);
	EXPECT_EQ(Pidfd::open(child).error().errnum(), ESRCH);
}

TEST(Errors, MergingAnotherUidWithoutCapSysPtraceIsEperm)
{
	Merger victim;
	victim.start(2, 3, [](const Buffer &) -> std::string {
		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			return "setresuid failed";
		return "";
	});
	ASSERT_TRUE(victim.ok) << victim.message;
	auto attempt = [&](bool keep_cap) {
		return vm::in_child([&]() -> int {
			if (!keep_cap && !vm::drop_caps({CAP_SYS_PTRACE}))
				return 10;
			auto part = Partition::anonymous().value();
			auto target = Pidfd::open(victim.pid).value();
			auto rep = part.merge(
			    target, std::vector<Range>{Range::of(victim.addr, 2 * page_size())});
			if (keep_cap)
				return rep.complete() && rep.counters.pages_merged == 1 ? 0 : 11;
			std::string want = "merge: no ptrace access to pid " +
			                   std::to_string(victim.pid) +
			                   " (needs same uid and no setuid, or CAP_SYS_PTRACE; the "
			                   "caller lacks CAP_SYS_PTRACE";
			if (rep.error.errnum() != EPERM || rep.error.message().find(want) != 0) {
				fprintf(stderr, "got: %s\n", rep.error.message().c_str());
				return 12;
			}
			return 0;
		});
	};
	EXPECT_EQ(attempt(false), 0);
	EXPECT_EQ(attempt(true), 0) << "with CAP_SYS_PTRACE the merge must work";
	EXPECT_EQ(pfn(victim.addr, victim.pid), pfn(victim.addr + page_size(), victim.pid));
}

TEST(Errors, OpeningAnotherOwnersPrivatePartitionIsEacces)
{
	std::string name = "vmtest-eacces-" + std::to_string(getpid());
	Merger owner; // creates the partition as uid 1000 and holds it open
	owner.start(1, 1, [&](const Buffer &) -> std::string {
		if (setresgid(1000, 1000, 1000) || setresuid(1000, 1000, 1000))
			return "setresuid failed";
		auto p = Partition::create(name, {.mode = 0600, .exclusive = true});
		if (!p)
			return p.error().message();
		p->release(); // keep the fd open until we exit
		return "";
	});
	ASSERT_TRUE(owner.ok) << owner.message;
	struct stat st;
	// Root without CAP_IPC_OWNER still reads /proc/ksm_partitions (0400).
	const bool sysfs = stat("/proc/ksm_partitions", &st) == 0;
	auto attempt = [&](bool keep_cap) {
		return vm::in_child([&]() -> int {
			if (!keep_cap && !vm::drop_caps({CAP_IPC_OWNER}))
				return 10;
			auto p = Partition::open(name);
			if (keep_cap)
				return p ? 0 : 11;
			if (p || p.error().errnum() != EACCES)
				return 12;
			const auto &m = p.error().message();
			std::string want = "open partition '" + name + "': ";
			want += sysfs
			            ? "mode 0600 owner uid 1000 gid 1000 denies read+write to uid 0"
			            : "its mode and owner deny read+write to uid 0";
			want += " (CAP_IPC_OWNER overrides; the caller lacks CAP_IPC_OWNER)";
			if (m != want) {
				fprintf(stderr, "got:  %s\nwant: %s\n", m.c_str(), want.c_str());
				return 13;
			}
			return 0;
		});
	};
	EXPECT_EQ(attempt(false), 0);
	EXPECT_EQ(attempt(true), 0) << "with CAP_IPC_OWNER the open must work";
}
