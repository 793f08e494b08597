// SPDX-License-Identifier: GPL-2.0
/*
 * ksmpart merging, checked by effect: page frame equality through
 * /proc/PID/pagemap (as root), KPF_KSM in /proc/kpageflags,
 * /proc/PID/ksm_merging_pages, content after writes, and the
 * ksm_merge_result counters compared exactly with what the test set up.
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <sys/ioctl.h>
#include <sys/resource.h>

#include "kselftest_harness.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MAX_RW_COUNT (INT_MAX & ~(long)(psize() - 1))

/* Exact counters: scanned, merged, already_shared, unshared, failed, absent, skipped. */
static bool counts_are(const struct ksm_merge_result *r, uint64_t sc, uint64_t me, uint64_t al,
		       uint64_t un, uint64_t fa, uint64_t ab, uint64_t sk)
{
	return r->pages_scanned == sc && r->pages_merged == me && r->pages_already_shared == al &&
	       r->pages_unshared == un && r->pages_failed == fa && r->pages_absent == ab &&
	       r->pages_skipped == sk && r->zero_pages_merged == 0;
}

#define EXPECT_COUNTS(r, ...) do { \
	const struct ksm_merge_result *__r = &(r); \
	bool __ok = counts_are(__r, __VA_ARGS__); \
	if (!__ok) \
		res_print("got", __r); \
	EXPECT_TRUE(__ok) \
		TH_LOG("expected scanned/merged/already/unshared/failed/absent/skipped = %s", \
		       #__VA_ARGS__); \
} while (0)

#define EXPECT_VALID_RES(r, touched) do { \
	const struct ksm_merge_result *__r = &(r); \
	EXPECT_EQ(KSM_MERGE_RESULT_SIZE_VER0, __r->size); \
	EXPECT_TRUE(res_invariants_hold(__r, touched)) { \
		res_print("invariants broken", __r); \
	} \
} while (0)

/* 2*npairs pages: pages 2k and 2k+1 equal, pairs differ. */
static char *map_pairs(size_t npairs, uint64_t seed0)
{
	uint64_t seeds[256];
	size_t i;

	if (2 * npairs > 256)
		return NULL;
	for (i = 0; i < 2 * npairs; i++)
		seeds[i] = seed0 + i / 2;
	return map_seeded(2 * npairs, seeds);
}

/* 1 each pair on one frame, 0 all pairs on distinct frames, -1 mixed/absent. */
static int pairs_state(pid_t pid, const char *buf, size_t npairs)
{
	uint64_t pfn[256];
	size_t i, shared = 0, distinct = 0;

	if (2 * npairs > 256 || pids_pfns(pid, buf, 2 * npairs, pfn))
		return -1;
	for (i = 0; i < npairs; i++) {
		if (!pfn[2 * i] || !pfn[2 * i + 1])
			return -1;
		if (pfn[2 * i] == pfn[2 * i + 1])
			shared++;
		else
			distinct++;
	}
	if (shared == npairs)
		return 1;
	return distinct == npairs ? 0 : -1;
}

/* Number of (i, j) with a[i] == b[j], all nonzero. */
static int common_frames(const uint64_t *a, size_t na, const uint64_t *b, size_t nb)
{
	size_t i, j;
	int n = 0;

	for (i = 0; i < na; i++)
		for (j = 0; j < nb; j++)
			if (a[i] && a[i] == b[j])
				n++;
	return n;
}

static void seq_seeds(uint64_t *s, size_t n, uint64_t seed0)
{
	size_t i;

	for (i = 0; i < n; i++)
		s[i] = seed0 + i;
}

/* Data exchanged with a forked peer. */
struct xfer {
	char *addr;
	ssize_t ret;
	int err;
	struct ksm_merge_result res;
	int q[4];
};

/* ------------------------------------------------------------------ */
/* ksmd control (global KSM), restored on teardown                     */

FIXTURE(ksmd) {
	long run, pages_to_scan, sleep_ms, use_zero_pages;
};

FIXTURE_SETUP(ksmd)
{
	self->run = ksm_sysfs_read("run");
	self->pages_to_scan = ksm_sysfs_read("pages_to_scan");
	self->sleep_ms = ksm_sysfs_read("sleep_millisecs");
	self->use_zero_pages = ksm_sysfs_read("use_zero_pages");
	ASSERT_LE(0, self->run);
	ASSERT_LT(0, self->pages_to_scan);
}

FIXTURE_TEARDOWN(ksmd)
{
	ksm_sysfs_write("run", 0);
	ksm_sysfs_write("pages_to_scan", self->pages_to_scan);
	ksm_sysfs_write("sleep_millisecs", self->sleep_ms);
	if (self->use_zero_pages >= 0)
		ksm_sysfs_write("use_zero_pages", self->use_zero_pages);
	if (self->run != 0)
		ksm_sysfs_write("run", self->run);
}

static int ksmd_start(void)
{
	if (ksm_sysfs_write("pages_to_scan", 1000) || ksm_sysfs_write("sleep_millisecs", 10))
		return -1;
	return ksm_sysfs_write("run", 1);
}

/* Wait until ksmd completed n more full scans; false on timeout. */
static bool ksmd_wait_scans(int n, double timeout)
{
	long start = ksm_sysfs_read("full_scans");
	double end = now_sec() + timeout;

	while (now_sec() < end) {
		if (ksm_sysfs_read("full_scans") >= start + n)
			return true;
		sleep_ms(20);
	}
	return false;
}

/* A fixture only for a longer timeout. */
FIXTURE(slow) {};
FIXTURE_SETUP(slow) {}
FIXTURE_TEARDOWN(slow) {}

/* ------------------------------------------------------------------ */
/* Within one process                                                  */

/*
 * 64 pages in known duplicate groups, scattered over the range: one group
 * of 20, four of 3, eight pairs and sixteen singletons (29 groups).
 */
#define NG 64

static void make_groups(uint64_t *seeds, int *group, int *gsize, uint64_t seed0)
{
	static const int sizes[] = { 20, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2,
				     1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	int g, k = 0, j;

	for (g = 0; g < (int)ARRAY_SIZE(sizes); g++) {
		for (j = 0; j < sizes[g]; j++, k++) {
			int pos = (k * 37) % NG;	/* 37 is prime to 64: a permutation */

			seeds[pos] = seed0 + g;
			group[pos] = g;
		}
		gsize[g] = sizes[g];
	}
}

TEST(merge_groups_exact_counts)
{
	uint64_t seeds[NG], before[NG], after[NG];
	int group[NG], gsize[32];
	struct ksm_merge_result res;
	int fd, i, j, bad_same = 0, bad_diff = 0, bad_single = 0, bad_ksm = 0;
	char *buf;

	make_groups(seeds, group, gsize, 0x20000);
	buf = map_seeded(NG, seeds);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pids_pfns(0, buf, NG, before));
	for (i = 0; i < NG; i++) {
		ASSERT_NE(0, before[i]);
		for (j = 0; j < i; j++)
			ASSERT_NE(before[i], before[j]);
	}
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);

	ASSERT_EQ((ssize_t)(NG * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, NG * psize(), &res));
	EXPECT_VALID_RES(res, NG);
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
	/* 29 groups: the first page of each is a candidate, every other page merges. */
	EXPECT_COUNTS(res, 64, 35, 0, 29, 0, 0, 0);

	ASSERT_EQ(0, pids_pfns(0, buf, NG, after));
	for (i = 0; i < NG; i++) {
		bool single = gsize[group[i]] == 1;

		if (single && after[i] != before[i])
			bad_single++;
		if (kpf_ksm_reliable() && pfn_is_ksm(after[i]) == single)
			bad_ksm++;
		for (j = 0; j < i; j++) {
			if (group[i] == group[j] && after[i] != after[j])
				bad_same++;
			if (group[i] != group[j] && after[i] == after[j])
				bad_diff++;
		}
	}
	EXPECT_EQ(0, bad_same) TH_LOG("equal pages not on one frame");
	EXPECT_EQ(0, bad_diff) TH_LOG("different pages on one frame");
	EXPECT_EQ(0, bad_single) TH_LOG("unique pages moved to another frame");
	EXPECT_EQ(0, bad_ksm) TH_LOG("KPF_KSM wrong (set on unique or missing on merged pages)");
	EXPECT_EQ(-1, first_bad_page(buf, NG, seeds));
	/* 48 pages map a KSM page. */
	EXPECT_EQ(48, ksm_merging_pages(0));
	EXPECT_EQ(48, ksm_stat(0, "ksm_merging_pages"));

	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(-1, first_bad_page(buf, NG, seeds));
	close(fd);
	munmap(buf, NG * psize());
}

TEST(merge_again_already_shared)
{
	uint64_t seeds[NG], first[NG], second[NG];
	int group[NG], gsize[32];
	struct ksm_merge_result res;
	char *buf;
	int fd;

	make_groups(seeds, group, gsize, 0x21000);
	buf = map_seeded(NG, seeds);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(NG * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, NG * psize(), &res));
	ASSERT_EQ(0, pids_pfns(0, buf, NG, first));

	ASSERT_EQ((ssize_t)(NG * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, NG * psize(), &res));
	EXPECT_VALID_RES(res, NG);
	EXPECT_EQ(0, res.flags);
	/* 48 pages map KSM pages now; the 16 singletons are candidates again. */
	EXPECT_COUNTS(res, 64, 0, 48, 16, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, NG, second));
	EXPECT_EQ(0, memcmp(first, second, sizeof(first))) TH_LOG("a repeated merge moved pages");
	EXPECT_EQ(-1, first_bad_page(buf, NG, seeds));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, NG * psize());
}

/*
 * Thousands of KSM pages, then a third copy of each content: every copy must
 * merge into the existing KSM page (one stable lookup each), none may wait
 * as a candidate. The partition's filter of KSM page checksums, which lets
 * pages skip the stable tree, is rebuilt several times on the way (at 256,
 * 512, 1024 and 2048 KSM pages): a checksum lost in a rebuild shows here.
 */
