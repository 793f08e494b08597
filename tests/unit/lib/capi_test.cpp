// SPDX-License-Identifier: GPL-2.0-or-later
// The C API without the kernel: argument validation, -errno returns, the
// thread-local message, size-versioned structs, ENOSYS via the fake.
#include "fake_kernel.hpp"

#include <ksmpart.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

namespace {

std::string last()
{
	return ksmpart_last_error();
}

} // namespace

TEST(CApi, Version)
{
	EXPECT_STREQ(ksmpart_version(), "0.1.0");
	EXPECT_STREQ(ksmpart_version(), KSMPART_VERSION_STRING);
	EXPECT_TRUE(KSMPART_CHECK_VERSION(0, 1));
	EXPECT_FALSE(KSMPART_CHECK_VERSION(0, 2));
	EXPECT_FALSE(KSMPART_CHECK_VERSION(1, 0));
}

TEST(CApi, NullArgumentsAreEinval)
{
	ksmpart_partition *p = nullptr;
	EXPECT_EQ(ksmpart_open(nullptr, 0, 0, &p), -EINVAL);
	EXPECT_NE(last().find("must not be NULL"), std::string::npos);
	EXPECT_EQ(ksmpart_open("x", 0, 0, nullptr), -EINVAL);
	EXPECT_EQ(ksmpart_open_anonymous(0, nullptr), -EINVAL);
	EXPECT_EQ(ksmpart_adopt_fd(-1, &p), -EINVAL);
	EXPECT_EQ(ksmpart_fd(nullptr), -EINVAL);
	EXPECT_EQ(ksmpart_merge(nullptr, KSMPART_PIDFD_SELF, nullptr, 0, nullptr), -EINVAL);
	EXPECT_EQ(ksmpart_unmerge(nullptr, KSMPART_PIDFD_SELF, nullptr, 0, nullptr), -EINVAL);
	EXPECT_EQ(ksmpart_leave(nullptr, KSMPART_PIDFD_SELF), -EINVAL);
	EXPECT_EQ(ksmpart_get_stats(nullptr, nullptr), -EINVAL);
	EXPECT_EQ(ksmpart_anonymous_ranges(0, nullptr), -EINVAL);
	EXPECT_EQ(ksmpart_region_ranges(0, nullptr, nullptr), -EINVAL);
	EXPECT_EQ(p, nullptr);
	ksmpart_close(nullptr); // ignored
}

TEST(CApi, UnknownFlagsAreEinval)
{
	ksmpart_partition *p = nullptr;
	EXPECT_EQ(ksmpart_open("x", 0x100, 0, &p), -EINVAL);
	EXPECT_EQ(ksmpart_open_anonymous(KSMPART_CREATE, &p), -EINVAL);
	EXPECT_EQ(p, nullptr);
}

TEST(CApi, EnosysWithMessage)
{
	fake::Kernel k;
	k.open_errno = ENOSYS;
	k.is_ksmpart = false;
	ksmpart::sys::ScopedBackend s(k);
	ksmpart_partition *p = nullptr;
	EXPECT_EQ(ksmpart_available(), -ENOSYS);
	EXPECT_EQ(ksmpart_open_anonymous(0, &p), -ENOSYS);
	EXPECT_EQ(last(), "this kernel has no ksmpart support (needs a kernel with "
	                  "CONFIG_KSM_PARTITION)");
	EXPECT_EQ(ksmpart_open("db", KSMPART_CREATE, 0600, &p), -ENOSYS);
	EXPECT_EQ(p, nullptr);
}

TEST(CApi, LastErrorIsPerThread)
{
	ksmpart_partition *p = nullptr;
	EXPECT_EQ(ksmpart_open(nullptr, 0, 0, &p), -EINVAL);
	std::string other = "unset";
	std::thread t([&] { other = ksmpart_last_error(); });
	t.join();
	EXPECT_EQ(other, "");
	EXPECT_NE(last(), "");
}

TEST(CApi, MergeReportSizeIsChecked)
{
	fake::Kernel k;
	ksmpart::sys::ScopedBackend s(k);
	ksmpart_partition *p = nullptr;
	ASSERT_EQ(ksmpart_open_anonymous(0, &p), 0);
	ksmpart_merge_report rep{};
	rep.size = 8;
	EXPECT_EQ(ksmpart_merge(p, KSMPART_PIDFD_SELF, nullptr, 0, &rep), -EINVAL);
	EXPECT_NE(last().find("report->size"), std::string::npos);
	EXPECT_EQ(k.calls, 0);
	EXPECT_EQ(ksmpart_merge(p, KSMPART_PIDFD_SELF, nullptr, 3, nullptr), -EINVAL);
	// The fake's fd is not real: release it instead of closing a stranger's fd.
	ASSERT_EQ(ksmpart_fd(p), 1001);
	ksmpart_close(p);
}

