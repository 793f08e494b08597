// SPDX-License-Identifier: GPL-2.0
/*
 * ksmpart under allocation failure: every allocation of ksm_open,
 * ksm_merge (joining and merging), ksm_unmerge and ksm_leave is made to fail
 * in turn with /proc/thread-self/fail-nth (nth = 1, 2, ... until a call
 * completes without reaching its nth allocation). Slab and page allocations
 * both count: debugfs failslab and fail_page_alloc are set to consider
 * sleeping, highmem and order-0 allocations, with verbose=0 so that the
 * console stays clean (a stack dump there would read as a splat).
 *
 * After every call: it succeeded, made partial progress, or failed with
 * ENOMEM (abi.md 4-7); and the state agrees with what it reported, checked
 * against ground truth - content byte for byte, which pages share a frame
 * (a page counted merged shares, nothing else does), ksm_merging_pages, the
 * partition's gauges and cumulative counters, membership. After each
 * partition is gone, the ksm_rmap_item and ksm_stable_node slab counts are
 * back at their baseline.
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mount.h>

#include "kselftest_harness.h"

#define MAX_NTH 400
#define DBG "/sys/kernel/debug/"

/* ------------------------------------------------------------------ */
/* debugfs fault-injection settings, restored from the parent          */

static const char *const knobs[][2] = {
	{ DBG "failslab/ignore-gfp-wait", "N" },
	{ DBG "failslab/verbose", "0" },
	{ DBG "failslab/task-filter", "Y" },
	{ DBG "fail_page_alloc/ignore-gfp-wait", "N" },
	{ DBG "fail_page_alloc/ignore-gfp-highmem", "N" },
	{ DBG "fail_page_alloc/min-order", "0" },
	{ DBG "fail_page_alloc/verbose", "0" },
	{ DBG "fail_page_alloc/task-filter", "Y" },
	/* Saved and restored only (NULL): merge_stable_node_alloc_fails sets them. */
	{ DBG "failslab/cache-filter", NULL },
	{ DBG "failslab/probability", NULL },
	{ DBG "failslab/interval", NULL },
	{ DBG "failslab/times", NULL },
	{ DBG "failslab/space", NULL },
	{ "/sys/kernel/slab/ksm_stable_node/failslab", NULL },
};

#define NKNOBS ARRAY_SIZE(knobs)

FIXTURE(fi) {
	char saved[NKNOBS][16];
	bool ready;
};