TEST(merge_many_ksm_pages_found_again)
{
	const size_t n = 3000;
	struct ksm_merge_result res;
	char *pairs, *third;
	uint64_t *seeds;
	int pm, fd, moved = 0;
	size_t i;

	seeds = malloc(2 * n * sizeof(*seeds));
	ASSERT_NE(NULL, seeds);
	for (i = 0; i < 2 * n; i++)
		seeds[i] = 0x5f000 + i / 2;
	pairs = map_seeded(2 * n, seeds);
	ASSERT_NE(NULL, pairs);
	third = map_seeded(n, seeds);	/* overwritten below */
	ASSERT_NE(NULL, third);
	for (i = 0; i < n; i++)
		fill_page(third + i * psize(), 0x5f000 + i);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);

	ASSERT_EQ((ssize_t)(2 * n * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, pairs, 2 * n * psize(), &res));
	EXPECT_COUNTS(res, 2 * n, n, 0, n, 0, 0, 0);
	ASSERT_EQ((ssize_t)(n * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, third, n * psize(), &res));
	/* Into the KSM pages there: merged, no candidate left */
	EXPECT_COUNTS(res, n, n, 0, 0, 0, 0, 0);

	pm = pagemap_open(0);
	ASSERT_LE(0, pm);
	for (i = 0; i < n; i++) {
		uint64_t a = pfn_of(pm, pairs + 2 * i * psize());

		if (!a || a != pfn_of(pm, third + i * psize()))
			moved++;
	}
	close(pm);
	EXPECT_EQ(0, moved) TH_LOG("%d third copies not on their KSM page", moved);
	EXPECT_EQ(-1, first_bad_page(pairs, 2 * n, seeds));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(pairs, 2 * n * psize());
	munmap(third, n * psize());
	free(seeds);
}

TEST(merge_result_size_and_null)
{
	struct {
		struct ksm_merge_result r;
		unsigned char tail[40];
	} big;
	struct ksm_merge_result res;
	char *a = map_pairs(4, 0x22000), *b = map_pairs(4, 0x22100), *c = map_pairs(4, 0x22200);
	struct iovec iov;
	size_t i;
	int fd;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ASSERT_NE(NULL, c);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);

	/* res == NULL is allowed, and the merge happens. */
	EXPECT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, a, 8 * psize(), NULL));
	EXPECT_EQ(1, pairs_state(0, a, 4));

	/* A bigger caller struct: the kernel writes its own size and nothing beyond. */
	memset(&big, 0xee, sizeof(big));
	big.r.size = sizeof(big);
	iov.iov_base = b;
	iov.iov_len = 8 * psize();
	EXPECT_EQ((ssize_t)(8 * psize()), sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, &big.r, 0));
	EXPECT_EQ(sizeof(struct ksm_merge_result), big.r.size);
	EXPECT_EQ(KSM_MERGE_RESULT_SIZE_VER0, big.r.size);
	EXPECT_EQ(0, big.r.flags);
	EXPECT_COUNTS(big.r, 8, 4, 0, 4, 0, 0, 0);
	for (i = 0; i < sizeof(big.tail); i++)
		if (big.tail[i] != 0xee)
			break;
	EXPECT_EQ(sizeof(big.tail), i) TH_LOG("byte %zu beyond the kernel's size was written", i);

	/* Exactly VER0. */
	res_init(&res);
	res.size = KSM_MERGE_RESULT_SIZE_VER0;
	iov.iov_base = c;
	EXPECT_EQ((ssize_t)(8 * psize()), sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, &res, 0));
	EXPECT_EQ(KSM_MERGE_RESULT_SIZE_VER0, res.size);
	EXPECT_COUNTS(res, 8, 4, 0, 4, 0, 0, 0);

	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(a, 8 * psize());
	munmap(b, 8 * psize());
	munmap(c, 8 * psize());
}

TEST(merge_vlen0_joins_and_joined_flag)
{
	struct ksm_merge_result res;
	char *buf = map_pairs(2, 0x23000);
	int fd;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, self_is_member_of_any());

	EXPECT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, &res));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
	EXPECT_COUNTS(res, 0, 0, 0, 0, 0, 0, 0);
	EXPECT_VALID_RES(res, 0);
	EXPECT_EQ(1, self_is_member_of_any());
	EXPECT_EQ(0, pairs_state(0, buf, 2));	/* joining scans nothing */

	/* Only the call that joins reports JOINED. */
	EXPECT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, &res));
	EXPECT_EQ(0, res.flags);
	EXPECT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), &res));
	EXPECT_EQ(0, res.flags);
	EXPECT_COUNTS(res, 4, 2, 0, 2, 0, 0, 0);

	/* After leaving, the next merge rejoins. */
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(0, self_is_member_of_any());
	EXPECT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), &res));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
	EXPECT_COUNTS(res, 4, 2, 0, 2, 0, 0, 0);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 4 * psize());
}

TEST(merge_multiple_and_overlapping_ranges)
{
	uint64_t sa[6] = { 0x24000, 0x24000, 0x24000, 0x24000, 0x24000, 0x24000 };
	uint64_t sb[2] = { 0x24001, 0x24001 }, pfn[6];
	struct ksm_merge_result res;
	char *a = map_seeded(6, sa), *b = map_seeded(2, sb);
	struct iovec vec[4];
	int fd, i;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	vec[0] = (struct iovec){ a, 4 * psize() };		/* pages 0-3 */
	vec[1] = (struct iovec){ a + psize(), 0 };		/* nothing */
	vec[2] = (struct iovec){ a + 2 * psize(), 4 * psize() };	/* pages 2-5 again */
	vec[3] = (struct iovec){ b, 2 * psize() };
	res_init(&res);
	EXPECT_EQ((ssize_t)(10 * psize()), sys_ksm_merge(fd, KSM_PIDFD_SELF, vec, 4, &res, 0));
	EXPECT_VALID_RES(res, 10);
	/*
	 * Range 0: 1 candidate + 3 merged; range 2: pages 2-3 counted again as
	 * already shared, 4-5 merged; range 3: 1 candidate + 1 merged.
	 */
	EXPECT_COUNTS(res, 10, 6, 2, 2, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, a, 6, pfn));
	for (i = 1; i < 6; i++)
		EXPECT_EQ(pfn[0], pfn[i]);
	EXPECT_EQ(1, pairs_state(0, b, 1));
	EXPECT_NE(pfn[0], self_pfn(b));
	EXPECT_EQ(-1, first_bad_page(a, 6, sa));
	EXPECT_EQ(-1, first_bad_page(b, 2, sb));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(a, 6 * psize());
	munmap(b, 2 * psize());
}

TEST(merge_cow_after_merge)
{
	uint64_t s[4] = { 0x25000, 0x25000, 0x25000, 0x25000 }, pfn[4], k;
	struct ksm_merge_result res;
	char *buf = map_seeded(4, s);
	struct chan ch;
	pid_t pid;
	int fd, i;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), &res));
	EXPECT_COUNTS(res, 4, 3, 0, 1, 0, 0, 0);
	k = self_pfn(buf);
	ASSERT_EQ(4, pages_on_frame(0, buf, 4, k));
	EXPECT_KSM(k);
	ASSERT_EQ(4, ksm_merging_pages(0));

	/* A forked member maps the same KSM page. */
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		chan_child_side(&ch);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'w');
		/* The parent wrote its page 1: ours is untouched and still shared. */
		CHILD_CHECK(page_has_seed(buf + psize(), s[1]));
		CHILD_CHECK(self_pfn(buf + psize()) == k);
		/* Write our page 2. */
		buf[2 * psize() + 7] ^= 0x10;
		CHILD_CHECK(self_pfn(buf + 2 * psize()) != k);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'd') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);

	buf[psize() + 100] = 0x42;
	ASSERT_EQ(0, pids_pfns(0, buf, 4, pfn));
	EXPECT_NE(k, pfn[1]);
	EXPECT_NOT_KSM(pfn[1]);
	EXPECT_EQ(k, pfn[0]);
	EXPECT_EQ(k, pfn[2]);
	EXPECT_EQ(k, pfn[3]);
	/* Content byte for byte: the written page has exactly the one change. */
	buf[psize() + 100] = 0;
	{
		char ref[psize()];

		fill_page(ref, s[1]);
		ref[100] = 0;
		EXPECT_EQ(0, memcmp(ref, buf + psize(), psize()));
	}
	EXPECT_TRUE(page_has_seed(buf, s[0]));
	EXPECT_TRUE(page_has_seed(buf + 2 * psize(), s[2]));
	EXPECT_TRUE(page_has_seed(buf + 3 * psize(), s[3]));

	ASSERT_EQ(0, put_byte(ch.to_child[1], 'w'));
	ASSERT_EQ('d', get_byte(ch.to_parent[0]));
	/* The child's write left our page 2 alone. */
	EXPECT_EQ(k, self_pfn(buf + 2 * psize()));
	EXPECT_TRUE(page_has_seed(buf + 2 * psize(), s[2]));
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	for (i = 0; i < 4; i++)
		if (i != 1)
			EXPECT_TRUE(page_has_seed(buf + i * psize(), s[i]));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 4 * psize());
}

/* ------------------------------------------------------------------ */
/* Across processes and partitions                                     */

