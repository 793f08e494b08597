// SPDX-License-Identifier: GPL-2.0
/*
 * Review 2026-12, F2, L1, L2: partition pages and global KSM (ksmd) must
 * never meet, and a partition's teardown must not wait for non-members.
 *
 * F2 (cow_shared_with_nonmember, both orders; stress; numa_merge_across_nodes_0):
 * P maps pages of 0x5a and forks C before P joins; C is never a member and
 * uses global KSM (MADV_MERGEABLE, ksmd running). Invariant: no physical
 * page is shared between a member and a non-member while it is a KSM page,
 * in either direction; ksmd never changes a partition's counters; C stays
 * outside every partition. Before the fix the partition merge converts the
 * page P still shares with C into a partition KSM page in place, and ksmd
 * then adopts that partition stable node (counters change under ksmd), or,
 * with merge_across_nodes=0, moves it into the global tree where an
 * unrelated process G merges with P's page.
 *
 * L1 (teardown_with_nonmember_mapping): 200 partitions whose only KSM page
 * is still mapped by a non-member child when the last fd and member go;
 * once the children are gone, every stable node must be freed within 2 s
 * (before: a zombie partition retries every 10 s).
 *
 * L2 (join_unmerges_cow_shared_global_page, join_unmerges_swapped_global_page):
 * joining takes a process out of global KSM completely: a global KSM page it
 * maps through COW from a child that used KSM, or one that is swapped out
 * at the join, must not be a KSM page in the member afterwards.
 *
 * KSM pages are recognised by the "KSM:" line of /proc/PID/smaps of a
 * one-page VMA (6.12's KPF_KSM is set on every anonymous page).
 * Every test restores the ksm sysfs knobs (run=2, run=0, merge_across_nodes).
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <fcntl.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"

/* A fixture only for a longer timeout (the harness default is 30 s). */
FIXTURE(long_run) {};
FIXTURE_SETUP(long_run) {}
FIXTURE_TEARDOWN(long_run) {}

#define MPOL_BIND_ 2

/* ------------------------------------------------------------------ */
/* Shared state of the processes of a test                             */

struct shm {
	uintptr_t addr;			/* the buffer (same address in P and C) */
	pid_t c_pid;
	int err;
	struct ksm_merge_result res;
	int stop;
	long iterations;
};

/* Bind [p, p+len) to node n (before it is touched). */
static int bind_to_node(void *p, size_t len, int n)
{
	unsigned long mask = 1UL << n;

	return syscall(SYS_mbind, p, len, MPOL_BIND_, &mask, 8 * sizeof(mask), 0);
}

/* The PFNs of n isolated pages at p in pid. */
static void iso_pfns(pid_t pid, const char *p, size_t n, uint64_t *out)
{
	int fd = pagemap_open(pid);
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = fd >= 0 ? pfn_of(fd, ISO(p, i)) : 0;
	if (fd >= 0)
		close(fd);
}

/*
 * Violations of "no KSM page of a shares a frame with any page of b": for
 * every isolated page i of a that is KSM, is its frame one of b's?
 * Logs each violation; returns their number.
 */
static int ksm_frames_shared(struct __test_metadata *_metadata, const char *what,
			     pid_t a, pid_t b, const char *p, size_t n)
{
	uint64_t pa[8], pb[8];
	size_t i, j;
	int bad = 0;

	iso_pfns(a, p, n, pa);
	iso_pfns(b, p, n, pb);
	for (i = 0; i < n; i++) {
		if (!pa[i] || !page_is_ksm(a, ISO(p, i)))
			continue;
		for (j = 0; j < n; j++)
			if (pb[j] == pa[i]) {
				TH_LOG("%s: KSM frame %#llx of pid %d page %zu is mapped",
				       what, (unsigned long long)pa[i], a, i);
				TH_LOG("  by pid %d page %zu", b, j);
				bad++;
			}
	}
	return bad;
}

static bool content_is(const char *p, int c)
{
	size_t i;

	for (i = 0; i < psize(); i++)
		if (p[i] != (char)c)
			return false;
	return true;
}

