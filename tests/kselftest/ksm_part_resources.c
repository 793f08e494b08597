// SPDX-License-Identifier: GPL-2.0
/*
 * Review 2026-12, F5, F7, F9, L5, L6: what a partition call costs must be
 * charged to the caller and bounded, and must not stall others.
 *
 * F5 (memcg_charges_rmap_items): a process in a cgroup with memory.max=64M
 * merges 16 MiB chunks of one pattern, keeping them mapped. Its rmap items
 * must be charged to the cgroup (memory.stat slab >= 50% of rmap_items*64
 * bytes), so that the cgroup's own limit stops it (ksm_merge ENOMEM or a
 * memcg OOM kill) before 8 GiB of virtual memory. Before the fix the items
 * are uncharged slab.
 *
 * F7 (leave_of_huge_mapping_does_not_block_exit): member M1 with a 64 TiB
 * MAP_NORESERVE mapping (one page touched and merged) calls ksm_leave while
 * member M2 exits: M2 must be reaped within 5 s, ksm_leave return within
 * 10 s. Before the fix the leave walks every page of 64 TiB under the
 * partition lock and M2 waits in D state.
 *
 * F9 (crafted_checksum_collisions): 20000 different pages with one xxh64
 * checksum (per-lane round of xxh64 inverted: word 0 changed, word 4 of
 * the same lane compensates), merged one per call: each becomes a candidate
 * or fails (the kernel may bound the pages it keeps per checksum); the mean
 * time of the last 2000 calls must stay within 3x that of the first 2000,
 * and another member's merge of an unrelated page within 1 s.
 *
 * L5 (lru_drain_rate_limited): 1000 ksm_merge calls each failing on a page a
 * pipe holds (vmsplice) may fan out the system-wide LRU drain
 * (workqueue_queue_work of lru_add_drain_per_cpu) at most 20 times, plus
 * one per second they took (a time-based rate limit; on one vCPU the calls
 * cannot be fast, see below: the faulter takes half the CPU). The
 * drain only queues work for CPUs with pending LRU batches, and the call
 * drains this CPU's own first: so a process faulting pages in runs beside
 * (on this CPU, too), and each call first goes through 256 pages (pauses at
 * cond_resched() let it fill the batches) before the held page fails.
 *
 * L6 (name_lookup_scales, create_on_existing_allocates_nothing): with 50000
 * names in another IPC namespace, looking up a fresh name must cost at most
 * 3x what it costs with 10; ksm_open(existing, CREATE) on one's own
 * partition returns it without allocating a partition (kmem tracepoints of
 * the call compared with a plain open of the same name).
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "kselftest_harness.h"

/* A fixture only for a longer timeout (the harness default is 30 s). */
FIXTURE(long_run) {};
FIXTURE_SETUP(long_run) {}
FIXTURE_TEARDOWN(long_run) {}

/* ------------------------------------------------------------------ */
/* F5                                                                   */

#define F5_CHUNK (16UL << 20)
#define F5_MAX_CHUNKS 512		/* 8 GiB */
#define F5_CHECK_AT 64			/* 1 GiB: items must be charged by then */
#define F5_LIMIT (64LL << 20)		/* the cgroup's memory.max */

struct f5_shm {
	long chunks;
	int err;		/* errno of a failed ksm_merge */
	int done;
	int go;			/* parent: continue after a check */
};