/* A child maps the seeds after fork, merges itself through the inherited fd. */
TEST(merge_two_processes_inherited_fd)
{
	struct xfer *x = map_shared(sizeof(*x));
	uint64_t s[8], mine[8], theirs[8];
	struct ksm_merge_result res;
	struct chan ch;
	char *buf;
	pid_t pid;
	int fd, i;

	ASSERT_NE(NULL, x);
	seq_seeds(s, 8, 0x26000);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf;

		chan_child_side(&ch);
		cbuf = map_seeded(8, s);
		CHILD_CHECK(cbuf);
		x->addr = cbuf;
		x->ret = merge_range(fd, KSM_PIDFD_SELF, cbuf, 8 * psize(), &x->res);
		x->err = errno;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'm') == 0);
		get_byte(ch.to_child[0]);
		CHILD_CHECK(first_bad_page(cbuf, 8, s) == -1);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('m', get_byte(ch.to_parent[0]));
	ASSERT_EQ((ssize_t)(8 * psize()), x->ret) TH_LOG("child's merge: %s", strerror(x->err));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, x->res.flags);
	EXPECT_COUNTS(x->res, 8, 0, 0, 8, 0, 0, 0);

	buf = map_seeded(8, s);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
	/* Every page found the child's candidate. */
	EXPECT_COUNTS(res, 8, 8, 0, 0, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, 8, mine));
	ASSERT_EQ(0, pids_pfns(pid, x->addr, 8, theirs));
	for (i = 0; i < 8; i++) {
		EXPECT_EQ(mine[i], theirs[i]) TH_LOG("page %d", i);
		EXPECT_KSM(mine[i]);
	}
	EXPECT_EQ(8, ksm_merging_pages(0));
	EXPECT_EQ(-1, first_bad_page(buf, 8, s));
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 8 * psize());
	munmap(x, sizeof(*x));
}

/* The parent merges a (non-member) child's memory through its pidfd. */
TEST(merge_other_process_by_pidfd)
{
	struct xfer *x = map_shared(sizeof(*x));
	uint64_t s[8], mine[8], theirs[8];
	struct ksm_merge_result res;
	struct chan ch;
	int fd, pidfd, i;
	char *buf;
	pid_t pid;

	ASSERT_NE(NULL, x);
	seq_seeds(s, 8, 0x27000);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf;

		chan_child_side(&ch);
		cbuf = map_seeded(8, s);
		CHILD_CHECK(cbuf);
		x->addr = cbuf;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'r') == 0);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'q');
		x->q[0] = self_is_member_of_any();
		CHILD_CHECK(put_byte(ch.to_parent[1], 'a') == 0);
		get_byte(ch.to_child[0]);
		CHILD_CHECK(first_bad_page(cbuf, 8, s) == -1);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('r', get_byte(ch.to_parent[0]));
	pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, pidfd);

	buf = map_seeded(8, s);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	EXPECT_COUNTS(res, 8, 0, 0, 8, 0, 0, 0);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, pidfd, x->addr, 8 * psize(), &res));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
	EXPECT_COUNTS(res, 8, 8, 0, 0, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, 8, mine));
	ASSERT_EQ(0, pids_pfns(pid, x->addr, 8, theirs));
	for (i = 0; i < 8; i++)
		EXPECT_EQ(mine[i], theirs[i]) TH_LOG("page %d", i);
	EXPECT_EQ(8, ksm_merging_pages(pid));
	EXPECT_EQ(1, is_member(fd, pidfd));

	ASSERT_EQ(0, put_byte(ch.to_child[1], 'q'));
	ASSERT_EQ('a', get_byte(ch.to_parent[0]));
	EXPECT_EQ(1, x->q[0]) TH_LOG("the child does not see itself as a member");
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	close(pidfd);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 8 * psize());
	munmap(x, sizeof(*x));
}

/*
 * Candidates persist: A's merge finds nothing (all unshared, pages stay where
 * they are), a later merge of B's equal pages merges with them; a candidate
 * A changed in between is compared in full and not merged.
 */
TEST(merge_candidates_persist_and_are_compared)
{
	struct xfer *x = map_shared(sizeof(*x));
	uint64_t s[8], before[8], after[8], mine[8], theirs[8];
	struct ksm_merge_result res;
	struct chan ch;
	char *buf;
	pid_t pid;
	int fd, i;

	ASSERT_NE(NULL, x);
	seq_seeds(s, 8, 0x28000);
	buf = map_seeded(8, s);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pids_pfns(0, buf, 8, before));
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	EXPECT_COUNTS(res, 8, 0, 0, 8, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, 8, after));
	EXPECT_EQ(0, memcmp(before, after, sizeof(before))) TH_LOG("candidates were moved");
	for (i = 0; i < 8; i++)
		EXPECT_NOT_KSM(after[i]);
	EXPECT_EQ(0, ksm_merging_pages(0));

	/* Change candidate 3 after it was remembered. */
	((uint64_t *)(buf + 3 * psize()))[5] ^= 1;

	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf;

		chan_child_side(&ch);
		cbuf = map_seeded(8, s);
		CHILD_CHECK(cbuf);
		x->addr = cbuf;
		/* Forked from a member: already a member, merges through the fd. */
		x->ret = merge_range(fd, KSM_PIDFD_SELF, cbuf, 8 * psize(), &x->res);
		x->err = errno;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'm') == 0);
		get_byte(ch.to_child[0]);
		CHILD_CHECK(first_bad_page(cbuf, 8, s) == -1);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('m', get_byte(ch.to_parent[0]));
	ASSERT_EQ((ssize_t)(8 * psize()), x->ret) TH_LOG("child's merge: %s", strerror(x->err));
	EXPECT_EQ(0, x->res.flags);
	EXPECT_COUNTS(x->res, 8, 7, 0, 1, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, 8, mine));
	ASSERT_EQ(0, pids_pfns(pid, x->addr, 8, theirs));
	for (i = 0; i < 8; i++) {
		if (i == 3)
			continue;	/* changed, checked below */
		EXPECT_EQ(mine[i], theirs[i]) TH_LOG("page %d", i);
	}
	EXPECT_NE(mine[3], theirs[3]) TH_LOG("a changed candidate was merged");
	/* Our changed page kept its content. */
	EXPECT_FALSE(page_has_seed(buf + 3 * psize(), s[3]));
	((uint64_t *)(buf + 3 * psize()))[5] ^= 1;
	EXPECT_EQ(-1, first_bad_page(buf, 8, s));
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 8 * psize());
	munmap(x, sizeof(*x));
}

/*
 * Candidates that became equal to the page before them: a merge looks pages
 * up a page table's worth at a time and holds a reference to each until it
 * is merged, a reference that also fails write-protecting the later page as
 * the earlier one's twin. Such a page must be merged once the batch's
 * references are gone, not counted failed. (Which of the two is counted
 * merged and which unshared is the engine's business; one merge per pair
 * and no failure is the contract.)
 */
TEST(merge_twin_later_in_the_same_page_table)
{
	uint64_t s[NG], pfns[NG];
	struct ksm_merge_result res;
	char *buf;
	int fd, i;

	seq_seeds(s, NG, 0x2a000);
	buf = map_seeded(NG, s);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(NG * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, NG * psize(), &res));
	EXPECT_COUNTS(res, NG, 0, 0, NG, 0, 0, 0);

	/* Page 2k takes the content of page 2k+1, a candidate since the merge. */
	for (i = 0; i < NG; i += 2) {
		memcpy(buf + i * psize(), buf + (i + 1) * psize(), psize());
		s[i] = s[i + 1];
	}
	ASSERT_EQ((ssize_t)(NG * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, NG * psize(), &res));
	EXPECT_VALID_RES(res, NG);
	EXPECT_EQ(NG, res.pages_scanned);
	EXPECT_EQ(NG / 2, res.pages_merged);
	EXPECT_EQ(0, res.pages_failed);
	ASSERT_EQ(0, pids_pfns(0, buf, NG, pfns));
	for (i = 0; i < NG; i += 2) {
		EXPECT_KSM(pfns[i]);
		EXPECT_EQ(pfns[i], pfns[i + 1]) TH_LOG("pair %d not merged", i / 2);
	}
	EXPECT_EQ(-1, first_bad_page(buf, NG, s));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, NG * psize());
}

/* Identical pages in two partitions never share a frame. */
TEST(merge_partitions_isolated)
{
	struct xfer *x = map_shared(sizeof(*x));
	uint64_t mine[8], theirs[8];
	struct ksm_merge_result res;
	struct chan ch;
	int fd1, fd2;
	char *buf;
	pid_t pid;

	ASSERT_NE(NULL, x);
	fd1 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd1);
	fd2 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf;

		chan_child_side(&ch);
		cbuf = map_pairs(4, 0x29000);
		CHILD_CHECK(cbuf);
		x->addr = cbuf;
		x->ret = merge_range(fd2, KSM_PIDFD_SELF, cbuf, 8 * psize(), &x->res);
		x->err = errno;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'm') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('m', get_byte(ch.to_parent[0]));
	ASSERT_EQ((ssize_t)(8 * psize()), x->ret) TH_LOG("child's merge: %s", strerror(x->err));
	EXPECT_COUNTS(x->res, 8, 4, 0, 4, 0, 0, 0);

	buf = map_pairs(4, 0x29000);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd1, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	/* Only our own pairs merge: nothing is found in partition 2. */
	EXPECT_COUNTS(res, 8, 4, 0, 4, 0, 0, 0);
	EXPECT_EQ(1, pairs_state(0, buf, 4));
	EXPECT_EQ(1, pairs_state(pid, x->addr, 4));
	ASSERT_EQ(0, pids_pfns(0, buf, 8, mine));
	ASSERT_EQ(0, pids_pfns(pid, x->addr, 8, theirs));
	EXPECT_EQ(0, common_frames(mine, 8, theirs, 8));
	/* Merging again changes nothing across partitions. */
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd1, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	EXPECT_COUNTS(res, 8, 0, 8, 0, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, 8, mine));
	EXPECT_EQ(0, common_frames(mine, 8, theirs, 8));

	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	EXPECT_EQ(0, sys_ksm_leave(fd1, KSM_PIDFD_SELF, 0));
	close(fd1);
	close(fd2);
	munmap(buf, 8 * psize());
	munmap(x, sizeof(*x));
}

/*
 * A non-member using global KSM (MADV_MERGEABLE, ksmd running) with the same
 * pages as a member: ksmd merges the non-member's duplicates among
 * themselves, never with the member's KSM pages or candidates.
 * Layout: 4 pairs, then 4 unique pages.
 */
