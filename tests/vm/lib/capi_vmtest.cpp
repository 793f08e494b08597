// SPDX-License-Identifier: GPL-2.0-or-later
// The C API end to end against the real kernel.
#include "vm_util.hpp"

#include <ksmpart.h>

#include <gtest/gtest.h>

#include <string>

using vm::Buffer;
using vm::page_size;
using vm::pfn;

TEST(CApiVm, Available)
{
	EXPECT_EQ(ksmpart_available(), 0) << ksmpart_last_error();
}

TEST(CApiVm, MergeSelfStatsLeave)
{
	ksmpart_partition *p = nullptr;
	ASSERT_EQ(ksmpart_open_anonymous(0, &p), 0) << ksmpart_last_error();
	Buffer b(12);
	for (std::size_t i = 0; i < 12; i++)
		b.fill(i, i % 3); // three contents, four copies each
	std::vector<struct iovec> v;
	for (std::size_t i = 0; i < 12; i++)
		v.push_back({b.page(i), page_size()});
	ksmpart_merge_report rep{};
	rep.size = sizeof(rep);
	ASSERT_EQ(ksmpart_merge(p, KSMPART_PIDFD_SELF, v.data(), v.size(), &rep), 0)
	    << ksmpart_last_error();
	EXPECT_EQ(rep.flags, KSMPART_REPORT_COMPLETE | KSMPART_REPORT_JOINED);
	EXPECT_EQ(rep.bytes_processed, 12 * page_size());
	EXPECT_EQ(rep.pages_scanned, 12u);
	EXPECT_EQ(rep.pages_merged, 9u);
	for (std::size_t i = 3; i < 12; i++)
		EXPECT_EQ(pfn(b.page(i)), pfn(b.page(i % 3))) << "page " << i;
	EXPECT_NE(pfn(b.page(0)), pfn(b.page(1)));

	ksmpart_stats st{};
	st.size = sizeof(st);
	EXPECT_EQ(ksmpart_get_stats(p, &st), 0) << ksmpart_last_error();
	EXPECT_EQ(st.size, sizeof(st));
	EXPECT_EQ(st.pages_shared, 3u);
	EXPECT_EQ(st.pages_sharing, 9u);
	EXPECT_EQ(st.members, 1u);

	// Second merge over everything anonymous in self: already shared stay.
	ksmpart_merge_report all{};
	all.size = sizeof(all);
	EXPECT_EQ(ksmpart_merge_anonymous(p, 0, &all), 0) << ksmpart_last_error();
	EXPECT_EQ(all.flags & KSMPART_REPORT_JOINED, 0u);
	EXPECT_GE(all.pages_already_shared, 9u);

	EXPECT_EQ(ksmpart_leave(p, KSMPART_PIDFD_SELF), 0) << ksmpart_last_error();
	EXPECT_EQ(vm::ksm_stat()["ksm_merging_pages"], 0);
	EXPECT_EQ(ksmpart_leave(p, KSMPART_PIDFD_SELF), -ENOENT);
	EXPECT_NE(std::string(ksmpart_last_error()).find("not a member"), std::string::npos);
	ksmpart_close(p);
}

TEST(CApiVm, NamedOpenCreateExcl)
{
	std::string name = "capi-vmtest-" + std::to_string(getpid());
	ksmpart_partition *a = nullptr, *b = nullptr;
	EXPECT_EQ(ksmpart_open(name.c_str(), 0, 0, &a), -ENOENT);
	EXPECT_NE(std::string(ksmpart_last_error()).find("does not exist"), std::string::npos);
	ASSERT_EQ(ksmpart_open(name.c_str(), KSMPART_CREATE | KSMPART_EXCL, 0600, &a), 0)
	    << ksmpart_last_error();
	EXPECT_EQ(ksmpart_open(name.c_str(), KSMPART_CREATE | KSMPART_EXCL, 0600, &b), -EEXIST);
	EXPECT_EQ(ksmpart_open(name.c_str(), 0, 0600, &b), -EINVAL); // mode without CREATE
	ASSERT_EQ(ksmpart_open(name.c_str(), 0, 0, &b), 0) << ksmpart_last_error();
	EXPECT_EQ(ksmpart_open("bad name", KSMPART_CREATE, 0600, &b), -EINVAL);
	EXPECT_NE(std::string(ksmpart_last_error()).find("byte 0x20"), std::string::npos);
	ksmpart_close(a);
	ksmpart_close(b);
}

TEST(CApiVm, MergeChildByPidfd)
{
	vm::Pipe up, down;
	pid_t child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		Buffer b(6);
		for (std::size_t i = 0; i < 6; i++)
			b.fill(i, 8);
		up.send(std::to_string(reinterpret_cast<std::uintptr_t>(b.p)));
		down.receive();
		_exit(b.holds(5, 8) ? 0 : 1);
	}
	auto *addr = reinterpret_cast<char *>(std::stoull(up.receive()));
	int pidfd = ksmpart_pidfd_open(child);
	ASSERT_GE(pidfd, 0) << ksmpart_last_error();
	ksmpart_partition *p = nullptr;
	ASSERT_EQ(ksmpart_open_anonymous(0, &p), 0);
	struct iovec v = {addr, 6 * page_size()};
	ksmpart_merge_report rep{};
	rep.size = sizeof(rep);
	EXPECT_EQ(ksmpart_merge(p, pidfd, &v, 1, &rep), 0) << ksmpart_last_error();
	EXPECT_EQ(rep.pages_merged, 5u);
	EXPECT_EQ(pfn(addr, child), pfn(addr + 5 * page_size(), child));
	// The pidfd stays the caller's: still usable after the call.
	EXPECT_EQ(ksmpart_leave(p, pidfd), 0) << ksmpart_last_error();
	EXPECT_NE(pfn(addr, child), pfn(addr + 5 * page_size(), child));
	close(pidfd);
	down.send("go");
	int status;
	waitpid(child, &status, 0);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ksmpart_close(p);
}