TEST(CApi, MergeReportSumsBatches)
{
	fake::Kernel k;
	k.call_budget = 10 * fake::page;
	ksmpart::sys::ScopedBackend s(k);
	ksmpart_partition *p = nullptr;
	ASSERT_EQ(ksmpart_open("db", KSMPART_CREATE, 0600, &p), 0);
	std::vector<struct iovec> v;
	for (int i = 0; i < 1100; i++)
		v.push_back({reinterpret_cast<void *>(0x100000 + i * 2 * fake::page), fake::page});
	ksmpart_merge_report rep{};
	rep.size = sizeof(rep);
	EXPECT_EQ(ksmpart_merge(p, KSMPART_PIDFD_SELF, v.data(), v.size(), &rep), 0) << last();
	EXPECT_EQ(rep.size, sizeof(rep));
	EXPECT_EQ(rep.error, 0);
	EXPECT_EQ(rep.flags, KSMPART_REPORT_COMPLETE | KSMPART_REPORT_JOINED);
	EXPECT_EQ(rep.calls, 110u);
	EXPECT_EQ(rep.bytes_requested, 1100 * fake::page);
	EXPECT_EQ(rep.bytes_processed, 1100 * fake::page);
	EXPECT_EQ(rep.pages_scanned, 1100u);
	ksmpart_close(p);
}

TEST(CApi, PartialMergeReturnsTheErrorAndTheProgress)
{
	fake::Kernel k;
	k.merge_errno = EINTR;
	k.fail_from_call = 1;
	k.call_budget = 2 * fake::page;
	ksmpart::sys::ScopedBackend s(k);
	ksmpart_partition *p = nullptr;
	ASSERT_EQ(ksmpart_open_anonymous(0, &p), 0);
	struct iovec v = {reinterpret_cast<void *>(0x100000), 5 * fake::page};
	ksmpart_merge_report rep{};
	rep.size = sizeof(rep);
	EXPECT_EQ(ksmpart_merge(p, KSMPART_PIDFD_SELF, &v, 1, &rep), -EINTR);
	EXPECT_EQ(rep.error, -EINTR);
	EXPECT_EQ(rep.bytes_processed, 2 * fake::page);
	EXPECT_EQ(rep.flags & KSMPART_REPORT_COMPLETE, 0u);
	EXPECT_NE(last().find("interrupted"), std::string::npos) << last();
	ksmpart_close(p);
}

TEST(CApi, StatsSizeVersioning)
{
	fake::Kernel k;
	k.stats.id = 3;
	k.stats.unmerge_time_ns = 5;
	ksmpart::sys::ScopedBackend s(k);
	ksmpart_partition *p = nullptr;
	ASSERT_EQ(ksmpart_adopt_fd(1001, &p), 0);
	ksmpart_stats st{};
	st.size = 100;
	EXPECT_EQ(ksmpart_get_stats(p, &st), -EINVAL);
	// A larger (future) struct: only our size is written, and reported.
	struct {
		ksmpart_stats st;
		uint64_t future;
	} big;
	std::memset(&big, 0xab, sizeof(big));
	big.st.size = sizeof(big);
	ASSERT_EQ(ksmpart_get_stats(p, &big.st), 0) << last();
	EXPECT_EQ(big.st.size, sizeof(ksmpart_stats));
	EXPECT_EQ(big.st.id, 3u);
	EXPECT_EQ(big.st.unmerge_time_ns, 5u);
	EXPECT_EQ(big.future, 0xababababababababull);
	k.stats_errno = ENOTTY;
	st.size = sizeof(st);
	EXPECT_EQ(ksmpart_get_stats(p, &st), -ENOTTY);
	ksmpart_close(p);
}

TEST(CApi, StructLayoutsMatchTheKernel)
{
	// ksmpart_stats mirrors struct ksm_partition_stats field for field.
	EXPECT_EQ(sizeof(ksmpart_stats), sizeof(ksm_partition_stats));
	EXPECT_EQ(offsetof(ksmpart_stats, unmerge_time_ns),
	          offsetof(ksm_partition_stats, unmerge_time_ns));
	EXPECT_EQ(KSMPART_PIDFD_SELF, KSM_PIDFD_SELF);
	EXPECT_EQ(KSMPART_ZERO_PAGES, KSM_OPEN_ZERO_PAGES);
}

TEST(CApi, AnonymousRangesOfSelf)
{
	long ps = sysconf(_SC_PAGESIZE);
	void *m = mmap(nullptr, 8 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(m, MAP_FAILED);
	struct iovec *v = nullptr;
	ssize_t n = ksmpart_anonymous_ranges(0, &v);
	ASSERT_GT(n, 0) << last();
	bool found = false;
	for (ssize_t i = 0; i < n; i++) {
		auto b = static_cast<char *>(v[i].iov_base);
		found |= b <= m && static_cast<char *>(m) + 8 * ps <= b + v[i].iov_len;
	}
	EXPECT_TRUE(found);
	free(v);
	EXPECT_EQ(ksmpart_region_ranges(0, "[no such]", &v), -ENOENT);
	EXPECT_EQ(v, nullptr);
	munmap(m, 8 * ps);
}

TEST(CApi, PidfdOpenOfSelfIsTheSentinel)
{
	EXPECT_EQ(ksmpart_pidfd_open(0), KSMPART_PIDFD_SELF);
	EXPECT_EQ(ksmpart_pidfd_open(-5), -EINVAL);
}