TEST_F_TIMEOUT(ksmd, partition_vs_global_ksm, 240)
{
	struct xfer *x = map_shared(sizeof(*x));
	uint64_t s[12], mine[12], mine_before[12], theirs[12];
	struct ksm_merge_result res;
	struct chan ch;
	double end;
	char *buf;
	pid_t pid;
	int fd, i;

	ASSERT_NE(NULL, x);
	for (i = 0; i < 8; i++)
		s[i] = 0x2a000 + i / 2;
	for (i = 8; i < 12; i++)
		s[i] = 0x2a100 + i;
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, chan_open(&ch));
	/* Forked before we join: not a member. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf;

		chan_child_side(&ch);
		cbuf = map_seeded(12, s);
		CHILD_CHECK(cbuf);
		CHILD_CHECK(madvise(cbuf, 12 * psize(), MADV_MERGEABLE) == 0);
		x->addr = cbuf;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'r') == 0);
		get_byte(ch.to_child[0]);
		CHILD_CHECK(first_bad_page(cbuf, 12, s) == -1);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('r', get_byte(ch.to_parent[0]));

	buf = map_seeded(12, s);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(12 * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, 12 * psize(), &res));
	EXPECT_COUNTS(res, 12, 4, 0, 8, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, 12, mine_before));

	ASSERT_EQ(0, ksmd_start());
	/* ksmd merges the child's pairs (proves it is running and sees the child). */
	end = now_sec() + 120;
	while (pairs_state(pid, x->addr, 4) != 1 && now_sec() < end)
		sleep_ms(50);
	ASSERT_EQ(1, pairs_state(pid, x->addr, 4)) TH_LOG("ksmd never merged the global pages");
	/* Give it two more full scans to do anything wrong. */
	ASSERT_TRUE(ksmd_wait_scans(2, 120));

	ASSERT_EQ(0, pids_pfns(0, buf, 12, mine));
	ASSERT_EQ(0, pids_pfns(pid, x->addr, 12, theirs));
	EXPECT_EQ(0, common_frames(mine, 12, theirs, 12))
		TH_LOG("a member's page shares a frame with a global-KSM page");
	/* The member's pages did not move: ksmd neither merged nor replaced them. */
	EXPECT_EQ(0, memcmp(mine, mine_before, sizeof(mine)));
	for (i = 8; i < 12; i++)
		EXPECT_NOT_KSM(theirs[i]);
	EXPECT_EQ(8, ksm_merging_pages(0));
	EXPECT_EQ(-1, first_bad_page(buf, 12, s));

	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 12 * psize());
	munmap(x, sizeof(*x));
}

/* Child side of join_unmerges_global_ksm: answer queries about global KSM calls. */
static void global_query(struct xfer *x)
{
	char *scratch = map_anon(1);

	errno = 0;
	x->q[0] = madvise(scratch, psize(), MADV_MERGEABLE) ? errno : 0;
	x->q[1] = prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0);
	errno = 0;
	x->q[2] = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) ? errno : 0;
	if (!x->q[2])
		prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0);
	munmap(scratch, psize());
}

/*
 * Joining unmerges the target's global-KSM pages, clears VM_MERGEABLE and
 * MMF_VM_MERGE_ANY, and takes it off ksmd's list; then partition merging
 * works on it.
 */
TEST_F_TIMEOUT(ksmd, join_unmerges_global_ksm, 240)
{
	struct xfer *x = map_shared(sizeof(*x));
	struct ksm_merge_result res;
	char *keep = map_anon(2);
	long merging, global;
	int fd, pidfd, c;
	struct chan ch;
	double end;
	pid_t pid;

	ASSERT_NE(NULL, x);
	/*
	 * Keep ksmd's list non-empty after the child leaves it, or ksmd stops
	 * counting full scans. (This process never joins a partition here.)
	 */
	ASSERT_NE(NULL, keep);
	fill_page(keep, 0x2b800);
	fill_page(keep + psize(), 0x2b801);
	ASSERT_EQ(0, madvise(keep, 2 * psize(), MADV_MERGEABLE));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf;

		chan_child_side(&ch);
		cbuf = map_pairs(4, 0x2b000);
		CHILD_CHECK(cbuf);
		CHILD_CHECK(madvise(cbuf, 8 * psize(), MADV_MERGEABLE) == 0);
		CHILD_CHECK(prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) == 0);
		x->addr = cbuf;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'r') == 0);
		while ((c = get_byte(ch.to_child[0])) == 'q') {
			global_query(x);
			CHILD_CHECK(put_byte(ch.to_parent[1], 'a') == 0);
		}
		for (c = 0; c < 8; c++)
			CHILD_CHECK(page_has_seed(cbuf + c * psize(), 0x2b000 + c / 2));
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('r', get_byte(ch.to_parent[0]));
	pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, pidfd);
	ASSERT_EQ(1, vma_has_flag(pid, x->addr, "mg"));

	ASSERT_EQ(0, ksmd_start());
	end = now_sec() + 120;
	/* (>= 8: with PR_SET_MEMORY_MERGE other equal pages of the child may merge too.) */
	while ((pairs_state(pid, x->addr, 4) != 1 || ksm_merging_pages(pid) < 8) && now_sec() < end)
		sleep_ms(50);
	ASSERT_EQ(1, pairs_state(pid, x->addr, 4)) TH_LOG("ksmd never merged the child's pages");
	ASSERT_LE(8, ksm_merging_pages(pid));

	/*
	 * Stop ksmd, so that nothing depends on its next pass, and join only
	 * (vlen 0). The child's global KSM pages are unmerged and it leaves
	 * ksmd's list (its rmap items go: ksm_merging_pages and the global
	 * counters drop by its share at once).
	 */
	ASSERT_EQ(0, ksm_sysfs_write("run", 0));
	merging = ksm_merging_pages(pid);
	global = ksm_pages_shared() + ksm_pages_sharing();
	TH_LOG("before joining: child ksm_merging_pages %ld, global shared+sharing %ld",
	       merging, global);
	ASSERT_EQ(0, join_partition(fd, pidfd, &res));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
	EXPECT_EQ(0, pairs_state(pid, x->addr, 4)) TH_LOG("global KSM pages not unmerged at join");
	EXPECT_EQ(0, vma_has_flag(pid, x->addr, "mg")) TH_LOG("VM_MERGEABLE not cleared at join");
	EXPECT_EQ(0, ksm_merging_pages(pid)) TH_LOG("still counted as merging after the join");
	EXPECT_EQ(global - merging, ksm_pages_shared() + ksm_pages_sharing())
		TH_LOG("global KSM still accounts the joined process's pages");

	/* ksmd (running again) no longer touches it. */
	ASSERT_EQ(0, ksm_sysfs_write("run", 1));
	ASSERT_TRUE(ksmd_wait_scans(2, 120));
	EXPECT_EQ(0, pairs_state(pid, x->addr, 4)) TH_LOG("ksmd merged a member's pages");
	EXPECT_EQ(0, ksm_merging_pages(pid));

	ASSERT_EQ(0, put_byte(ch.to_child[1], 'q'));
	ASSERT_EQ('a', get_byte(ch.to_parent[0]));
	EXPECT_EQ(EBUSY, x->q[0]);
	EXPECT_EQ(0, x->q[1]);
	EXPECT_EQ(EBUSY, x->q[2]);

	/* Partition merging works. */
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, pidfd, x->addr, 8 * psize(), &res));
	EXPECT_EQ(0, res.flags);
	EXPECT_COUNTS(res, 8, 4, 0, 4, 0, 0, 0);
	EXPECT_EQ(1, pairs_state(pid, x->addr, 4));
	EXPECT_EQ(8, ksm_merging_pages(pid));

	/* After leaving, the old global settings are not restored. */
	ASSERT_EQ(0, sys_ksm_leave(fd, pidfd, 0));
	EXPECT_EQ(0, pairs_state(pid, x->addr, 4));
	EXPECT_EQ(0, ksm_merging_pages(pid));
	EXPECT_EQ(0, vma_has_flag(pid, x->addr, "mg"));
	ASSERT_EQ(0, put_byte(ch.to_child[1], 'q'));
	ASSERT_EQ('a', get_byte(ch.to_parent[0]));
	EXPECT_EQ(0, x->q[0]);
	EXPECT_EQ(0, x->q[1]);

	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	close(pidfd);
	close(fd);
	munmap(keep, 2 * psize());
	munmap(x, sizeof(*x));
}

/* /sys/kernel/mm/ksm/run = 2 unmerges partition pages too, membership stays. */
TEST_F(ksmd, run_2_unmerges_partitions)
{
	struct ksm_merge_result res;
	char *buf = map_pairs(4, 0x2c000);
	int fd;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	ASSERT_EQ(1, pairs_state(0, buf, 4));
	ASSERT_EQ(0, ksm_sysfs_write("run", 0));
	ASSERT_EQ(0, ksm_sysfs_write("run", 2));
	EXPECT_EQ(0, pairs_state(0, buf, 4));
	EXPECT_EQ(0, ksm_merging_pages(0));
	EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
	ASSERT_EQ(0, ksm_sysfs_write("run", 0));
	/* Candidates were dropped too: each pair's first page is unshared again. */
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	EXPECT_COUNTS(res, 8, 4, 0, 4, 0, 0, 0);
	EXPECT_EQ(1, pairs_state(0, buf, 4));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 8 * psize());
}

/* max_page_sharing, restored from the parent once every KSM page of the test is gone. */
FIXTURE(mps) {
	long saved;
};

FIXTURE_SETUP(mps)
{
	self->saved = ksm_sysfs_read("max_page_sharing");
	ASSERT_LE(2, self->saved);
}