TEST_F_TIMEOUT(long_run, memcg_charges_rmap_items, 900)
{
	struct f5_shm *shm = map_shared(sizeof(*shm));
	long long slab = 0, items = 0, items_max, oom;
	char cg[PATH_MAX], why[256], file[PATH_MAX + 64];
	bool enabled, checked = false, ratio_ok = true;
	int fd, st;
	pid_t pid;

	ASSERT_NE(NULL, shm);
	if (test_cgroup_create(cg, sizeof(cg), "f5", &enabled, why, sizeof(why)))
		SKIP(return, "%s", why);
	snprintf(file, sizeof(file), "%s/memory.max", cg);
	snprintf(why, sizeof(why), "%lld", F5_LIMIT);
	ASSERT_EQ(0, write_string_path(file, why));
	snprintf(file, sizeof(file), "%s/memory.swap.max", cg);
	write_string_path(file, "0");
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	/*
	 * The limit may end this with a memcg OOM kill, whose report (with a
	 * stack) is not a kernel bug: tell tests/vm/splat-scan to expect it.
	 */
	kmsg_note("ksmpart-test: expect memcg oom");
	KSM_WRITE_ONCE(shm->go, F5_CHECK_AT);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		CHILD_CHECK(test_cgroup_enter(cg, 0) == 0);
		while (KSM_READ_ONCE(shm->chunks) < F5_MAX_CHUNKS) {
			char *p = mmap(NULL, F5_CHUNK, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

			if (p == MAP_FAILED) {
				KSM_WRITE_ONCE(shm->err, errno);
				break;
			}
			madvise(p, F5_CHUNK, MADV_NOHUGEPAGE);
			memset(p, 0x11, F5_CHUNK);
			if (merge_range(fd, KSM_PIDFD_SELF, p, F5_CHUNK, NULL) < 0) {
				KSM_WRITE_ONCE(shm->err, errno);
				break;
			}
			KSM_WRITE_ONCE(shm->chunks, KSM_READ_ONCE(shm->chunks) + 1);
			while (KSM_READ_ONCE(shm->chunks) >= KSM_READ_ONCE(shm->go) &&
			       KSM_READ_ONCE(shm->go) < F5_MAX_CHUNKS)
				sleep_ms(10);
		}
		KSM_WRITE_ONCE(shm->done, 1);
		_exit(0);
	}
	for (;;) {
		st = wait_status_timeout(pid, 0.2);
		if (st != -2)
			break;
		if (!checked && KSM_READ_ONCE(shm->chunks) >= F5_CHECK_AT) {
			items = part_fdinfo(0, fd, "ksm_rmap_items");
			slab = cgroup_stat(cg, "memory.stat", "slab");
			checked = true;
			ratio_ok = slab >= items * 64 / 2;
			snprintf(file, sizeof(file), "%s/memory.current", cg);
			TH_LOG("after %ld chunks (%ld MiB virtual): rmap_items %lld (%lld KiB)",
			       KSM_READ_ONCE(shm->chunks),
			       KSM_READ_ONCE(shm->chunks) * (F5_CHUNK >> 20), items,
			       items * 64 >> 10);
			TH_LOG("  cgroup memory.current %ld KiB, memory.stat slab %lld KiB",
			       read_long_path(file) >> 10, slab >> 10);
			if (!ratio_ok) {
				kill(pid, SIGKILL);
				continue;
			}
			KSM_WRITE_ONCE(shm->go, F5_MAX_CHUNKS);
		}
	}
	oom = cgroup_stat(cg, "memory.events", "oom_kill");
	TH_LOG("stopped after %ld chunks (%ld MiB virtual): status %d, ksm_merge errno %d",
	       KSM_READ_ONCE(shm->chunks), KSM_READ_ONCE(shm->chunks) * (F5_CHUNK >> 20), st,
	       KSM_READ_ONCE(shm->err));
	TH_LOG("  oom_kill %lld, rmap_items %lld", oom, part_fdinfo(0, fd, "ksm_rmap_items"));
	close(fd);
	test_cgroup_remove(cg, enabled);
	EXPECT_TRUE(checked);
	EXPECT_TRUE(ratio_ok)
		TH_LOG("F5: %lld rmap items (%lld KiB), only %lld KiB of slab charged",
		       items, items * 64 >> 10, slab >> 10);
	/*
	 * With 4 KiB pages 8 GiB take 128 MiB of rmap items, twice the limit;
	 * with 64 KiB pages only 8 MiB, which the limit cannot stop (a merge
	 * amplifies kernel memory 16 times less): then the charging above is
	 * all there is to check.
	 */
	items_max = (long long)F5_MAX_CHUNKS * (F5_CHUNK / psize()) * 64;
	if (items_max <= F5_LIMIT) {
		TH_LOG("%zu-byte pages: %ld MiB take %lld KiB of rmap items,",
		       psize(), F5_MAX_CHUNKS * (F5_CHUNK >> 20), items_max >> 10);
		TH_LOG("  under the %lld MiB limit: not checking that it stops the merges",
		       F5_LIMIT >> 20);
	} else if (ratio_ok) {
		EXPECT_TRUE(KSM_READ_ONCE(shm->err) == ENOMEM || oom >= 1)
			TH_LOG("F5: the cgroup's limit never stopped the merges (%ld chunks)",
			       KSM_READ_ONCE(shm->chunks));
	}
}