/* Wait until page addr of pid is a KSM page (ksmd merged it); false after timeout. */
static bool wait_ksm(pid_t pid, const void *addr, double timeout)
{
	double end = now_sec() + timeout;

	while (now_sec() < end) {
		if (page_is_ksm(pid, addr))
			return true;
		sleep_ms(50);
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* F2: a page COW-shared by a member-to-be and a non-member             */

#define F2_PAGES 2

FIXTURE(f2) {
	struct ksm_knobs knobs;
	struct shm *shm;
	struct chan cp, cc;	/* test <-> P, test <-> C */
	pid_t p, c;
	int fd;
};

FIXTURE_VARIANT(f2) {
	bool ksmd_first;	/* C's pages meet ksmd before P merges */
};

FIXTURE_VARIANT_ADD(f2, partition_merge_first) { .ksmd_first = false };
FIXTURE_VARIANT_ADD(f2, ksmd_first) { .ksmd_first = true };

/*
 * P: map F2_PAGES isolated pages of 0x5a, fork C, then on 'm' merge them
 * into fd; C: on 'g' MADV_MERGEABLE them; both exit on EOF.
 */
static void f2_p(struct shm *shm, struct chan *cp, struct chan *cc, int fd)
{
	char *buf = map_isolated(F2_PAGES);
	size_t i;
	pid_t c;
	int cmd;

	CHILD_CHECK(buf);
	for (i = 0; i < F2_PAGES; i++)
		memset(ISO(buf, i), 0x5a, psize());
	shm->addr = (uintptr_t)buf;
	c = fork();
	CHILD_CHECK(c >= 0);
	if (!c) {
		chan_child_side(cc);
		close(cp->to_child[0]);
		close(cp->to_parent[1]);
		put_byte(cc->to_parent[1], 'r');
		while ((cmd = get_byte(cc->to_child[0])) >= 0) {
			if (cmd == 'g')
				for (i = 0; i < F2_PAGES; i++)
					shm->err |= madvise(ISO(buf, i), psize(), MADV_MERGEABLE) ?
						    errno : 0;
			if (cmd == 'k')
				for (i = 0; i < F2_PAGES; i++)
					if (!content_is(ISO(buf, i), 0x5a))
						shm->err |= 0x10000;
			put_byte(cc->to_parent[1], 'd');
		}
		_exit(0);
	}
	shm->c_pid = c;
	close(cc->to_child[0]);
	close(cc->to_parent[1]);
	close(cc->to_child[1]);
	close(cc->to_parent[0]);
	put_byte(cp->to_parent[1], 'r');
	while ((cmd = get_byte(cp->to_child[0])) >= 0) {
		if (cmd == 'm') {
			if (merge_range(fd, KSM_PIDFD_SELF, buf, ISO_LEN(F2_PAGES), &shm->res) < 0)
				shm->err = errno;
		}
		if (cmd == 'k')
			for (i = 0; i < F2_PAGES; i++)
				if (!content_is(ISO(buf, i), 0x5a))
					shm->err |= 0x20000;
		put_byte(cp->to_parent[1], 'd');
	}
	waitpid(c, NULL, 0);
	_exit(0);
}

static int f2_cmd(struct chan *ch, int cmd)
{
	if (put_byte(ch->to_child[1], cmd))
		return -1;
	return get_byte(ch->to_parent[0]) == 'd' ? 0 : -1;
}

FIXTURE_SETUP(f2)
{
	ksm_knobs_save(&self->knobs);
	self->p = -1;
	self->c = -1;
	self->shm = map_shared(sizeof(*self->shm));
	ASSERT_NE(NULL, self->shm);
	ASSERT_EQ(0, ksmd_go_fast());
	self->fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, chan_open(&self->cp));
	ASSERT_EQ(0, chan_open(&self->cc));
	self->p = fork();
	ASSERT_LE(0, self->p);
	if (!self->p) {
		chan_child_side(&self->cp);
		f2_p(self->shm, &self->cp, &self->cc, self->fd);
	}
	chan_parent_side(&self->cp);
	chan_parent_side(&self->cc);
	ASSERT_EQ('r', get_byte(self->cp.to_parent[0]));
	ASSERT_EQ('r', get_byte(self->cc.to_parent[0]));
	self->c = self->shm->c_pid;
}

FIXTURE_TEARDOWN(f2)
{
	chan_parent_close(&self->cp);
	chan_parent_close(&self->cc);
	if (self->p > 0)
		waitpid(self->p, NULL, 0);
	close(self->fd);
	ksm_knobs_restore(&self->knobs);
}

TEST_F_TIMEOUT(f2, cow_shared_with_nonmember, 300)
{
	const char *buf = (const char *)self->shm->addr;
	long long shared0, sharing0, shared1, sharing1;
	int bad = 0;

	if (variant->ksmd_first) {
		/* ksmd merges C's pages first: C's copy of page 0 is shared with P */
		ASSERT_EQ(0, f2_cmd(&self->cc, 'g'));
		ASSERT_EQ(0, self->shm->err);
		ASSERT_TRUE(wait_ksm(self->c, ISO(buf, 1), 120))
			TH_LOG("ksmd did not merge C's pages");
		ASSERT_TRUE(ksmd_full_scans_wait(2, 120));
		bad += ksm_frames_shared(_metadata, "after ksmd, before the join", self->p, self->c,
					 buf, F2_PAGES);
		TH_LOG("before P joins: P maps a KSM page at 0: %d, at 1: %d (global KSM)",
		       page_is_ksm(self->p, ISO(buf, 0)), page_is_ksm(self->p, ISO(buf, 1)));
		bad = 0;	/* not a partition matter yet: only from the join on */
	}
	ASSERT_EQ(0, f2_cmd(&self->cp, 'm'));
	ASSERT_EQ(0, self->shm->err);
	res_print("P's merge", &self->shm->res);
	bad += ksm_frames_shared(_metadata, "after P's merge: P->C", self->p, self->c, buf,
				 F2_PAGES);
	bad += ksm_frames_shared(_metadata, "after P's merge: C->P", self->c, self->p, buf,
				 F2_PAGES);
	shared0 = part_fdinfo(0, self->fd, "ksm_pages_shared");
	sharing0 = part_fdinfo(0, self->fd, "ksm_pages_sharing");

	if (!variant->ksmd_first)
		ASSERT_EQ(0, f2_cmd(&self->cc, 'g'));
	ASSERT_EQ(0, self->shm->err);
	ASSERT_TRUE(ksmd_full_scans_wait(3, 180)) TH_LOG("ksmd made no 3 full scans");

	shared1 = part_fdinfo(0, self->fd, "ksm_pages_shared");
	sharing1 = part_fdinfo(0, self->fd, "ksm_pages_sharing");
	TH_LOG("partition: pages_shared %lld -> %lld, pages_sharing %lld -> %lld across ksmd scans;"
	       " C: ksm_partition %ld ksm_merging_pages %ld",
	       shared0, shared1, sharing0, sharing1, ksm_stat(self->c, "ksm_partition"),
	       ksm_stat(self->c, "ksm_merging_pages"));
	bad += ksm_frames_shared(_metadata, "after ksmd: P->C", self->p, self->c, buf, F2_PAGES);
	bad += ksm_frames_shared(_metadata, "after ksmd: C->P", self->c, self->p, buf, F2_PAGES);
	EXPECT_EQ(shared0, shared1) TH_LOG("ksmd changed the partition's pages_shared");
	EXPECT_EQ(sharing0, sharing1) TH_LOG("ksmd changed the partition's pages_sharing");
	EXPECT_EQ(0, ksm_stat(self->c, "ksm_partition"));
	EXPECT_EQ(0, bad) TH_LOG("F2: a KSM page is shared between a member and a non-member");
	ASSERT_EQ(0, f2_cmd(&self->cp, 'k'));
	ASSERT_EQ(0, f2_cmd(&self->cc, 'k'));
	EXPECT_EQ(0, self->shm->err) TH_LOG("content changed");
}

/* ------------------------------------------------------------------ */
/* F2 stress: the partition and ksmd on the same stable node            */

#define ST_PAGES 8

/* One round: P (fresh, non-member) and its child C race for secs seconds. */
static int stress_round(double secs, int round)
{
	struct shm *shm = map_shared(sizeof(*shm));
	pid_t p;
	int st;

	if (!shm)
		return -1;
	p = fork();
	if (p < 0)
		return -1;
	if (!p) {
		size_t ps = psize(), len = ST_PAGES * ps;
		char *buf = map_anon(ST_PAGES);
		double end;
		int fd = sys_ksm_open(NULL, 0, 0);
		pid_t c;
		long long sh, sg, ri;

		CHILD_CHECK(buf && fd >= 0);
		memset(buf, 0x5a, len);
		c = fork();
		CHILD_CHECK(c >= 0);
		if (!c) {
			/* C: global KSM on the pages, and keeps replacing some */
			unsigned int i = 0;

			close(fd);
			madvise(buf, len, MADV_MERGEABLE);
			while (!KSM_READ_ONCE(shm->stop)) {
				char *pg = buf + (i++ % ST_PAGES) * ps;

				if (munmap(pg, ps) ||
				    mmap(pg, ps, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != pg)
					_exit(3);
				memset(pg, 0x5a, ps);
				madvise(pg, ps, MADV_MERGEABLE);
				sleep_ms(1);
			}
			munmap(buf, len);
			while (KSM_READ_ONCE(shm->stop) < 2)
				sleep_ms(5);
			_exit(0);
		}
		end = now_sec() + secs;
		while (now_sec() < end) {
			merge_range(fd, KSM_PIDFD_SELF, buf, len, NULL);
			unmerge_range(fd, KSM_PIDFD_SELF, buf + ps, ps);
			shm->iterations++;
		}
		/* Quiesce: P unmerges all, C unmaps all; ksmd drops C's items. */
		unmerge_range(fd, KSM_PIDFD_SELF, buf, len);
		KSM_WRITE_ONCE(shm->stop, 1);
		sleep_ms(50);
		if (!ksmd_full_scans_wait(2, 60))
			fprintf(stderr, "# round %d: ksmd made no 2 full scans in 60 s\n", round);
		sh = part_fdinfo(0, fd, "ksm_pages_shared");
		sg = part_fdinfo(0, fd, "ksm_pages_sharing");
		ri = part_fdinfo(0, fd, "ksm_rmap_items");
		KSM_WRITE_ONCE(shm->stop, 2);
		waitpid(c, &st, 0);
		if (sh || sg || ri) {
			fprintf(stderr,
				"# round %d: partition left with pages_shared %lld pages_sharing %lld rmap_items %lld after everything was unmerged and unmapped\n",
				round, sh, sg, ri);
			_exit(10);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			_exit(11);
		close(fd);
		fprintf(stderr, "# round %d: %ld merge/unmerge iterations, counters back to 0\n",
			round, shm->iterations);
		_exit(0);
	}
	st = wait_status(p);
	munmap(shm, sizeof(*shm));
	return st;
}

TEST_F_TIMEOUT(long_run, f2_stress, 300)
{
	double secs = getenv("KSM_F2_STRESS_SECONDS") ? atof(getenv("KSM_F2_STRESS_SECONDS")) : 30;
	double end = now_sec() + secs;
	struct ksm_knobs knobs;
	int round = 0, st = 0;

	ksm_knobs_save(&knobs);
	ASSERT_EQ(0, ksm_sysfs_write("pages_to_scan", 10000));
	ASSERT_EQ(0, ksm_sysfs_write("sleep_millisecs", 0));
	ASSERT_EQ(0, ksm_sysfs_write("run", 1));
	while (now_sec() < end && !st)
		st = stress_round(3, ++round);
	TH_LOG("%d rounds of %.0f s", round, secs);
	ksm_knobs_restore(&knobs);
	EXPECT_EQ(0, st) TH_LOG("round %d failed with status %d", round, st);
}

/* ------------------------------------------------------------------ */
/* L1: teardown while a non-member maps the partition's page            */

#define L1_ROUNDS 200

TEST_F_TIMEOUT(long_run, teardown_with_nonmember_mapping, 600)
{
	static const char *const names[] = { "ksm_stable_node" };
	long base, now = -1, pshared0;
	pid_t kids[L1_ROUNDS];
	int release[2], i, merged = 0;
	char why[256];
	bool merged_cache;
	double t;

	base = slab_objects(names, 1, &merged_cache, why, sizeof(why));
	if (base < 0)
		SKIP(return, "%s", why);
	pshared0 = ksm_sysfs_read("partitions/pages_shared");
	ASSERT_EQ(0, pipe2(release, O_CLOEXEC));
	for (i = 0; i < L1_ROUNDS; i++) {
		uint64_t m = 0;
		int sync[2], st;
		pid_t p;

		ASSERT_EQ(0, pipe2(sync, O_CLOEXEC));
		p = fork();
		ASSERT_LE(0, p);
		if (!p) {
			struct ksm_merge_result res;
			char *buf = map_anon(2);
			pid_t c;
			int fd;

			CHILD_CHECK(buf);
			fill_page(buf, 1000 + i);
			fill_page(buf + psize(), 1000 + i);
			c = fork();
			CHILD_CHECK(c >= 0);
			if (!c) {
				/* C: never a member; keeps the pages until released */
				close(release[1]);
				get_byte(release[0]);
				_exit(0);
			}
			fd = sys_ksm_open(NULL, 0, 0);
			CHILD_CHECK(fd >= 0);
			CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize(), &res) >= 0);
			CHILD_CHECK(write(sync[1], &c, sizeof(c)) == sizeof(c));
			CHILD_CHECK(write(sync[1], &res.pages_merged, sizeof(res.pages_merged)) ==
				    sizeof(res.pages_merged));
			close(fd);
			_exit(0);
		}
		close(sync[1]);
		ASSERT_EQ(sizeof(kids[i]), read(sync[0], &kids[i], sizeof(kids[i])));
		if (read(sync[0], &m, sizeof(m)) == sizeof(m))
			merged += m;
		close(sync[0]);
		st = wait_status(p);
		ASSERT_EQ(0, st);
	}
	TH_LOG("%d partitions, %d pages merged in them;"
	       " stable nodes %ld (baseline %ld) with the non-member children alive",
	       L1_ROUNDS, merged,
	       slab_objects(names, 1, &merged_cache, why, sizeof(why)), base);
	close(release[1]);
	for (i = 0; i < L1_ROUNDS; i++)
		waitpid(kids[i], NULL, 0);
	close(release[0]);
	for (t = now_sec(); now_sec() - t < 2;) {
		now = slab_objects(names, 1, &merged_cache, why, sizeof(why));
		if (now <= base)
			break;
		sleep_ms(100);
	}
	TH_LOG("%.1f s after the children exited: ksm_stable_node objects %ld (baseline %ld)%s",
	       now_sec() - t, now, base, merged_cache ? " (cache merged with others)" : "");
	EXPECT_LE(now, base) TH_LOG("L1: stable nodes of released partitions not freed within 2 s");
	if (pshared0 >= 0)
		EXPECT_EQ(pshared0, ksm_sysfs_read("partitions/pages_shared"));
	if (ksm_sysfs_read("partitions/nr_partitions") >= 0)
		TH_LOG("partitions/nr_partitions %ld", ksm_sysfs_read("partitions/nr_partitions"));
}

/* ------------------------------------------------------------------ */
/* L2: the join leaves global KSM completely                            */

/*
 * A process holding one isolated page of content c; commands on its chan:
 * 'g' MADV_MERGEABLE, 'f' fork a child that does 'g' on the inherited page
 * and pauses (its pid in shm->c_pid), 'v' vmsplice the page into a pipe and
 * MADV_PAGEOUT it (shm->err = 0 if pagemap then says swapped), 'k' read it
 * and check the content (shm->err), 'x' close the pipe. EOF: exit.
 */
static void holder(struct shm *shm, struct chan *ch, int c)
{
	char *buf = map_isolated(1);
	int cmd, pipefd[2] = { -1, -1 };
	pid_t kid = 0;

	CHILD_CHECK(buf);
	memset(buf, c, psize());
	shm->addr = (uintptr_t)buf;
	put_byte(ch->to_parent[1], 'r');
	while ((cmd = get_byte(ch->to_child[0])) >= 0) {
		switch (cmd) {
		case 'g':
			shm->err = madvise(buf, psize(), MADV_MERGEABLE) ? errno : 0;
			break;
		case 'f':
			kid = fork();
			if (!kid) {
				madvise(buf, psize(), MADV_MERGEABLE);
				for (;;)
					pause();
			}
			shm->c_pid = kid;
			break;
		case 'v': {
			struct iovec iov = { .iov_base = buf, .iov_len = psize() };
			int pm;

			shm->err = 0;
			if (pipe(pipefd) || vmsplice(pipefd[1], &iov, 1, 0) != (ssize_t)psize()) {
				shm->err = errno ?: -1;
				break;
			}
			if (madvise(buf, psize(), MADV_PAGEOUT)) {
				shm->err = errno;
				break;
			}
			pm = pagemap_open(0);
			shm->err = (pagemap_entry(pm, buf) & PM_SWAP) ? 0 : -2;
			close(pm);
			break;
		}
		case 'k':
			shm->err = content_is(buf, c) ? 0 : -3;
			break;
		case 'x':
			close(pipefd[0]);
			close(pipefd[1]);
			break;
		}
		put_byte(ch->to_parent[1], 'd');
	}
	if (kid > 0) {
		kill(kid, SIGKILL);
		waitpid(kid, NULL, 0);
	}
	_exit(0);
}

static pid_t start_holder(struct shm *shm, struct chan *ch, int c)
{
	pid_t pid;

	if (chan_open(ch))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		chan_child_side(ch);
		holder(shm, ch, c);
	}
	chan_parent_side(ch);
	if (get_byte(ch->to_parent[0]) != 'r')
		return -1;
	return pid;
}