static int read_str(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

FIXTURE_SETUP(fi)
{
	unsigned int i;

	if (access(DBG "failslab", F_OK))
		mount("none", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (access("/proc/thread-self/fail-nth", W_OK) || access(DBG "failslab", F_OK) ||
	    access(DBG "fail_page_alloc", F_OK))
		SKIP(return,
		     "no fail-nth or debugfs failslab/fail_page_alloc (CONFIG_FAULT_INJECTION, FAILSLAB, FAIL_PAGE_ALLOC, FAULT_INJECTION_DEBUG_FS)");
	/* Stop at the first knob that fails; i names it. */
	for (i = 0; i < NKNOBS; i++)
		if (read_str(knobs[i][0], self->saved[i], sizeof(self->saved[i])))
			break;
	ASSERT_EQ(NKNOBS, i) TH_LOG("reading knob %u (%s)", i, knobs[i][0]);
	self->ready = true;
	for (i = 0; i < NKNOBS; i++)
		if (knobs[i][1] && write_string_path(knobs[i][0], knobs[i][1]))
			break;
	ASSERT_EQ(NKNOBS, i) TH_LOG("writing knob %u (%s)", i, knobs[i][0]);
}

FIXTURE_TEARDOWN_PARENT(fi)
{
	unsigned int i;

	for (i = 0; self->ready && i < NKNOBS; i++)
		write_string_path(knobs[i][0], self->saved[i]);
}

/* ------------------------------------------------------------------ */
/* fail-nth                                                            */

struct nth {
	int fd;
};

static int nth_arm(struct nth *f, int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	f->fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (f->fd < 0)
		return -1;
	return pwrite(f->fd, buf, len, 0) == len ? 0 : -1;
}

/* Disarm; true if the nth allocation was reached (and made to fail). */
static bool nth_disarm(struct nth *f)
{
	char buf[16] = "";
	long left = -1;

	if (pread(f->fd, buf, sizeof(buf) - 1, 0) > 0)
		left = strtol(buf, NULL, 10);
	if (pwrite(f->fd, "0", 1, 0) != 1)
		left = -1;
	close(f->fd);
	return left == 0;
}

/* ------------------------------------------------------------------ */
/* Ground truth                                                        */

static long part_stat(int fd, size_t off)
{
	struct ksm_partition_stats st;

	memset(&st, 0, sizeof(st));
	if (ioctl(fd, KSM_IOC_GET_STATS, &st))
		return -1;
	return *(const __u64 *)((const char *)&st + off);
}

#define PSTAT(fd, field) part_stat(fd, offsetof(struct ksm_partition_stats, field))

static const char *const ksm_slabs[] = { "ksm_rmap_item", "ksm_stable_node" };

static long ksm_slab_objects(void)
{
	bool merged;
	char why[128];

	return slab_objects(ksm_slabs, 2, &merged, why, sizeof(why));
}

/*
 * The layout: groups of equal pages, so that merging uses every path -
 * candidate found (a new stable node), KSM page found (a third twin), and
 * unique pages (candidates only). group[i] is page i's group, -1 unique.
 */
#define NPG 8
static const int group[NPG] = { 0, 0, 1, 1, 1, 2, 2, -1 };

static char *map_layout(uint64_t base, uint64_t *seeds)
{
	int i;

	for (i = 0; i < NPG; i++)
		seeds[i] = group[i] >= 0 ? base + group[i] : base + 0x100 + i;
	return map_seeded(NPG, seeds);
}

/* What the frames say about the first `prefix` pages and the rest. */
struct truth {
	int merged;		/* pages sharing a frame with an earlier page */
	int on_ksm;		/* pages sharing a frame with any other page */
	int ksm_frames;		/* frames mapped by >= 2 pages */
	int sharing;		/* sum over those of (mappers - 1) */
	int cross_group;	/* frames shared across different content: never */
	int beyond_prefix;	/* shared pages outside the prefix */
	int absent;		/* pages without a frame */
};

static struct truth frames_truth(const uint64_t *f, int prefix)
{
	struct truth t = { 0 };
	int i, j;

	for (i = 0; i < NPG; i++) {
		bool earlier = false, any = false, first = true;
		int mappers = 1;

		if (!f[i]) {
			t.absent++;
			continue;
		}
		for (j = 0; j < NPG; j++) {
			if (j == i || f[j] != f[i])
				continue;
			any = true;
			if (j < i) {
				earlier = true;
				first = false;
			} else {
				mappers++;
			}
			if (group[i] < 0 || group[i] != group[j])
				t.cross_group++;
		}
		t.merged += earlier;
		t.on_ksm += any;
		if (any && first) {
			t.ksm_frames++;
			t.sharing += mappers - 1;
		}
		if (any && i >= prefix)
			t.beyond_prefix++;
	}
	return t;
}

/* Whether page i's frame is mapped by another page too. */
static bool frames_shared(const uint64_t *f, int i)
{
	int j;

	for (j = 0; j < NPG; j++)
		if (j != i && f[j] && f[j] == f[i])
			return true;
	return false;
}

static void frames_print(const uint64_t *f)
{
	int i;

	fprintf(stderr, "#   frames:");
	for (i = 0; i < NPG; i++)
		fprintf(stderr, " %#llx", (unsigned long long)f[i]);
	fprintf(stderr, "\n");
}

/* Pages touched by the first `bytes` of a page-aligned range. */
static int pages_of(ssize_t bytes)
{
	return bytes <= 0 ? 0 : (bytes + psize() - 1) / psize();
}

/* The gauges of a partition whose only member is us, against the frames. */
static void expect_gauges(struct __test_metadata *_metadata, int fd, const struct truth *t,
			  const char *where, int n)
{
	EXPECT_EQ(t->ksm_frames, PSTAT(fd, pages_shared))
		TH_LOG("%s nth %d: pages_shared", where, n);
	EXPECT_EQ(t->sharing, PSTAT(fd, pages_sharing))
		TH_LOG("%s nth %d: pages_sharing", where, n);
	EXPECT_EQ(t->on_ksm, ksm_merging_pages(0))
		TH_LOG("%s nth %d: ksm_merging_pages", where, n);
	EXPECT_LE(PSTAT(fd, pages_shared) + PSTAT(fd, pages_sharing) + PSTAT(fd, pages_unshared),
		  PSTAT(fd, rmap_items)) TH_LOG("%s nth %d: rmap_items", where, n);
}

/* ------------------------------------------------------------------ */

TEST_F_TIMEOUT(fi, open_faults, 120)
{
	int n, injected = 0, tolerated = 0, lo, fd, e, dirs0;
	char name[64];
	struct nth f;
	bool hit;

	dirs0 = -1;
	for (n = 1; n <= MAX_NTH; n++) {
		DIR *d = opendir("/sys/kernel/mm/ksm/partitions");
		struct dirent *de;
		int dirs = 0;

		ASSERT_NE(NULL, d);
		while ((de = readdir(d)))
			dirs += de->d_name[0] != '.';
		closedir(d);
		if (dirs0 < 0)
			dirs0 = dirs;
		/* No partition left behind by a failed (or closed) one. */
		ASSERT_EQ(dirs0, dirs)
			TH_LOG("nth %d: partition directories %d, baseline %d", n - 1, dirs, dirs0);

		unique_name(name, sizeof(name), "fi");
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		lo = fd;
		close(fd);
		ASSERT_EQ(0, nth_arm(&f, n));
		fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
		e = errno;
		hit = nth_disarm(&f);
		if (fd < 0) {
			EXPECT_EQ(ENOMEM, e) TH_LOG("nth %d: ksm_open errno %s", n, strerror(e));
			EXPECT_TRUE(hit) TH_LOG("nth %d: failed without an injected fault", n);
			/* Nothing installed, no name. */
			fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			EXPECT_EQ(lo, fd);
			close(fd);
			errno = 0;
			EXPECT_EQ(-1, sys_ksm_open(name, 0, 0));
			EXPECT_EQ(ENOENT, errno);
			injected++;
			continue;
		}
		/* Succeeded: a working partition, findable by name. */
		EXPECT_EQ(0, PSTAT(fd, members));
		e = sys_ksm_open(name, 0, 0);
		EXPECT_LE(0, e);
		if (e >= 0) {
			EXPECT_EQ(PSTAT(fd, id), PSTAT(e, id));
			close(e);
		}
		close(fd);
		if (!hit)
			break;
		tolerated++;	/* an optional allocation failed, the call did not */
	}
	EXPECT_GE(MAX_NTH, n) TH_LOG("ksm_open still reaches allocation %d", MAX_NTH);
	printf("# ksm_open(name, CREATE|EXCL): %d injection points (%d ENOMEM, %d tolerated)\n"
	       "# ksm_open(name, CREATE|EXCL): %d allocations when none fails\n",
	       injected + tolerated, injected, tolerated, n - 1);

	/* The anonymous form. */
	injected = 0;
	tolerated = 0;
	for (n = 1; n <= MAX_NTH; n++) {
		ASSERT_EQ(0, nth_arm(&f, n));
		fd = sys_ksm_open(NULL, 0, 0);
		e = errno;
		hit = nth_disarm(&f);
		if (fd < 0) {
			EXPECT_EQ(ENOMEM, e)
				TH_LOG("nth %d: anonymous ksm_open errno %s", n, strerror(e));
			injected++;
			continue;
		}
		close(fd);
		if (!hit)
			break;
		tolerated++;
	}
	printf("# ksm_open(NULL): %d injection points (%d ENOMEM, %d tolerated)\n",
	       injected + tolerated, injected, tolerated);
}

/*
 * ksm_merge on ourselves, a non-member, into a fresh partition: joining and
 * merging under the nth allocation failure.
 */
TEST_F_TIMEOUT(fi, merge_faults, 300)
{
	int n, enomem = 0, partial = 0, with_failed = 0, tolerated = 0;
	long slab0 = ksm_slab_objects();
	uint64_t seeds[NPG], fr[NPG];
	struct ksm_merge_result res;
	struct nth f;

	ASSERT_LE(0, slab0);
	for (n = 1; n <= MAX_NTH; n++) {
		int fd = sys_ksm_open(NULL, 0, 0), e, member, prefix;
		char *buf = map_layout(((uint64_t)getpid() << 24) + ((uint64_t)n << 10), seeds);
		struct truth t;
		bool hit;
		ssize_t r;

		ASSERT_LE(0, fd);
		ASSERT_NE(NULL, buf);
		ASSERT_EQ(0, nth_arm(&f, n));
		r = merge_range(fd, KSM_PIDFD_SELF, buf, NPG * psize(), &res);
		e = errno;
		hit = nth_disarm(&f);
		member = is_member(fd, KSM_PIDFD_SELF);

		EXPECT_EQ(-1, first_bad_page(buf, NPG, seeds)) TH_LOG("nth %d: content changed", n);
		prefix = pages_of(r);
		ASSERT_EQ(0, pids_pfns(0, buf, NPG, fr));
		t = frames_truth(fr, prefix);
		EXPECT_EQ(0, t.absent);
		EXPECT_EQ(0, t.cross_group) TH_LOG("nth %d: different content on one frame", n);
		EXPECT_EQ(0, t.beyond_prefix)
			TH_LOG("nth %d: a page beyond the progress shares", n);
		if (r < 0) {
			EXPECT_EQ(ENOMEM, e) TH_LOG("nth %d: ksm_merge errno %s", n, strerror(e));
			EXPECT_TRUE(hit);
			EXPECT_EQ(0, t.on_ksm) TH_LOG("nth %d: failed call merged pages", n);
			/* Past joining the call is counted; a failed join leaves no member. */
			EXPECT_EQ(member == 1 ? 1 : 0, PSTAT(fd, merge_calls)) TH_LOG("nth %d", n);
			EXPECT_EQ(member == 1 ? 1 : 0, PSTAT(fd, members));
			enomem++;
		} else {
			EXPECT_EQ(1, member);
			EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
			EXPECT_TRUE(res_invariants_hold(&res, prefix))
				res_print("invariants", &res);
			EXPECT_EQ(t.merged, res.pages_merged) {
				TH_LOG("nth %d: %d pages share a frame with an earlier twin", n,
				       t.merged);
				res_print("merge", &res);
				frames_print(fr);
			}
			EXPECT_EQ(1, PSTAT(fd, merge_calls));
			EXPECT_EQ(res.pages_merged, PSTAT(fd, pages_merged));
			EXPECT_EQ(res.pages_failed, PSTAT(fd, pages_failed));
			EXPECT_EQ(res.pages_scanned, PSTAT(fd, pages_scanned));
			if (prefix < NPG)
				partial++;
			else if (res.pages_failed)
				with_failed++;
			else if (hit)
				tolerated++;
		}
		if (member == 1)
			expect_gauges(_metadata, fd, &t, "merge", n);

		/* A later merge without faults completes the work. */
		if (member == 1 || r < 0) {
			ASSERT_EQ((ssize_t)(NPG * psize()),
				  merge_range(fd, KSM_PIDFD_SELF, buf, NPG * psize(), &res));
			ASSERT_EQ(0, pids_pfns(0, buf, NPG, fr));
			t = frames_truth(fr, NPG);
			EXPECT_EQ(4, t.merged)
				TH_LOG("nth %d: the retry did not merge everything", n);
			expect_gauges(_metadata, fd, &t, "retry", n);
			EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
		}
		EXPECT_EQ(0, ksm_merging_pages(0));
		EXPECT_EQ(-1, first_bad_page(buf, NPG, seeds));
		close(fd);
		munmap(buf, NPG * psize());
		if (r == (ssize_t)(NPG * psize()) && !hit)
			break;
	}
	EXPECT_GE(MAX_NTH, n);
	EXPECT_EQ(slab0, ksm_slab_objects())
		TH_LOG("ksm_rmap_item + ksm_stable_node objects leaked");
	printf("# ksm_merge (join + %d pages): %d injection points: %d ENOMEM,\n"
	       "# ksm_merge: %d partial progress, %d complete with pages_failed, %d tolerated\n"
	       "# ksm_merge: %d allocations when none fails\n",
	       NPG, enomem + partial + with_failed + tolerated, enomem, partial, with_failed,
	       tolerated, n - 1);
}

/* Merged layout in a fresh partition; returns the fd. */
static int merged_setup(char **bufp, uint64_t *seeds, int n)
{
	struct ksm_merge_result res;
	int fd = sys_ksm_open(NULL, 0, 0);
	ssize_t r;

	*bufp = map_layout(((uint64_t)getpid() << 24) + ((uint64_t)n << 10) + 0x800000, seeds);
	if (fd < 0 || !*bufp)
		return -1;
	r = merge_range(fd, KSM_PIDFD_SELF, *bufp, NPG * psize(), &res);
	if (r != (ssize_t)(NPG * psize()) || res.pages_merged != 4)
		return -1;
	return fd;
}

TEST_F_TIMEOUT(fi, unmerge_faults, 300)
{
	int n, enomem = 0, partial = 0, tolerated = 0;
	long slab0 = ksm_slab_objects();
	uint64_t seeds[NPG], fr[NPG];
	struct nth f;

	ASSERT_LE(0, slab0);
	for (n = 1; n <= MAX_NTH; n++) {
		int fd, e, prefix, i;
		struct truth t;
		char *buf;
		bool hit;
		ssize_t r;

		fd = merged_setup(&buf, seeds, n);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, nth_arm(&f, n));
		r = unmerge_range(fd, KSM_PIDFD_SELF, buf, NPG * psize());
		e = errno;
		hit = nth_disarm(&f);

		EXPECT_EQ(-1, first_bad_page(buf, NPG, seeds)) TH_LOG("nth %d: content changed", n);
		/* Counted also when failed; then the membership probe counts too (abi.md 11.1). */
		EXPECT_EQ(1, PSTAT(fd, unmerge_calls));
		EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
		prefix = pages_of(r);
		ASSERT_EQ(0, pids_pfns(0, buf, NPG, fr));
		t = frames_truth(fr, NPG);
		EXPECT_EQ(0, t.cross_group);
		/* Processed pages are private; the others still share as merged. */
		for (i = 0; i < NPG; i++) {
			int j, twins_left = 0;
			bool shares;

			for (j = 0; j < NPG; j++)
				if (j != i && group[j] >= 0 && group[j] == group[i])
					twins_left += j >= prefix;
			for (j = 0; j < NPG; j++)
				if (j != i && fr[j] == fr[i])
					break;
			shares = j < NPG;
			EXPECT_FALSE(i < prefix && shares)
				TH_LOG("nth %d: processed page %d still shares", n, i);
			EXPECT_FALSE(i >= prefix && twins_left && !shares)
				TH_LOG("nth %d: unprocessed page %d lost its twin", n, i);
		}
		if (r < 0) {
			EXPECT_EQ(ENOMEM, e) TH_LOG("nth %d: ksm_unmerge errno %s", n, strerror(e));
			EXPECT_TRUE(hit);
			enomem++;
		} else if (prefix < NPG) {
			partial++;
		} else {
			if (hit)
				tolerated++;
		}
		/*
		 * Gauges: unprocessed pages still map their KSM page; a KSM page
		 * left with one mapper is still a KSM page (pages_shared) but no
		 * longer visible as such in the frames, so count from the layout.
		 */
		{
			int shared = 0, sharing = 0, on = 0, g;

			for (g = 0; g < 3; g++) {
				int left = 0;

				for (i = prefix < 0 ? 0 : prefix; i < NPG; i++)
					left += group[i] == g;
				shared += left > 0;
				sharing += left > 1 ? left - 1 : 0;
				on += left;
			}
			EXPECT_EQ(shared, PSTAT(fd, pages_shared))
				TH_LOG("nth %d: pages_shared", n);
			EXPECT_EQ(sharing, PSTAT(fd, pages_sharing))
				TH_LOG("nth %d: pages_sharing", n);
			EXPECT_EQ(on, ksm_merging_pages(0)) TH_LOG("nth %d: ksm_merging_pages", n);
		}
		/* Retry without faults, then leave. */
		ASSERT_EQ((ssize_t)(NPG * psize()),
			  unmerge_range(fd, KSM_PIDFD_SELF, buf, NPG * psize()));
		EXPECT_EQ(0, ksm_merging_pages(0));
		EXPECT_EQ(0, PSTAT(fd, pages_shared));
		EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
		EXPECT_EQ(-1, first_bad_page(buf, NPG, seeds));
		close(fd);
		munmap(buf, NPG * psize());
		if (r == (ssize_t)(NPG * psize()) && !hit)
			break;
	}
	EXPECT_GE(MAX_NTH, n);
	EXPECT_EQ(slab0, ksm_slab_objects())
		TH_LOG("ksm_rmap_item + ksm_stable_node objects leaked");
	printf("# ksm_unmerge (%d KSM-mapped pages): %d injection points: %d ENOMEM,\n"
	       "# ksm_unmerge: %d partial progress, %d tolerated; %d allocations when none fails\n",
	       7, enomem + partial + tolerated, enomem, partial, tolerated, n - 1);
}

TEST_F_TIMEOUT(fi, leave_faults, 300)
{
	int n, enomem = 0, tolerated = 0;
	long slab0 = ksm_slab_objects();
	uint64_t seeds[NPG], fr[NPG], f0[NPG];
	struct nth f;

	ASSERT_LE(0, slab0);
	for (n = 1; n <= MAX_NTH; n++) {
		int fd, e, r, i, still;
		long merging;
		struct truth t;
		char *buf;
		bool hit;

		fd = merged_setup(&buf, seeds, n);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, pids_pfns(0, buf, NPG, f0));
		ASSERT_EQ(0, nth_arm(&f, n));
		r = sys_ksm_leave(fd, KSM_PIDFD_SELF, 0);
		e = errno;
		hit = nth_disarm(&f);

		EXPECT_EQ(-1, first_bad_page(buf, NPG, seeds)) TH_LOG("nth %d: content changed", n);
		ASSERT_EQ(0, pids_pfns(0, buf, NPG, fr));
		t = frames_truth(fr, NPG);
		EXPECT_EQ(0, t.cross_group);
		if (r < 0) {
			EXPECT_EQ(ENOMEM, e) TH_LOG("nth %d: ksm_leave errno %s", n, strerror(e));
			EXPECT_TRUE(hit);
			/* Still a member; what was unmerged stays so (abi.md 7). */
			EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
			EXPECT_EQ(0, PSTAT(fd, leave_calls));
			/*
			 * The member's counters are exact (abi.md 11.5): a page
			 * maps a KSM page while it keeps its merged frame, even
			 * if the other mappers of that frame were unmerged.
			 */
			for (i = 0, still = 0; i < NPG; i++)
				still += fr[i] && fr[i] == f0[i] && frames_shared(f0, i);
			merging = ksm_merging_pages(0);
			EXPECT_EQ(still, merging)
				TH_LOG("nth %d: ksm_merging_pages %ld, %d on their merged frame",
				       n, merging, still);
			ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
			enomem++;
		} else {
			if (hit)
				tolerated++;
		}
		EXPECT_EQ(0, is_member(fd, KSM_PIDFD_SELF));
		EXPECT_EQ(1, PSTAT(fd, leave_calls));
		ASSERT_EQ(0, pids_pfns(0, buf, NPG, fr));
		t = frames_truth(fr, NPG);
		EXPECT_EQ(0, t.on_ksm) TH_LOG("nth %d: pages still share after leaving", n);
		EXPECT_EQ(0, ksm_merging_pages(0));
		EXPECT_EQ(0, PSTAT(fd, pages_shared));
		EXPECT_EQ(0, PSTAT(fd, pages_sharing));
		EXPECT_EQ(0, PSTAT(fd, rmap_items));
		EXPECT_EQ(-1, first_bad_page(buf, NPG, seeds));
		close(fd);
		munmap(buf, NPG * psize());
		if (r == 0 && !hit)
			break;
	}
	EXPECT_GE(MAX_NTH, n);
	EXPECT_EQ(slab0, ksm_slab_objects())
		TH_LOG("ksm_rmap_item + ksm_stable_node objects leaked");
	printf("# ksm_leave (7 KSM-mapped pages): %d injection points: %d ENOMEM, %d tolerated\n"
	       "# ksm_leave: %d allocations when none fails\n",
	       enomem + tolerated, enomem, tolerated, n - 1);
}