/* ------------------------------------------------------------------ */
/* F7                                                                   */

struct f7_shm {
	double leave_start, leave_end;
	int leave_ret, leave_errno;
	size_t mapped;
};

TEST_F_TIMEOUT(long_run, leave_of_huge_mapping_does_not_block_exit, 300)
{
	struct f7_shm *shm = map_shared(sizeof(*shm));
	int to1[2], from1[2], to2[2], from2[2], fd, st2, st1;
	double t_exit;
	char state = 0;
	pid_t m1, m2;

	ASSERT_NE(NULL, shm);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe2(to1, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(from1, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(to2, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(from2, O_CLOEXEC));
	m1 = fork();
	ASSERT_LE(0, m1);
	if (!m1) {
		size_t len = 64ULL << 40;
		char *p = MAP_FAILED;

		for (; len >= (1ULL << 40) && p == MAP_FAILED; len >>= 1)
			p = mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		CHILD_CHECK(p != MAP_FAILED);
		shm->mapped = len << 1;
		memset(p, 0x13, psize());
		CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, p, psize(), NULL) >= 0);
		put_byte(from1[1], 'r');
		get_byte(to1[0]);
		KSM_WRITE_ONCE(shm->leave_start, now_sec());
		KSM_WRITE_ONCE(shm->leave_ret, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
		KSM_WRITE_ONCE(shm->leave_errno, errno);
		KSM_WRITE_ONCE(shm->leave_end, now_sec());
		_exit(0);
	}
	m2 = fork();
	ASSERT_LE(0, m2);
	if (!m2) {
		char *p = map_anon(1);

		CHILD_CHECK(p);
		memset(p, 0x14, psize());
		CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, p, psize(), NULL) >= 0);
		put_byte(from2[1], 'r');
		get_byte(to2[0]);
		_exit(0);
	}
	ASSERT_EQ('r', get_byte(from1[0]));
	ASSERT_EQ('r', get_byte(from2[0]));
	TH_LOG("M1 maps %zu GiB, one page merged; members %lld", shm->mapped >> 30,
	       part_fdinfo(0, fd, "ksm_members"));

	put_byte(to1[1], 'l');
	sleep_ms(500);
	t_exit = now_sec();
	put_byte(to2[1], 'x');
	st2 = wait_status_timeout(m2, 5);
	if (st2 == -2)
		state = proc_state_of(m2);
	TH_LOG("M2 exit(0): %s after %.2f s%s%c", st2 == -2 ? "NOT reaped" : "reaped",
	       now_sec() - t_exit, state ? ", state " : "", state ? state : ' ');
	EXPECT_EQ(0, st2) TH_LOG("F7: a member's exit waits behind ksm_leave of another");
	st1 = wait_status_timeout(m1, 10 - (now_sec() - KSM_READ_ONCE(shm->leave_start)));
	TH_LOG("ksm_leave: %s (%.2f s)", st1 == -2 ? "still running at 10 s" : "returned",
	       (st1 == -2 ? now_sec() : KSM_READ_ONCE(shm->leave_end)) -
	       KSM_READ_ONCE(shm->leave_start));
	EXPECT_EQ(0, st1) TH_LOG("F7: ksm_leave of a 64 TiB mapping took more than 10 s");
	if (st1 == -2) {
		kill(m1, SIGKILL);
		wait_status(m1);
	}
	if (st2 == -2)
		TH_LOG("M2 reaped %d s after M1 was killed",
		       wait_status_timeout(m2, 60) == -2 ? -1 : 0);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* F9: xxh64 collisions                                                 */