FIXTURE_TEARDOWN_PARENT(mps)
{
	double end = now_sec() + 10;

	while (ksm_sysfs_read("max_page_sharing") != self->saved && now_sec() < end) {
		if (ksm_sysfs_write("max_page_sharing", self->saved))
			sleep_ms(100);
	}
	if (ksm_sysfs_read("max_page_sharing") != self->saved)
		fprintf(stderr, "# could not restore max_page_sharing to %ld\n", self->saved);
}

/* max_page_sharing applies to partitions: no KSM page maps more than that many pages. */
TEST_F(mps, max_page_sharing_applies)
{
	uint64_t s[6] = { 0x2c800, 0x2c800, 0x2c800, 0x2c800, 0x2c800, 0x2c800 }, pfn[6];
	struct ksm_merge_result res;
	int fd, i, j, most = 0;
	char *buf;

	if (ksm_sysfs_write("max_page_sharing", 2))
		SKIP(return, "cannot set max_page_sharing (KSM pages exist?): %s", strerror(errno));
	buf = map_seeded(6, s);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)(6 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 6 * psize(), &res));
	EXPECT_VALID_RES(res, 6);
	EXPECT_EQ(6, res.pages_scanned);
	EXPECT_LE(1, res.pages_merged);
	ASSERT_EQ(0, pids_pfns(0, buf, 6, pfn));
	for (i = 0; i < 6; i++) {
		int n = 0;

		for (j = 0; j < 6; j++)
			n += pfn[j] == pfn[i];
		if (n > most)
			most = n;
	}
	EXPECT_EQ(2, most) TH_LOG("up to %d pages on one frame with max_page_sharing 2", most);
	EXPECT_EQ(-1, first_bad_page(buf, 6, s));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(-1, first_bad_page(buf, 6, s));
	close(fd);
	munmap(buf, 6 * psize());
}

/* ------------------------------------------------------------------ */
/* Ranges and page kinds                                               */

TEST(merge_unaligned_ranges_rounded_outward)
{
	/* A B C A A B */
	uint64_t s[6] = { 0x2d000, 0x2d001, 0x2d002, 0x2d000, 0x2d000, 0x2d001 }, before[6], pfn[6];
	struct ksm_merge_result res;
	char *buf = map_seeded(6, s);
	struct iovec vec[3];
	int fd;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pids_pfns(0, buf, 6, before));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	vec[0] = (struct iovec){ buf + 100, 3 * psize() };		/* touches pages 0-3 */
	vec[1] = (struct iovec){ buf + 5 * psize() - 1, 1 };	/* page 4 only */
	vec[2] = (struct iovec){ buf + 5 * psize(), 0 };		/* nothing */
	res_init(&res);
	EXPECT_EQ((ssize_t)(3 * psize() + 1), sys_ksm_merge(fd, KSM_PIDFD_SELF, vec, 3, &res, 0));
	EXPECT_VALID_RES(res, 5);
	EXPECT_COUNTS(res, 5, 2, 0, 3, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, 6, pfn));
	EXPECT_EQ(pfn[0], pfn[3]);
	EXPECT_EQ(pfn[0], pfn[4]);
	EXPECT_KSM(pfn[0]);
	/* Page 5 (equal to page 1) was not touched by any range. */
	EXPECT_EQ(before[5], pfn[5]);
	EXPECT_NE(pfn[1], pfn[5]);
	EXPECT_NOT_KSM(pfn[5]);
	EXPECT_EQ(-1, first_bad_page(buf, 6, s));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 6 * psize());
}

TEST(merge_range_spans_vmas)
{
	/* U A B U | U A B U, the second half read-only (another VMA) */
	uint64_t s[8] = { 0x2e010, 0x2e000, 0x2e001, 0x2e013, 0x2e014, 0x2e000, 0x2e001, 0x2e017 };
	uint64_t pfn[8];
	struct ksm_merge_result res;
	char *buf = map_seeded(8, s);
	struct iovec iov;
	int fd;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, mprotect(buf + 4 * psize(), 4 * psize(), PROT_READ));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	/* From inside page 2 to inside page 6: pages 2-6, across the VMA boundary. */
	iov.iov_base = buf + 2 * psize() + 7;
	iov.iov_len = 4 * psize() - 6;
	res_init(&res);
	EXPECT_EQ((ssize_t)iov.iov_len, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, &res, 0));
	EXPECT_VALID_RES(res, 5);
	/* Page 6 (B) merges with page 2; page 5 (A) has no partner in range. */
	EXPECT_COUNTS(res, 5, 1, 0, 4, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, 8, pfn));
	EXPECT_EQ(pfn[2], pfn[6]);
	EXPECT_NE(pfn[1], pfn[5]);
	EXPECT_EQ(-1, first_bad_page(buf, 8, s));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 8 * psize());
}

TEST(merge_hole_skipped)
{
	uint64_t s[5] = { 0x2f000, 0x2f001, 0x2f002, 0x2f003, 0x2f000 };
	struct ksm_merge_result res;
	char *buf = map_seeded(5, s);
	int fd;

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, munmap(buf + 2 * psize(), psize()));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)(5 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 5 * psize(), &res));
	EXPECT_VALID_RES(res, 5);
	EXPECT_COUNTS(res, 4, 1, 0, 3, 0, 0, 1);
	EXPECT_EQ(self_pfn(buf), self_pfn(buf + 4 * psize()));
	/* The hole is still a hole. */
	EXPECT_EQ(-1, msync(buf + 2 * psize(), psize(), MS_ASYNC));
	EXPECT_EQ(ENOMEM, errno);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 2 * psize());
	munmap(buf + 3 * psize(), 2 * psize());
}

TEST(merge_prot_none_skipped)
{
	uint64_t s[5] = { 0x30010, 0x30000, 0x30000, 0x30000, 0x30014 };
	struct ksm_merge_result res;
	char *buf = map_seeded(5, s);
	uint64_t pfn2;
	int fd;

	ASSERT_NE(NULL, buf);
	pfn2 = self_pfn(buf + 2 * psize());
	ASSERT_EQ(0, mprotect(buf + 2 * psize(), psize(), PROT_NONE));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)(5 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 5 * psize(), &res));
	EXPECT_VALID_RES(res, 5);
	EXPECT_COUNTS(res, 4, 1, 0, 3, 0, 0, 1);
	EXPECT_EQ(self_pfn(buf + psize()), self_pfn(buf + 3 * psize()));
	ASSERT_EQ(0, mprotect(buf + 2 * psize(), psize(), PROT_READ | PROT_WRITE));
	EXPECT_EQ(pfn2, self_pfn(buf + 2 * psize()));
	EXPECT_NOT_KSM(pfn2);
	EXPECT_EQ(-1, first_bad_page(buf, 5, s));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 5 * psize());
}

TEST(merge_shared_anon_skipped)
{
	struct ksm_merge_result res;
	uint64_t before[4], after[4];
	char *buf;
	int fd, i;

	buf = mmap(NULL, 4 * psize(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	for (i = 0; i < 4; i++)
		fill_page(buf + i * psize(), 0x31000);
	ASSERT_EQ(0, pids_pfns(0, buf, 4, before));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), &res));
	EXPECT_VALID_RES(res, 4);
	EXPECT_COUNTS(res, 0, 0, 0, 0, 0, 0, 4);
	ASSERT_EQ(0, pids_pfns(0, buf, 4, after));
	EXPECT_EQ(0, memcmp(before, after, sizeof(before)));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 4 * psize());
}

TEST(merge_file_mappings)
{
	char path[] = "/tmp/ksm_part_merge.XXXXXX", page[psize()];
	struct ksm_merge_result res;
	char *sh, *ro, *rw;
	uint64_t before[4];
	int fd, ffd, i;

	ffd = mkstemp(path);
	ASSERT_LE(0, ffd);
	unlink(path);
	fill_page(page, 0x32000);
	for (i = 0; i < 4; i++)
		ASSERT_EQ((ssize_t)psize(), write(ffd, page, psize()));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);

	/* MAP_SHARED file: an incompatible VMA, skipped. */
	sh = mmap(NULL, 4 * psize(), PROT_READ, MAP_SHARED, ffd, 0);
	ASSERT_NE(MAP_FAILED, sh);
	for (i = 0; i < 4; i++)
		ASSERT_TRUE(page_has_seed(sh + i * psize(), 0x32000));
	EXPECT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, sh, 4 * psize(), &res));
	EXPECT_VALID_RES(res, 4);
	EXPECT_COUNTS(res, 0, 0, 0, 0, 0, 0, 4);

	/* MAP_PRIVATE file, only read: page-cache pages, no anon page: absent. */
	ro = mmap(NULL, 4 * psize(), PROT_READ, MAP_PRIVATE, ffd, 0);
	ASSERT_NE(MAP_FAILED, ro);
	for (i = 0; i < 4; i++)
		ASSERT_TRUE(page_has_seed(ro + i * psize(), 0x32000));
	EXPECT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, ro, 4 * psize(), &res));
	EXPECT_VALID_RES(res, 4);
	EXPECT_COUNTS(res, 0, 0, 0, 0, 0, 4, 0);

	/* MAP_PRIVATE file, pages 0-1 written (anon COW copies), 2-3 only read. */
	rw = mmap(NULL, 4 * psize(), PROT_READ | PROT_WRITE, MAP_PRIVATE, ffd, 0);
	ASSERT_NE(MAP_FAILED, rw);
	for (i = 0; i < 4; i++)
		ASSERT_TRUE(page_has_seed(rw + i * psize(), 0x32000));
	for (i = 0; i < 2; i++)
		force_rewrite_byte(rw + i * psize() + 9);
	ASSERT_EQ(0, pids_pfns(0, rw, 4, before));
	EXPECT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, rw, 4 * psize(), &res));
	EXPECT_VALID_RES(res, 4);
	EXPECT_COUNTS(res, 2, 1, 0, 1, 0, 2, 0);
	EXPECT_EQ(self_pfn(rw), self_pfn(rw + psize()));
	EXPECT_EQ(before[2], self_pfn(rw + 2 * psize()));
	EXPECT_EQ(before[3], self_pfn(rw + 3 * psize()));
	for (i = 0; i < 4; i++) {
		EXPECT_TRUE(page_has_seed(rw + i * psize(), 0x32000));
		EXPECT_EQ((ssize_t)psize(), pread(ffd, page, psize(), i * psize()));
		EXPECT_TRUE(page_has_seed(page, 0x32000));
	}
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	munmap(sh, 4 * psize());
	munmap(ro, 4 * psize());
	munmap(rw, 4 * psize());
	close(ffd);
	close(fd);
}