TEST_F_TIMEOUT(long_run, join_unmerges_cow_shared_global_page, 300)
{
	struct shm *st = map_shared(sizeof(*st)), *sm = map_shared(sizeof(*sm));
	struct ksm_knobs knobs;
	struct chan ct, cm;
	pid_t t, m;
	int fd, pidfd;
	char *x;

	ASSERT_TRUE(st && sm);
	ksm_knobs_save(&knobs);
	ASSERT_EQ(0, ksmd_go_fast());
	/* T first, so that ksmd meets T's copy first and converts G's in place */
	t = start_holder(st, &ct, 0x6b);
	ASSERT_LT(0, t);
	ASSERT_EQ(0, f2_cmd(&ct, 'g'));
	m = start_holder(sm, &cm, 0x6b);
	ASSERT_LT(0, m);
	x = (char *)sm->addr;
	ASSERT_EQ(0, f2_cmd(&cm, 'f'));		/* G: M's child, MADV_MERGEABLE */
	ASSERT_TRUE(wait_ksm(m, x, 120))
		TH_LOG("setup: ksmd did not make M's page (COW-shared with G) a KSM page");
	TH_LOG("before the join: M (never used KSM) maps a global KSM page; ksm_merging_pages %ld",
	       ksm_stat(m, "ksm_merging_pages"));

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	pidfd = sys_pidfd_open(m, 0);
	ASSERT_LE(0, pidfd);
	ASSERT_EQ(0, join_partition(fd, pidfd, NULL));
	ASSERT_EQ(1, is_member(fd, pidfd));

	EXPECT_FALSE(page_is_ksm(m, x)) TH_LOG("L2: the new member still maps a global KSM page");
	EXPECT_EQ(0, ksm_stat(m, "ksm_merging_pages"));
	ASSERT_EQ(0, f2_cmd(&cm, 'k'));
	EXPECT_EQ(0, sm->err) TH_LOG("content changed");

	chan_parent_close(&cm);
	chan_parent_close(&ct);
	waitpid(m, NULL, 0);
	waitpid(t, NULL, 0);
	close(pidfd);
	close(fd);
	ksm_knobs_restore(&knobs);
}