#define XP1 0x9E3779B185EBCA87ULL
#define XP2 0xC2B2AE3D27D4EB4FULL
#define XP3 0x165667B19E3779F9ULL
#define XP4 0x85EBCA77C2B2AE63ULL

static inline uint64_t rotl64(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t xround(uint64_t acc, uint64_t in)
{
	acc += in * XP2;
	acc = rotl64(acc, 31);
	return acc * XP1;
}

static uint64_t xmerge(uint64_t acc, uint64_t val)
{
	acc ^= xround(0, val);
	return acc * XP1 + XP4;
}

/* xxh64(p, 4096, 0), as the kernel's xxhash() on 64-bit (mm/ksm.c calc_checksum) */
static uint64_t xxh64_page(const uint64_t *w)
{
	uint64_t v1 = XP1 + XP2, v2 = XP2, v3 = 0, v4 = -XP1, h;
	size_t i, n = psize() / 8;

	for (i = 0; i < n; i += 4) {
		v1 = xround(v1, w[i]);
		v2 = xround(v2, w[i + 1]);
		v3 = xround(v3, w[i + 2]);
		v4 = xround(v4, w[i + 3]);
	}
	h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
	h = xmerge(h, v1);
	h = xmerge(h, v2);
	h = xmerge(h, v3);
	h = xmerge(h, v4);
	h += psize();
	h ^= h >> 33;
	h *= XP2;
	h ^= h >> 29;
	h *= XP3;
	h ^= h >> 32;
	return h;
}

static uint64_t inv64(uint64_t a)
{
	uint64_t x = a;
	int i;

	for (i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

/* The input word that takes lane accumulator acc_in to acc_out. */
static uint64_t xround_inverse(uint64_t acc_in, uint64_t acc_out)
{
	uint64_t t = acc_out * inv64(XP1);

	t = (t >> 31) | (t << 33);	/* rotr 31 */
	return (t - acc_in) * inv64(XP2);
}

/* Page k of the family: the base page with words 0 and 4 (lane 0) changed. */
static void collide_page(uint64_t *w, const uint64_t *base, uint64_t k)
{
	uint64_t v0 = XP1 + XP2, after1 = xround(xround(v0, base[0]), base[4]);

	memcpy(w, base, psize());
	w[0] = base[0] ^ ((k + 1) * 0x9E3779B97F4A7C15ULL);
	w[4] = xround_inverse(xround(v0, w[0]), after1);
}

#define F9_PAGES 20000
#define F9_WIN 2000

struct f9_shm {
	int stop;
	double max_lat;
	long calls;
};

TEST_F_TIMEOUT(long_run, crafted_checksum_collisions, 900)
{
	long n = getenv("KSM_F9_PAGES") ? atol(getenv("KSM_F9_PAGES")) : F9_PAGES;
	struct f9_shm *shm = map_shared(sizeof(*shm));
	double first = 0, last = 0, *lat, t0 = now_sec();
	uint64_t *base, h0;
	long i, done = 0, win, candidates = 0;
	int fd, bad = 0;
	bool early = false;
	char *buf;
	pid_t s;

	ASSERT_NE(NULL, shm);
	ASSERT_LE(2 * F9_WIN, n);
	lat = calloc(n, sizeof(*lat));
	base = malloc(psize());
	buf = map_anon(n);
	ASSERT_TRUE(lat && base && buf);
	fill_page(base, 0xF9);
	h0 = xxh64_page(base);
	for (i = 0; i < n; i++) {
		collide_page((uint64_t *)(buf + i * psize()), base, i);
		if (i < 100 && xxh64_page((uint64_t *)(buf + i * psize())) != h0)
			bad++;
	}
	ASSERT_EQ(0, bad) TH_LOG("the generator does not produce xxh64 collisions");
	TH_LOG("%ld distinct pages with xxh64 %#llx generated", n, (unsigned long long)h0);

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, NULL));
	s = fork();
	ASSERT_LE(0, s);
	if (!s) {
		/* Another member: an unrelated page merged now and then */
		char *p = map_anon(1);
		uint64_t k = 0;

		CHILD_CHECK(p);
		while (!KSM_READ_ONCE(shm->stop)) {
			double t;

			fill_page(p, 0x5EC0000 + k++);
			t = now_sec();
			CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, p, psize(), NULL) >= 0);
			t = now_sec() - t;
			if (t > KSM_READ_ONCE(shm->max_lat))
				KSM_WRITE_ONCE(shm->max_lat, t);
			KSM_WRITE_ONCE(shm->calls, KSM_READ_ONCE(shm->calls) + 1);
			sleep_ms(200);
		}
		_exit(0);
	}
	for (i = 0; i < n; i++) {
		struct ksm_merge_result res;
		double t = now_sec();

		if (merge_range(fd, KSM_PIDFD_SELF, buf + i * psize(), psize(), &res) < 0) {
			TH_LOG("merge %ld: %s", i, strerror(errno));
			break;
		}
		lat[i] = now_sec() - t;
		/*
		 * Each page is looked at once: it becomes a candidate, or fails
		 * when the kernel bounds the pages it keeps per checksum.
		 */
		if (res.pages_unshared == 1)
			candidates++;
		else if (res.pages_failed != 1 && bad++ < 3)
			res_print("neither a candidate nor failed", &res);
		done = i + 1;
		/* Bounded: the quadratic case would take hours at 20000 */
		if (now_sec() - t0 > 300) {
			early = true;
			break;
		}
		if (i >= 2 * F9_WIN && i % 100 == 0) {
			double f = 0, l = 0;
			long j;

			for (j = 0; j < F9_WIN; j++) {
				f += lat[j];
				l += lat[i - j];
			}
			if (l > 6 * f) {
				early = true;
				break;
			}
		}
		if (i % 1000 == 999)
			fprintf(stderr, "# %ld calls, %.1f s, last call %.0f us\n", i + 1,
				now_sec() - t0, lat[i] * 1e6);
	}
	KSM_WRITE_ONCE(shm->stop, 1);
	wait_status(s);
	/* Windows of 2000 calls, or a quarter of the calls if stopped early */
	win = done / 4 < F9_WIN ? done / 4 : F9_WIN;
	ASSERT_LT(0, win);
	for (i = 0; i < win; i++) {
		first += lat[i];
		last += lat[done - 1 - i];
	}
	first /= win;
	last /= win;
	TH_LOG("%ld calls%s in %.1f s: mean %.1f us for the first %ld, %.1f us for the last %ld",
	       done, early ? " (stopped early)" : "", now_sec() - t0, first * 1e6, win,
	       last * 1e6, win);
	TH_LOG("  (x%.1f)", last / first);
	TH_LOG("  %ld became candidates (partition candidates %lld), the rest failed",
	       candidates, part_fdinfo(0, fd, "ksm_pages_unshared"));
	TH_LOG("  other member: %ld merges, slowest %.3f s",
	       KSM_READ_ONCE(shm->calls), KSM_READ_ONCE(shm->max_lat));
	EXPECT_EQ(0, bad);
	EXPECT_LE(last, 3 * first) TH_LOG("F9: merge time grows with crafted collisions");
	EXPECT_LE(KSM_READ_ONCE(shm->max_lat), 1.0) TH_LOG("F9: another member's merge stalled");
	close(fd);
}