TEST(merge_droppable_skipped)
{
	struct ksm_merge_result res;
	char *buf;
	int fd;

	buf = mmap(NULL, 2 * psize(), PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		SKIP(return, "MAP_DROPPABLE not available: %s", strerror(errno));
	fill_page(buf, 0x33000);
	fill_page(buf + psize(), 0x33000);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)(2 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize(), &res));
	EXPECT_COUNTS(res, 0, 0, 0, 0, 0, 0, 2);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 2 * psize());
}

static long meminfo_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

FIXTURE(hugetlb) {
	long saved;
	bool changed;
};

FIXTURE_SETUP(hugetlb)
{
	self->saved = read_long_path("/proc/sys/vm/nr_hugepages");
	self->changed = false;
}

FIXTURE_TEARDOWN(hugetlb)
{
	if (self->changed)
		write_long_path("/proc/sys/vm/nr_hugepages", self->saved);
}

/* A free huge page (one more reserved if needed): NULL, or why there is none */
static const char *reserve_huge_page(struct _test_data_hugetlb *self, size_t *hsz)
{
	*hsz = meminfo_kb("Hugepagesize") * 1024;
	if (self->saved < 0 || (long)*hsz <= 0)
		return "no hugetlb support";
	if (meminfo_kb("HugePages_Free") < 1) {
		self->changed = true;
		write_long_path("/proc/sys/vm/nr_hugepages", self->saved + 1);
		if (meminfo_kb("HugePages_Free") < 1)
			return "could not reserve a huge page";
	}
	return NULL;
}

TEST_F(hugetlb, merge_hugetlb_skipped)
{
	struct ksm_merge_result res;
	const char *why;
	uint64_t p0, p1;
	size_t hsz;
	char *buf;
	int fd;

	why = reserve_huge_page(self, &hsz);
	if (why)
		SKIP(return, "%s", why);
	buf = mmap(NULL, hsz, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (buf == MAP_FAILED)
		SKIP(return, "MAP_HUGETLB failed: %s", strerror(errno));
	fill_page(buf, 0x34000);
	fill_page(buf + psize(), 0x34000);
	p0 = self_pfn(buf);
	p1 = self_pfn(buf + psize());
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)hsz, merge_range(fd, KSM_PIDFD_SELF, buf, hsz, &res));
	EXPECT_VALID_RES(res, hsz / psize());
	/* Counted in base pages. */
	EXPECT_COUNTS(res, 0, 0, 0, 0, 0, 0, hsz / psize());
	EXPECT_EQ(p0, self_pfn(buf));
	EXPECT_EQ(p1, self_pfn(buf + psize()));
	EXPECT_TRUE(page_has_seed(buf + psize(), 0x34000));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, hsz);
}

/*
 * Merged pages replaced by a hugetlb mapping (MAP_FIXED), then unmerged:
 * their rmap items are still listed, and checking whether the member still
 * maps their KSM pages walks the hugetlb VMA, which takes its (sleeping)
 * lock. The unmerge forgets the items and the partition is empty after.
 */
TEST_F(hugetlb, unmerge_after_hugetlb_replaced_merged_pages)
{
	struct ksm_partition_stats st = { .size = sizeof(st) };
	struct ksm_merge_result res;
	char *area, *buf, *huge;
	const char *why;
	size_t hsz, i;
	int fd;

	why = reserve_huge_page(self, &hsz);
	if (why)
		SKIP(return, "%s", why);
	/* A huge-page-aligned stretch of base pages */
	area = mmap(NULL, 2 * hsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	buf = (char *)(((uintptr_t)area + hsz - 1) & ~(uintptr_t)(hsz - 1));
	ASSERT_EQ(0, madvise(buf, hsz, MADV_NOHUGEPAGE));
	for (i = 0; i < 8; i++)
		fill_page(buf + i * psize(), 0x35000 + i / 2);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	EXPECT_COUNTS(res, 8, 4, 0, 4, 0, 0, 0);

	huge = mmap(buf, hsz, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_FIXED, -1, 0);
	if (huge == MAP_FAILED) {
		close(fd);
		munmap(area, 2 * hsz);
		SKIP(return, "MAP_HUGETLB failed: %s", strerror(errno));
	}
	ASSERT_EQ(buf, huge);
	huge[0] = 1;	/* populate it */
	EXPECT_EQ((ssize_t)(8 * psize()), unmerge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize()));
	ASSERT_EQ(0, ioctl(fd, KSM_IOC_GET_STATS, &st));
	EXPECT_EQ(0, st.rmap_items);
	EXPECT_EQ(0, st.pages_shared);
	EXPECT_EQ(0, st.pages_sharing);
	EXPECT_EQ(1, huge[0]);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(area, 2 * hsz);
}

TEST(merge_absent_pages)
{
	struct ksm_merge_result res;
	char *buf = map_anon(6);
	int fd, pm;
	uint64_t z;

	ASSERT_NE(NULL, buf);
	/* 0: never touched, 1: read (zero page), 2-3: equal, 4: never touched, 5: read */
	ASSERT_EQ(0, force_read_byte(buf + psize()));
	ASSERT_EQ(0, force_read_byte(buf + 5 * psize()));
	fill_page(buf + 2 * psize(), 0x35000);
	fill_page(buf + 3 * psize(), 0x35000);
	z = self_pfn(buf + psize());
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)(6 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 6 * psize(), &res));
	EXPECT_VALID_RES(res, 6);
	EXPECT_COUNTS(res, 2, 1, 0, 1, 0, 4, 0);
	EXPECT_EQ(self_pfn(buf + 2 * psize()), self_pfn(buf + 3 * psize()));
	/* Merging faulted nothing in and left the zero-page mappings alone. */
	pm = pagemap_open(0);
	ASSERT_LE(0, pm);
	EXPECT_EQ(0, pagemap_entry(pm, buf) & PM_PRESENT);
	EXPECT_EQ(0, pagemap_entry(pm, buf + 4 * psize()) & PM_PRESENT);
	EXPECT_EQ(z, pfn_of(pm, buf + psize()));
	EXPECT_EQ(z, pfn_of(pm, buf + 5 * psize()));
	close(pm);
	if (z)
		EXPECT_TRUE(kpageflags(z) & (1ULL << KPF_ZERO_PAGE));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 6 * psize());
}

/*
 * Zero-filled pages in a partition without KSM_OPEN_ZERO_PAGES are ordinary
 * content: merged into a KSM page, never replaced by the zero page, whatever
 * global KSM's use_zero_pages says.
 */
TEST_F(ksmd, merge_zero_filled_pages_ordinary)
{
	struct ksm_merge_result res;
	char *buf = map_anon(5);
	uint64_t pfn[4], z;
	int fd, i;

	ASSERT_NE(NULL, buf);
	if (self->use_zero_pages >= 0)
		ASSERT_EQ(0, ksm_sysfs_write("use_zero_pages", 1));
	for (i = 0; i < 4; i++) {
		buf[i * psize()] = 1;
		memset(buf + i * psize(), 0, psize());
	}
	ASSERT_EQ(0, force_read_byte(buf + 4 * psize()));
	z = self_pfn(buf + 4 * psize());
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), &res));
	EXPECT_VALID_RES(res, 4);
	EXPECT_COUNTS(res, 4, 3, 0, 1, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, 4, pfn));
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(pfn[0], pfn[i]);
		EXPECT_NE(z, pfn[i]);
	}
	EXPECT_KSM(pfn[0]);
	for (i = 0; i < 4 * (int)psize(); i++)
		if (buf[i])
			break;
	EXPECT_EQ(4 * (int)psize(), i);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 5 * psize());
}

/*
 * A PMD-aligned anonymous region backed by a THP of 512 pages, or NULL
 * with a reason.
 */
static char *map_thp(size_t *len, char *why, size_t whylen)
{
	long pmd_size = read_long_path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
	size_t pmd = pmd_size > 0 ? (size_t)pmd_size : 0;
	char en[128] = "";
	char *raw, *p;
	int fd;

	if (!pmd) {
		snprintf(why, whylen, "no /sys/kernel/mm/transparent_hugepage/hpage_pmd_size");
		return NULL;
	}
	/* The tests count 512 pages: 2 MiB of 4 KiB pages, not 512 MiB of 64 KiB */
	if (pmd != 512 * psize()) {
		snprintf(why, whylen, "a PMD THP is %zu pages of %zu bytes, the tests use 512",
			 pmd / psize(), psize());
		return NULL;
	}
	fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY);
	if (fd < 0 || read(fd, en, sizeof(en) - 1) <= 0) {
		snprintf(why, whylen, "no /sys/kernel/mm/transparent_hugepage/enabled");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	close(fd);
	if (strstr(en, "[never]")) {
		snprintf(why, whylen, "THP disabled (enabled = never)");
		return NULL;
	}
	raw = mmap(NULL, 2 * pmd, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		snprintf(why, whylen, "mmap: %s", strerror(errno));
		return NULL;
	}
	p = (char *)(((uintptr_t)raw + pmd - 1) & ~(pmd - 1));
	if (p > raw)
		munmap(raw, p - raw);
	munmap(p + pmd, raw + 2 * pmd - (p + pmd));
	if (madvise(p, pmd, MADV_HUGEPAGE)) {
		snprintf(why, whylen, "MADV_HUGEPAGE: %s", strerror(errno));
		munmap(p, pmd);
		return NULL;
	}
	p[0] = 1;
	if (!pfn_is_thp(self_pfn(p))) {
		snprintf(why, whylen, "no THP obtained on fault");
		munmap(p, pmd);
		return NULL;
	}
	*len = pmd;
	return p;
}