TEST_F_TIMEOUT(long_run, join_unmerges_swapped_global_page, 300)
{
	struct shm *st = map_shared(sizeof(*st)), *sm = map_shared(sizeof(*sm));
	struct ksm_knobs knobs;
	struct chan ct, cm;
	int fd, pidfd, made;
	char why[256];
	pid_t t, m;
	char *x;

	ASSERT_TRUE(st && sm);
	made = swap_on_zram(why, sizeof(why));
	if (made < 0)
		SKIP(return, "%s", why);
	ksm_knobs_save(&knobs);
	ASSERT_EQ(0, ksmd_go_fast());
	m = start_holder(sm, &cm, 0x6c);
	ASSERT_LT(0, m);
	x = (char *)sm->addr;
	t = start_holder(st, &ct, 0x6c);
	ASSERT_LT(0, t);
	ASSERT_EQ(0, f2_cmd(&cm, 'g'));
	ASSERT_EQ(0, f2_cmd(&ct, 'g'));
	ASSERT_TRUE(wait_ksm(m, x, 120)) TH_LOG("setup: ksmd did not merge M's page with T's");
	/* T goes: M alone maps the global KSM page (MADV_PAGEOUT needs that) */
	chan_parent_close(&ct);
	waitpid(t, NULL, 0);
	/* A pipe keeps a reference: the page stays in the swap cache, swapped out of M */
	ASSERT_EQ(0, f2_cmd(&cm, 'v'));
	ASSERT_EQ(0, sm->err) TH_LOG("setup: M's KSM page was not swapped out (err %d)", sm->err);

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	pidfd = sys_pidfd_open(m, 0);
	ASSERT_LE(0, pidfd);
	ASSERT_EQ(0, join_partition(fd, pidfd, NULL));
	ASSERT_EQ(1, is_member(fd, pidfd));
	ASSERT_EQ(0, f2_cmd(&cm, 'k'));		/* touch: swap-in */
	EXPECT_EQ(0, sm->err) TH_LOG("content changed");
	EXPECT_FALSE(page_is_ksm(m, x))
		TH_LOG("L2: after the join, the swapped-out global KSM page came back as KSM");
	EXPECT_EQ(0, ksm_stat(m, "ksm_merging_pages"));
	ASSERT_EQ(0, f2_cmd(&cm, 'x'));

	chan_parent_close(&cm);
	waitpid(m, NULL, 0);
	close(pidfd);
	close(fd);
	ksm_knobs_restore(&knobs);
	swap_on_zram_undo(made);
}