/*
 * Every ksm_stable_node allocation of this task fails (failslab's cache
 * filter, probability 100, this task only), so no pair can get a stable
 * node: abi.md 5 says allocation failures stop the call with ENOMEM and
 * are not counted. The state must agree with the result in any case:
 * nothing shares, content intact, no object left behind.
 */
TEST_F_TIMEOUT(fi, merge_stable_node_alloc_fails, 120)
{
	static const char *const on[][2] = {
		{ "/sys/kernel/slab/ksm_stable_node/failslab", "1" },
		{ DBG "failslab/cache-filter", "Y" },
		{ DBG "failslab/probability", "100" },
		{ DBG "failslab/interval", "1" },
		{ DBG "failslab/times", "-1" },
		{ DBG "failslab/space", "0" },
		{ "/proc/thread-self/make-it-fail", "1" },
	};
	long slab0 = ksm_slab_objects();
	uint64_t seeds[NPG], fr[NPG];
	struct ksm_merge_result res;
	unsigned int i;
	struct truth t;
	char *buf;
	ssize_t r;
	int fd, e;

	ASSERT_LE(0, slab0);
	if (access(on[0][0], W_OK))
		SKIP(return, "no %s (SLUB without CONFIG_FAILSLAB?)", on[0][0]);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	buf = map_layout((uint64_t)getpid() << 24, seeds);
	ASSERT_NE(NULL, buf);
	/* Stop at the first setting that fails; i names it. */
	for (i = 0; i < ARRAY_SIZE(on); i++)
		if (write_string_path(on[i][0], on[i][1]))
			break;
	ASSERT_EQ(ARRAY_SIZE(on), i) TH_LOG("setting %u (%s)", i, on[i][0]);
	r = merge_range(fd, KSM_PIDFD_SELF, buf, NPG * psize(), &res);
	e = errno;
	write_string_path("/proc/thread-self/make-it-fail", "0");
	write_string_path(DBG "failslab/probability", "0");

	ASSERT_EQ(0, pids_pfns(0, buf, NPG, fr));
	t = frames_truth(fr, pages_of(r));
	EXPECT_EQ(-1, first_bad_page(buf, NPG, seeds));
	EXPECT_EQ(0, t.on_ksm) TH_LOG("pages share a frame without a stable node");
	EXPECT_EQ(0, ksm_merging_pages(0));
	EXPECT_EQ(0, PSTAT(fd, pages_shared));
	EXPECT_EQ(0, PSTAT(fd, stable_node_chains));
	if (r >= 0) {
		res_print("merge with every stable node allocation failing", &res);
		EXPECT_EQ(0, res.pages_merged);
		EXPECT_TRUE(res_invariants_hold(&res, pages_of(r)));
		/* The documented contract: an allocation failure is not a failed page. */
		EXPECT_EQ(0, res.pages_failed) {
			TH_LOG("abi.md 5: allocation failures stop the call (ENOMEM), uncounted");
			TH_LOG("the kernel returned %zd with pages_failed %llu", r,
			       (unsigned long long)res.pages_failed);
		}
	} else {
		EXPECT_EQ(ENOMEM, e);
	}
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, NPG * psize());
	EXPECT_EQ(slab0, ksm_slab_objects());
}

TEST_HARNESS_MAIN