/*
 * Pages of a THP merge with candidates elsewhere (splitting the THP); the
 * THP's other pages stay where they were (split, not copied).
 */
TEST(merge_thp_split_on_merge)
{
	uint64_t seeds[512], before[512], after[512], small_seeds[2] = { 0x36800, 0x36801 };
	struct ksm_merge_result res;
	int fd, i, moved = 0;
	char *p, *small;
	char why[128];
	long numa_balancing;
	size_t len;

	/*
	 * Automatic NUMA balancing (on by default in distribution kernels) may
	 * migrate any of these pages to the node the test runs on: a legitimate
	 * move, but not the one this test looks for. Off for the test.
	 */
	numa_balancing = read_long_path("/proc/sys/kernel/numa_balancing");
	if (numa_balancing > 0)
		ASSERT_EQ(0, write_string_path("/proc/sys/kernel/numa_balancing", "0"));
	p = map_thp(&len, why, sizeof(why));
	if (!p)
		SKIP(goto restore, "%s", why);
	ASSERT_EQ(512 * psize(), len);
	seq_seeds(seeds, 512, 0x36000);
	seeds[1] = small_seeds[0];
	seeds[3] = small_seeds[1];
	for (i = 0; i < 512; i++)
		fill_page(p + i * psize(), seeds[i]);
	ASSERT_EQ(0, pids_pfns(0, p, 512, before));
	if (!pfn_is_thp(before[511]) || before[511] != before[0] + 511)
		SKIP(goto out, "the THP did not survive being filled");
	small = map_seeded(2, small_seeds);
	ASSERT_NE(NULL, small);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	/* Candidates in small pages first. */
	EXPECT_EQ((ssize_t)(2 * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, small, 2 * psize(), &res));
	EXPECT_COUNTS(res, 2, 0, 0, 2, 0, 0, 0);
	EXPECT_EQ((ssize_t)len, merge_range(fd, KSM_PIDFD_SELF, p, len, &res));
	EXPECT_VALID_RES(res, 512);
	EXPECT_COUNTS(res, 512, 2, 0, 510, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, p, 512, after));
	EXPECT_EQ(self_pfn(small), after[1]);
	EXPECT_EQ(self_pfn(small + psize()), after[3]);
	EXPECT_KSM(after[1]);
	EXPECT_KSM(after[3]);
	for (i = 0; i < 512; i++)
		if (i != 1 && i != 3 && after[i] != before[i])
			moved++;
	EXPECT_EQ(0, moved) TH_LOG("unmerged pages of the THP moved");
	EXPECT_FALSE(pfn_is_thp(after[0])) TH_LOG("the THP was not split");
	EXPECT_EQ(-1, first_bad_page(p, 512, seeds));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(-1, first_bad_page(p, 512, seeds));
	EXPECT_EQ(-1, first_bad_page(small, 2, small_seeds));
	close(fd);
	munmap(small, 2 * psize());
out:
	munmap(p, len);
restore:
	if (numa_balancing > 0) {
		snprintf(why, sizeof(why), "%ld", numa_balancing);
		write_string_path("/proc/sys/kernel/numa_balancing", why);
	}
}

/*
 * Duplicates inside one THP: merging them needs the THP split while both
 * pages are held; abi.md allows "failed" (large folio could not be split)
 * for that, so a first call may merge or fail them, and repeating the call
 * (idempotent) must merge them.
 */
TEST(merge_thp_internal_duplicates)
{
	uint64_t seeds[512], pfn[4];
	struct ksm_merge_result res;
	char why[128];
	int fd, i, tries;
	size_t len;
	char *p;

	p = map_thp(&len, why, sizeof(why));
	if (!p)
		SKIP(return, "%s", why);
	seq_seeds(seeds, 512, 0x36c00);
	seeds[1] = seeds[0];
	seeds[3] = seeds[2];
	for (i = 0; i < 512; i++)
		fill_page(p + i * psize(), seeds[i]);
	if (!pfn_is_thp(self_pfn(p + 511 * psize())))
		SKIP(goto out, "the THP did not survive being filled");
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)len, merge_range(fd, KSM_PIDFD_SELF, p, len, &res));
	EXPECT_VALID_RES(res, 512);
	EXPECT_EQ(512, res.pages_scanned);
	EXPECT_EQ(510, res.pages_unshared);
	EXPECT_EQ(2, res.pages_merged + res.pages_failed);
	for (tries = 0; tries < 3; tries++) {
		ASSERT_EQ(0, pids_pfns(0, p, 4, pfn));
		if (pfn[0] == pfn[1] && pfn[2] == pfn[3])
			break;
		EXPECT_EQ((ssize_t)len, merge_range(fd, KSM_PIDFD_SELF, p, len, &res));
		EXPECT_VALID_RES(res, 512);
	}
	EXPECT_EQ(pfn[0], pfn[1]);
	EXPECT_EQ(pfn[2], pfn[3]);
	EXPECT_NE(pfn[0], pfn[2]);
	EXPECT_EQ(-1, first_bad_page(p, 512, seeds));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
out:
	munmap(p, len);
}

/* A THP none of whose pages merges is not split (candidates only). */
TEST(merge_thp_unique_not_split)
{
	uint64_t seeds[512], before[512], after[512];
	struct ksm_merge_result res;
	char why[128];
	size_t len;
	char *p;
	int fd, i;

	p = map_thp(&len, why, sizeof(why));
	if (!p)
		SKIP(return, "%s", why);
	seq_seeds(seeds, 512, 0x37000);
	for (i = 0; i < 512; i++)
		fill_page(p + i * psize(), seeds[i]);
	ASSERT_EQ(0, pids_pfns(0, p, 512, before));
	if (!pfn_is_thp(before[511]) || before[511] != before[0] + 511)
		SKIP(goto out, "the THP did not survive being filled");
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)len, merge_range(fd, KSM_PIDFD_SELF, p, len, &res));
	EXPECT_COUNTS(res, 512, 0, 0, 512, 0, 0, 0);
	ASSERT_EQ(0, pids_pfns(0, p, 512, after));
	EXPECT_EQ(0, memcmp(before, after, sizeof(before)));
	EXPECT_TRUE(pfn_is_thp(after[0]));
	EXPECT_TRUE(pfn_is_thp(after[511]));
	EXPECT_EQ(-1, first_bad_page(p, 512, seeds));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
out:
	munmap(p, len);
}

/* A page with an extra reference (vmsplice into a pipe) is counted failed, not merged. */
TEST(merge_pinned_page_failed)
{
	uint64_t s[2] = { 0x38000, 0x38000 };
	struct ksm_merge_result res;
	char *buf = map_seeded(2, s);
	struct iovec iov;
	int fd, pfd[2];

	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pipe(pfd));
	iov.iov_base = buf + psize();
	iov.iov_len = psize();
	ASSERT_EQ((ssize_t)psize(), vmsplice(pfd[1], &iov, 1, 0));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)(2 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize(), &res));
	EXPECT_VALID_RES(res, 2);
	EXPECT_COUNTS(res, 2, 0, 0, 1, 1, 0, 0);
	EXPECT_EQ(0, pairs_state(0, buf, 1));
	EXPECT_EQ(-1, first_bad_page(buf, 2, s));
	/* With the reference gone, the pages merge. */
	close(pfd[0]);
	close(pfd[1]);
	EXPECT_EQ((ssize_t)(2 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize(), &res));
	EXPECT_EQ(1, res.pages_merged);
	EXPECT_EQ(0, res.pages_failed);
	EXPECT_EQ(1, pairs_state(0, buf, 1));
	EXPECT_EQ(-1, first_bad_page(buf, 2, s));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 2 * psize());
}

/* MAX_RW_COUNT caps the bytes processed by one call. */
TEST_F_TIMEOUT(slow, merge_max_rw_count, 300)
{
	struct ksm_merge_result res;
	char *buf, *want = (char *)(4UL << 30);
	uint64_t s[16];
	struct iovec iov;
	ssize_t ret;
	int fd, i;

	buf = mmap(want, 16 * psize(), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (buf == MAP_FAILED)
		SKIP(return, "cannot map at %p: %s", want, strerror(errno));
	ASSERT_EQ(want, buf);
	for (i = 0; i < 16; i++) {
		s[i] = 0x39000 + i / 2;
		fill_page(buf + i * psize(), s[i]);
	}
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	/* 3 GiB from 4 GiB: nothing else is mapped there but our 16 pages. */
	iov.iov_base = buf;
	iov.iov_len = 3UL << 30;
	res_init(&res);
	ret = sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, &res, 0);
	EXPECT_EQ(MAX_RW_COUNT, ret);
	EXPECT_VALID_RES(res, MAX_RW_COUNT / psize());
	EXPECT_COUNTS(res, 16, 8, 0, 8, 0, 0, MAX_RW_COUNT / psize() - 16);
	EXPECT_EQ(1, pairs_state(0, buf, 8));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 16 * psize());
}

/* ------------------------------------------------------------------ */
/* Unmerge and leave                                                   */