/* ------------------------------------------------------------------ */
/* F2, NUMA: merge_across_nodes=0 must not move a partition node         */

TEST_F_TIMEOUT(long_run, numa_merge_across_nodes_0, 600)
{
	struct shm *sp = map_shared(sizeof(*sp)), *sg = map_shared(sizeof(*sg));
	long long shared0, shared1;
	struct ksm_knobs knobs;
	uint64_t pp[F2_PAGES], pg[F2_PAGES];
	int sync[2], gsync[2], fd, i, j, bad = 0;
	pid_t p, g;
	char *buf;

	if (!numa_node_online(1))
		SKIP(return, "one NUMA node only (the VM boots with numa=fake=2)");
	ASSERT_TRUE(sp && sg);
	ksm_knobs_save(&knobs);
	ASSERT_EQ(0, ksm_sysfs_write("run", 2));
	ASSERT_EQ(0, ksm_sysfs_write("run", 0));
	ASSERT_EQ(0, ksm_sysfs_write("merge_across_nodes", 0))
		TH_LOG("merge_across_nodes=0: %s", strerror(errno));
	ASSERT_EQ(0, ksmd_go_fast());
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe2(sync, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(gsync, O_CLOEXEC));

	p = fork();
	ASSERT_LE(0, p);
	if (!p) {
		/* P: pages on node 1, a child C with global KSM, then merge */
		pid_t c;

		close(gsync[1]);
		close(sync[0]);
		buf = map_isolated(F2_PAGES);
		CHILD_CHECK(buf);
		for (i = 0; i < F2_PAGES; i++) {
			CHILD_CHECK(bind_to_node(ISO(buf, i), psize(), 1) == 0);
			memset(ISO(buf, i), 0x5a, psize());
		}
		sp->addr = (uintptr_t)buf;
		c = fork();
		CHILD_CHECK(c >= 0);
		if (!c) {
			for (i = 0; i < F2_PAGES; i++)
				madvise(ISO(buf, i), psize(), MADV_MERGEABLE);
			for (;;)
				pause();
		}
		sp->c_pid = c;
		if (merge_range(fd, KSM_PIDFD_SELF, buf, ISO_LEN(F2_PAGES), &sp->res) < 0)
			sp->err = errno;
		put_byte(sync[1], 'r');
		get_byte(gsync[0]);	/* EOF: end */
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		_exit(0);
	}
	close(sync[1]);
	close(gsync[0]);
	ASSERT_EQ('r', get_byte(sync[0]));
	ASSERT_EQ(0, sp->err);
	buf = (char *)sp->addr;
	res_print("P's merge (pages on node 1)", &sp->res);
	TH_LOG("P's pages on nodes %d %d", page_node_of(p, ISO(buf, 0)),
	       page_node_of(p, ISO(buf, 1)));
	shared0 = part_fdinfo(0, fd, "ksm_pages_shared");
	ASSERT_TRUE(ksmd_full_scans_wait(3, 180));
	shared1 = part_fdinfo(0, fd, "ksm_pages_shared");
	TH_LOG("partition pages_shared %lld -> %lld across ksmd scans; P maps a KSM page: %d %d",
	       shared0, shared1, page_is_ksm(p, ISO(buf, 0)), page_is_ksm(p, ISO(buf, 1)));
	if (page_is_ksm(p, ISO(buf, 0)) || page_is_ksm(p, ISO(buf, 1)))
		EXPECT_LE(shared0, shared1)
			TH_LOG("F2: ksmd took the partition's stable node while P maps its page");

	/* G: unrelated, 0x5a on node 1, global KSM */
	g = fork();
	ASSERT_LE(0, g);
	if (!g) {
		char *gb = map_isolated(F2_PAGES);

		CHILD_CHECK(gb);
		for (i = 0; i < F2_PAGES; i++) {
			CHILD_CHECK(bind_to_node(ISO(gb, i), psize(), 1) == 0);
			memset(ISO(gb, i), 0x5a, psize());
			madvise(ISO(gb, i), psize(), MADV_MERGEABLE);
		}
		sg->addr = (uintptr_t)gb;
		for (;;)
			pause();
	}
	while (!sg->addr)
		sleep_ms(10);
	ASSERT_TRUE(ksmd_full_scans_wait(3, 180));
	iso_pfns(p, buf, F2_PAGES, pp);
	iso_pfns(g, (char *)sg->addr, F2_PAGES, pg);
	for (i = 0; i < F2_PAGES; i++)
		for (j = 0; j < F2_PAGES; j++)
			if (pp[i] && pp[i] == pg[j]) {
				TH_LOG("F2: global G page %d shares frame %#llx with P page %d",
				       j, (unsigned long long)pp[i], i);
				bad++;
			}
	EXPECT_EQ(0, bad);
	bad += ksm_frames_shared(_metadata, "P->C", p, sp->c_pid, buf, F2_PAGES);

	kill(g, SIGKILL);
	waitpid(g, NULL, 0);
	close(gsync[1]);
	waitpid(p, NULL, 0);
	close(sync[0]);
	close(fd);
	ksm_knobs_restore(&knobs);
}

TEST_HARNESS_MAIN