/* ------------------------------------------------------------------ */
/* L5: the system-wide LRU drain                                       */

#define L5_CALLS 1000
#define L5_LEAD 256

static int tr_write(const char *dir, const char *file, const char *s)
{
	char path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return write_string_path(path, s);
}

/* A tracefs instance of our own; 0 or -1 (why[]). */
static int trace_instance(char *dir, size_t len, const char *tag, char *why, size_t wlen)
{
	struct stat st;

	if (stat("/sys/kernel/tracing/instances", &st) &&
	    mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL)) {
		snprintf(why, wlen, "no tracefs: %s", strerror(errno));
		return -1;
	}
	snprintf(dir, len, "/sys/kernel/tracing/instances/%s-%d", tag, getpid());
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(why, wlen, "tracefs instance: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Lines of the instance's trace containing needle (needle NULL: every event line). */
static long trace_count(const char *dir, const char *needle)
{
	char path[PATH_MAX + 16], line[1024];
	long n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/trace", dir);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (line[0] != '#' && (!needle || strstr(line, needle)))
			n++;
	fclose(f);
	return n;
}

TEST_F_TIMEOUT(long_run, lru_drain_rate_limited, 300)
{
	char dir[PATH_MAX], why[256], *pairs, *d, *lead, rbuf[16];
	struct ksm_merge_result res;
	int fd, pipefd[2], i, merged = 0, failed = 0;
	struct iovec iov[3], liov, riov;
	long drains, events;
	double t0, secs;
	pid_t faulter;

	if (trace_instance(dir, sizeof(dir), "kst-l5", why, sizeof(why)))
		SKIP(return, "%s", why);
	if (tr_write(dir, "events/workqueue/workqueue_queue_work/enable", "0"))
		SKIP(return, "no workqueue:workqueue_queue_work tracepoint");
	tr_write(dir, "buffer_size_kb", "8192");
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	/* d[0]: a candidate; d[1]: same content, held by a pipe: its merge fails */
	d = map_anon(2);
	pairs = map_anon(2 * L5_CALLS);
	ASSERT_TRUE(d && pairs);
	fill_page(d, 0x15);
	fill_page(d + psize(), 0x15);
	ASSERT_LE(0, merge_range(fd, KSM_PIDFD_SELF, d, psize(), &res));
	ASSERT_EQ(1, res.pages_unshared);
	ASSERT_EQ(0, pipe(pipefd));
	iov[0].iov_base = d + psize();
	iov[0].iov_len = psize();
	ASSERT_EQ(psize(), vmsplice(pipefd[1], iov, 1, 0));
	for (i = 0; i < 2 * L5_CALLS; i++)
		fill_page(pairs + i * psize(), 0x150000 + i / 2);
	lead = map_anon(L5_LEAD);
	ASSERT_NE(NULL, lead);
	for (i = 0; i < L5_LEAD; i++)
		fill_page(lead + i * psize(), 0x160000 + i);
	faulter = fork();
	ASSERT_LE(0, faulter);
	if (!faulter) {
		/* Keeps this CPU's LRU batches busy: fault pages in, unmap, again */
		for (;;) {
			char *p = mmap(NULL, 64 * psize(), PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				_exit(1);
			for (i = 0; i < 64; i++)
				p[i * psize()] = 1;
			munmap(p, 64 * psize());
		}
	}

	ASSERT_EQ(0, tr_write(dir, "trace", ""));
	ASSERT_EQ(0, tr_write(dir, "events/workqueue/workqueue_queue_work/enable", "1"));
	t0 = now_sec();
	for (i = 0; i < L5_CALLS; i++) {
		char *a = pairs + 2 * i * psize();

		/* PG_referenced on the pair's second page (GUP with FOLL_TOUCH) */
		liov.iov_base = rbuf;
		liov.iov_len = sizeof(rbuf);
		riov.iov_base = a + psize();
		riov.iov_len = sizeof(rbuf);
		process_vm_readv(getpid(), &liov, 1, &riov, 1, 0);
		iov[0].iov_base = lead;
		iov[0].iov_len = L5_LEAD * psize();
		iov[1].iov_base = a;
		iov[1].iov_len = 2 * psize();
		iov[2].iov_base = d + psize();
		iov[2].iov_len = psize();
		res_init(&res);
		if (sys_ksm_merge(fd, KSM_PIDFD_SELF, iov, 3, &res, 0) < 0)
			break;
		merged += res.pages_merged;
		failed += res.pages_failed;
	}
	secs = now_sec() - t0;
	tr_write(dir, "events/workqueue/workqueue_queue_work/enable", "0");
	kill(faulter, SIGKILL);
	waitpid(faulter, NULL, 0);
	drains = trace_count(dir, "lru_add_drain_per_cpu");
	events = trace_count(dir, NULL);
	TH_LOG("%d ksm_merge calls in %.2f s (%d pages merged, %d failed on the held page)",
	       L5_CALLS, secs, merged, failed);
	TH_LOG("  %ld LRU drain work items queued (%ld workqueue events)", drains, events);
	close(pipefd[0]);
	close(pipefd[1]);
	close(fd);
	rmdir(dir);
	EXPECT_LE(L5_CALLS, failed);
	EXPECT_LE(drains, 20 + (long)secs) TH_LOG("L5: a system-wide LRU drain per ksm_merge call");
}

/* ------------------------------------------------------------------ */
/* L6: names                                                            */

#define L6_NAMES 50000
#define L6_BASE 10

struct l6_shm {
	long created;
	int err;
	double mean[2];
};

/* Mean time of ksm_open(fresh name, 0, 0) (ENOENT) in the caller's namespace. */
static double lookup_mean(int iters)
{
	char name[64];
	double t = now_sec();
	int i, fd;

	for (i = 0; i < iters; i++) {
		snprintf(name, sizeof(name), "kst-l6-fresh-%d-%d", getpid(), i);
		fd = sys_ksm_open(name, 0, 0);
		if (fd >= 0)
			close(fd);
	}
	return (now_sec() - t) / iters;
}

TEST_F_TIMEOUT(long_run, name_lookup_scales, 900)
{
	long n = getenv("KSM_L6_NAMES") ? atol(getenv("KSM_L6_NAMES")) : L6_NAMES;
	struct l6_shm *shm = map_shared(sizeof(*shm));
	int to_h[2], from_h[2], to_m[2], from_m[2];
	double t0 = now_sec();
	pid_t h, m;

	ASSERT_NE(NULL, shm);
	ASSERT_EQ(0, pipe2(to_h, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(from_h, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(to_m, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(from_m, O_CLOEXEC));
	h = fork();
	ASSERT_LE(0, h);
	if (!h) {
		/* H: namespace A, holds every name's fd */
		struct rlimit rl = { n + 64, n + 64 };
		char name[64];
		long i;

		close(to_h[1]);
		close(from_h[0]);
		CHILD_CHECK(unshare(CLONE_NEWIPC) == 0);
		CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
		for (i = 0; i < n; i++) {
			if (i == L6_BASE) {
				put_byte(from_h[1], 'b');
				get_byte(to_h[0]);
			}
			/* Digits reversed: names differ in their first byte (cheap strcmp) */
			{
				char d[24];
				int nd = snprintf(d, sizeof(d), "%ld", i), k;

				for (k = 0; k < nd; k++)
					name[k] = d[nd - 1 - k];
				snprintf(name + nd, sizeof(name) - nd, "-kst-l6");
			}
			if (sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600) < 0) {
				KSM_WRITE_ONCE(shm->err, errno);
				break;
			}
			KSM_WRITE_ONCE(shm->created, i + 1);
			if (now_sec() - t0 > 300)
				break;
		}
		put_byte(from_h[1], 'c');
		get_byte(to_h[0]);
		_exit(0);
	}
	m = fork();
	ASSERT_LE(0, m);
	if (!m) {
		/* M: namespace B */
		CHILD_CHECK(unshare(CLONE_NEWIPC) == 0);
		get_byte(to_m[0]);
		shm->mean[0] = lookup_mean(2000);
		put_byte(from_m[1], 'd');
		get_byte(to_m[0]);
		shm->mean[1] = lookup_mean(2000);
		put_byte(from_m[1], 'd');
		_exit(0);
	}
	ASSERT_EQ('b', get_byte(from_h[0]));
	put_byte(to_m[1], 'g');
	ASSERT_EQ('d', get_byte(from_m[0]));
	put_byte(to_h[1], 'g');
	ASSERT_EQ('c', get_byte(from_h[0]));
	TH_LOG("%ld names created in namespace A in %.1f s%s", KSM_READ_ONCE(shm->created),
	       now_sec() - t0, KSM_READ_ONCE(shm->err) ? " (stopped by an error)" : "");
	put_byte(to_m[1], 'g');
	ASSERT_EQ('d', get_byte(from_m[0]));
	TH_LOG("lookup of a fresh name in namespace B: %.1f us with %d names, %.1f us with %ld",
	       shm->mean[0] * 1e6, L6_BASE, shm->mean[1] * 1e6, KSM_READ_ONCE(shm->created));
	TH_LOG("  (x%.1f)", shm->mean[1] / shm->mean[0]);
	close(to_h[1]);
	wait_status(h);
	wait_status(m);
	EXPECT_EQ(0, KSM_READ_ONCE(shm->err))
		TH_LOG("creating names: %s", strerror(KSM_READ_ONCE(shm->err)));
	EXPECT_LE(shm->mean[1], 3 * shm->mean[0])
		TH_LOG("L6: a lookup walks the names of every IPC namespace");
}

/* kmem allocation events of this process during ksm_open(name, flags, mode); -1 if untraceable. */
static long open_allocations(const char *dir, const char *name, unsigned int flags, int mode,
			     long long *id)
{
	char pid[16];
	long n;
	int fd;

	snprintf(pid, sizeof(pid), "%d", getpid());
	if (tr_write(dir, "set_event_pid", pid) || tr_write(dir, "trace", ""))
		return -1;
	if (tr_write(dir, "events/kmem/kmalloc/enable", "1") ||
	    tr_write(dir, "events/kmem/kmem_cache_alloc/enable", "1"))
		return -1;
	fd = sys_ksm_open(name, flags, mode);
	tr_write(dir, "events/kmem/kmalloc/enable", "0");
	tr_write(dir, "events/kmem/kmem_cache_alloc/enable", "0");
	if (fd < 0)
		return -2;
	*id = part_fdinfo(0, fd, "ksm_id");
	close(fd);
	n = trace_count(dir, NULL);
	return n;
}

TEST_F_TIMEOUT(long_run, create_on_existing_allocates_nothing, 120)
{
	long plain, create, plain2;
	long long id0, id1 = -1, id2 = -1, id3 = -1;
	char name[64], dir[PATH_MAX], why[256];
	int fd;

	unique_name(name, sizeof(name), "l6c");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd);
	id0 = part_fdinfo(0, fd, "ksm_id");
	if (trace_instance(dir, sizeof(dir), "kst-l6", why, sizeof(why)))
		SKIP(goto out, "%s", why);
	plain = open_allocations(dir, name, 0, 0, &id1);
	create = open_allocations(dir, name, KSM_OPEN_CREATE, 0600, &id2);
	plain2 = open_allocations(dir, name, 0, 0, &id3);
	rmdir(dir);
	if (plain == -1)
		SKIP(goto out, "no kmem:kmalloc / kmem:kmem_cache_alloc tracepoints");
	TH_LOG("allocations traced: ksm_open(name, 0) %ld, ksm_open(name, CREATE) %ld",
	       plain, create);
	TH_LOG("  again ksm_open(name, 0) %ld; ids %lld %lld %lld (partition %lld)",
	       plain2, id1, id2, id3, id0);
	EXPECT_EQ(id0, id1);
	EXPECT_EQ(id0, id2) TH_LOG("CREATE on an existing own partition returned another one");
	EXPECT_LE(create, (plain > plain2 ? plain : plain2) + 2)
		TH_LOG("L6: CREATE on an existing name allocated (and threw away) a partition");
out:
	close(fd);
}

TEST_HARNESS_MAIN