TEST(unmerge_subrange)
{
	uint64_t s[16], pfn[16], k;
	struct ksm_merge_result res;
	char *buf;
	int fd, i, j;

	for (i = 0; i < 16; i++)
		s[i] = 0x3a000;
	buf = map_seeded(16, s);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(16 * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, 16 * psize(), &res));
	EXPECT_COUNTS(res, 16, 15, 0, 1, 0, 0, 0);
	k = self_pfn(buf);
	ASSERT_EQ(16, pages_on_frame(0, buf, 16, k));
	EXPECT_KSM(k);
	ASSERT_EQ(16, ksm_merging_pages(0));

	/* Unaligned: from inside page 4 to inside page 7 covers pages 4-7. */
	EXPECT_EQ((ssize_t)(4 * psize() - 20),
		  unmerge_range(fd, KSM_PIDFD_SELF, buf + 4 * psize() + 10, 4 * psize() - 20));
	ASSERT_EQ(0, pids_pfns(0, buf, 16, pfn));
	for (i = 0; i < 16; i++) {
		if (i >= 4 && i < 8) {
			EXPECT_NE(k, pfn[i]) TH_LOG("page %d still shared", i);
			EXPECT_NOT_KSM(pfn[i]);
			for (j = 4; j < i; j++)
				EXPECT_NE(pfn[j], pfn[i]);
		} else {
			EXPECT_EQ(k, pfn[i]) TH_LOG("page %d lost its sharing", i);
		}
	}
	EXPECT_EQ(12, ksm_merging_pages(0));
	EXPECT_EQ(-1, first_bad_page(buf, 16, s));
	EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));

	/* Merging again brings them back. */
	ASSERT_EQ((ssize_t)(16 * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, 16 * psize(), &res));
	EXPECT_COUNTS(res, 16, 4, 12, 0, 0, 0, 0);
	for (i = 0; i < 16; i++)
		EXPECT_EQ(k, self_pfn(buf + i * psize()));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 16 * psize());
}

TEST(unmerge_acts_in_prot_none)
{
	uint64_t s[4] = { 0x3b000, 0x3b000, 0x3b000, 0x3b000 }, pfn[4], k;
	char *buf = map_seeded(4, s);
	int fd, i;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	k = self_pfn(buf);
	ASSERT_EQ(4, pages_on_frame(0, buf, 4, k));
	EXPECT_KSM(k);
	ASSERT_EQ(0, mprotect(buf + 2 * psize(), 2 * psize(), PROT_NONE));
	EXPECT_EQ((ssize_t)(4 * psize()), unmerge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize()));
	ASSERT_EQ(0, mprotect(buf + 2 * psize(), 2 * psize(), PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, pids_pfns(0, buf, 4, pfn));
	for (i = 0; i < 4; i++) {
		EXPECT_NE(k, pfn[i]) TH_LOG("page %d still shared", i);
		EXPECT_NOT_KSM(pfn[i]);
	}
	EXPECT_EQ(0, ksm_merging_pages(0));
	EXPECT_EQ(-1, first_bad_page(buf, 4, s));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 4 * psize());
}

/* Unmerge forgets the candidates in its ranges; other members do not find them. */
TEST(unmerge_forgets_candidates)
{
	struct xfer *x = map_shared(sizeof(*x));
	uint64_t s[4], mine[4], theirs[4];
	struct ksm_merge_result res;
	char *buf;
	pid_t pid;
	int fd;

	ASSERT_NE(NULL, x);
	seq_seeds(s, 4, 0x3c000);
	buf = map_seeded(4, s);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), &res));
	EXPECT_COUNTS(res, 4, 0, 0, 4, 0, 0, 0);
	EXPECT_EQ((ssize_t)(2 * psize()), unmerge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize()));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf = map_seeded(4, s);

		CHILD_CHECK(cbuf);
		x->addr = cbuf;
		x->ret = merge_range(fd, KSM_PIDFD_SELF, cbuf, 4 * psize(), &x->res);
		x->err = errno;
		/* Compare frames here, while both mappings exist. */
		CHILD_CHECK(pids_pfns(0, cbuf, 4, theirs) == 0);
		CHILD_CHECK(pids_pfns(getppid(), buf, 4, mine) == 0);
		CHILD_CHECK(mine[0] != theirs[0] && mine[1] != theirs[1]);
		CHILD_CHECK(mine[2] == theirs[2] && mine[3] == theirs[3]);
		_exit(0);
	}
	EXPECT_EQ(0, wait_status(pid));
	EXPECT_EQ((ssize_t)(4 * psize()), x->ret);
	/* Pages 0-1 were forgotten: the child's copies become new candidates. */
	EXPECT_COUNTS(x->res, 4, 2, 0, 2, 0, 0, 0);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 4 * psize());
	munmap(x, sizeof(*x));
}

/* Unmerge copies only KSM pages: zero-page mappings and private pages stay as they are. */
TEST(unmerge_touches_only_ksm_pages)
{
	uint64_t s[5] = { 0, 0x3b800, 0x3b801, 0x3b801, 0 }, z, p1, pfn[5];
	char *buf = map_anon(5);
	int fd, pm;

	ASSERT_NE(NULL, buf);
	/* 0: zero page (read fault), 1: unique, 2-3: equal, 4: never touched */
	ASSERT_EQ(0, force_read_byte(buf));
	fill_page(buf + psize(), s[1]);
	fill_page(buf + 2 * psize(), s[2]);
	fill_page(buf + 3 * psize(), s[3]);
	z = self_pfn(buf);
	p1 = self_pfn(buf + psize());
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(5 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 5 * psize(), NULL));
	ASSERT_EQ(self_pfn(buf + 2 * psize()), self_pfn(buf + 3 * psize()));
	EXPECT_EQ((ssize_t)(5 * psize()), unmerge_range(fd, KSM_PIDFD_SELF, buf, 5 * psize()));
	ASSERT_EQ(0, pids_pfns(0, buf, 5, pfn));
	EXPECT_EQ(z, pfn[0]) TH_LOG("a read-fault zero page was replaced");
	EXPECT_EQ(p1, pfn[1]) TH_LOG("a private page was copied");
	EXPECT_NE(pfn[2], pfn[3]);
	pm = pagemap_open(0);
	ASSERT_LE(0, pm);
	EXPECT_EQ(0, pagemap_entry(pm, buf + 4 * psize()) & PM_PRESENT);
	close(pm);
	EXPECT_EQ(0, ((char *)buf)[0]);
	EXPECT_TRUE(page_has_seed(buf + psize(), s[1]));
	EXPECT_TRUE(page_has_seed(buf + 2 * psize(), s[2]));
	EXPECT_TRUE(page_has_seed(buf + 3 * psize(), s[3]));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 5 * psize());
}

TEST(leave_unmerges_everything)
{
	uint64_t s2[2] = { 0x3d100, 0x3d100 }, pfn[8];
	struct ksm_merge_result res;
	char *buf = map_pairs(4, 0x3d000), *prot = map_seeded(2, s2);
	int fd, i, j;

	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, prot);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	EXPECT_COUNTS(res, 8, 4, 0, 4, 0, 0, 0);
	ASSERT_EQ((ssize_t)(2 * psize()), merge_range(fd, KSM_PIDFD_SELF, prot, 2 * psize(), &res));
	ASSERT_EQ(1, pairs_state(0, buf, 4));
	ASSERT_EQ(1, pairs_state(0, prot, 1));
	ASSERT_EQ(10, ksm_merging_pages(0));
	/* Leave acts in every VMA, whatever its protection. */
	ASSERT_EQ(0, mprotect(prot, 2 * psize(), PROT_NONE));

	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(0, ksm_merging_pages(0));
	EXPECT_EQ(0, ksm_stat(0, "ksm_merging_pages"));
	EXPECT_EQ(0, ksm_stat(0, "ksm_zero_pages"));
	ASSERT_EQ(0, pids_pfns(0, buf, 8, pfn));
	for (i = 0; i < 8; i++) {
		EXPECT_NOT_KSM(pfn[i]);
		for (j = 0; j < i; j++)
			EXPECT_NE(pfn[i], pfn[j]);
	}
	ASSERT_EQ(0, mprotect(prot, 2 * psize(), PROT_READ));
	EXPECT_EQ(0, pairs_state(0, prot, 1));
	EXPECT_NOT_KSM(self_pfn(prot));
	EXPECT_TRUE(page_has_seed(prot, s2[0]));
	EXPECT_TRUE(page_has_seed(prot + psize(), s2[1]));
	for (i = 0; i < 8; i++)
		EXPECT_TRUE(page_has_seed(buf + i * psize(), 0x3d000 + i / 2));

	/* No longer a member. */
	EXPECT_EQ(0, self_is_member_of_any());
	errno = 0;
	EXPECT_EQ(-1, unmerge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize()));
	EXPECT_EQ(ENOENT, errno);
	errno = 0;
	EXPECT_EQ(-1, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(ENOENT, errno);

	/* Merging again rejoins; the old candidates were forgotten. */
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
	EXPECT_COUNTS(res, 8, 4, 0, 4, 0, 0, 0);
	EXPECT_EQ(1, pairs_state(0, buf, 4));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 8 * psize());
	munmap(prot, 2 * psize());
}

/* Leave forgets the leaver's candidates. */
TEST(leave_forgets_candidates)
{
	struct xfer *x = map_shared(sizeof(*x));
	struct ksm_merge_result res;
	uint64_t s[4];
	char *buf;
	pid_t pid;
	int fd;

	ASSERT_NE(NULL, x);
	seq_seeds(s, 4, 0x3e000);
	buf = map_seeded(4, s);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), &res));
	EXPECT_COUNTS(res, 4, 0, 0, 4, 0, 0, 0);
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t mine[4], theirs[4];
		char *cbuf = map_seeded(4, s);
		int i;

		CHILD_CHECK(cbuf);
		x->ret = merge_range(fd, KSM_PIDFD_SELF, cbuf, 4 * psize(), &x->res);
		x->err = errno;
		CHILD_CHECK(pids_pfns(0, cbuf, 4, theirs) == 0);
		CHILD_CHECK(pids_pfns(getppid(), buf, 4, mine) == 0);
		for (i = 0; i < 4; i++)
			CHILD_CHECK(mine[i] != theirs[i]);
		_exit(0);
	}
	EXPECT_EQ(0, wait_status(pid));
	EXPECT_EQ((ssize_t)(4 * psize()), x->ret);
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, x->res.flags);
	EXPECT_COUNTS(x->res, 4, 0, 0, 4, 0, 0, 0);
	close(fd);
	munmap(buf, 4 * psize());
	munmap(x, sizeof(*x));
}

TEST_HARNESS_MAIN
