// SPDX-License-Identifier: GPL-2.0
/*
 * ksm_stress: partitioned KSM under load, with every byte accounted for.
 *
 * Worker processes (each with several threads) keep their memory in pages
 * whose content is a function of a small shadow record per page, so every
 * read can be checked byte for byte. Most pages are drawn from a few
 * contents, so they really merge. The threads race ksm_merge, ksm_unmerge
 * and ksm_leave (and re-join) against writers and against chaos: fork, exit
 * and SIGKILL of members, exec, munmap/mmap, mremap, mprotect, MADV_DONTNEED,
 * MADV_FREE, THP collapse and split, compaction, swap (zram) out and in,
 * NUMA migration, closing the partition fd during a merge, partitions
 * created and destroyed and processes moved between them. The first process
 * (the orchestrator) drives the process-wide chaos and at the end checks
 * that the kernel gave everything back: KSM slab objects, partitions and
 * the system-wide counters at their starting values.
 *
 * Output is TAP; exit status 0 iff every test point passed.
 *
 *   ksm_stress [--duration S] [--seed N] [--threads N] [--procs N]
 *              [--pages N] [--no-swap] [--no-numa]
 *
 * To narrow down a finding, KSM_STRESS_NO_MAN=1 leaves merge_across_nodes
 * alone and KSM_STRESS_NO_MIGRATE=1 turns off move_pages (--no-numa: both).
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/swap.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MPOL_MF_MOVE_ALL
#define MPOL_MF_MOVE_ALL (1 << 2)
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define THP_PAGES 512		/* one PMD of 4K pages */
#define MAX_PROCS 16
#define MAX_THREADS 16
#define NBODY 6			/* few distinct contents: merges happen */
#define NHEAD 3
#define CLOSE_FD_BASE 700	/* high fds for the close race: never reused by open() */
#define ZRAM "/sys/block/zram0/"
#define PARTS_DIR KSM_SYSFS "partitions"

/* ------------------------------------------------------------------ */
/* Shared control block (MAP_SHARED memfd; inherited and passed by fd) */

enum action {
	A_WRITE, A_VERIFY, A_MERGE, A_UNMERGE, A_LEAVE, A_FORK, A_EXIT, A_EXEC,
	A_REMAP, A_MREMAP, A_MPROTECT, A_DONTNEED, A_FREE, A_THP_COLLAPSE,
	A_THP_SPLIT, A_COMPACT, A_SWAP, A_MIGRATE, A_MAN, A_CLOSE, A_CHURN,
	A_HOP, A_REMOTE, NACT
};

static const char *const action_name[NACT] = {
	[A_WRITE] = "write", [A_VERIFY] = "verify", [A_MERGE] = "merge",
	[A_UNMERGE] = "unmerge", [A_LEAVE] = "leave_rejoin", [A_FORK] = "fork",
	[A_EXIT] = "exit_of_members", [A_EXEC] = "exec", [A_REMAP] = "munmap_remap",
	[A_MREMAP] = "mremap_move_grow", [A_MPROTECT] = "mprotect_ro_rw",
	[A_DONTNEED] = "madv_dontneed", [A_FREE] = "madv_free",
	[A_THP_COLLAPSE] = "thp_collapse", [A_THP_SPLIT] = "thp_split",
	[A_COMPACT] = "compaction", [A_SWAP] = "swap_out_in",
	[A_MIGRATE] = "numa_migration", [A_MAN] = "merge_across_nodes_toggle",
	[A_CLOSE] = "close_fd_during_merge", [A_CHURN] = "partition_churn",
	[A_HOP] = "move_between_partitions", [A_REMOTE] = "remote_merge_move_by_pidfd",
};

struct worker_slot {
	volatile int pid;
	volatile int exit_req;
	volatile int moving;		/* the orchestrator is moving it by pidfd */
	/* Handshake: no remote call once the worker runs its final checks */
	volatile int final;		/* set by the worker before them */
	volatile int remote_busy;	/* set by the orchestrator around a remote call */
	volatile uint64_t epoch;	/* bumped around every such move */
	volatile uintptr_t base[MAX_THREADS + 1];
	volatile size_t len[MAX_THREADS + 1];
};

struct ctl {
	volatile int stop;
	double t_end;		/* CLOCK_MONOTONIC: the same in every process */
	uint64_t seed;
	int threads, procs, pages;
	int have_swap, have_cgroup, have_numa, have_thp;
	uint64_t main_id;
	char main_name[80];
	char cgroup[160];
	struct worker_slot w[MAX_PROCS];

	uint64_t act_iter[NACT], act_fail[NACT], act_skip[NACT];
	char skip_reason[NACT][112];

	uint64_t bytes_verified, pages_verified, bytes_corrupt, pages_corrupt;
	uint64_t merge_calls, merge_failed_calls, res_merged, res_already, res_bad;
	uint64_t unmerge_calls, leave_calls;
	uint64_t pfn_shared_seen, pfn_conflicts;
	uint64_t err_unexpected, err_busy, err_noent, err_badf, err_srch, err_nomem;
	uint64_t child_ok, child_fail;
	uint64_t swapped_seen, thp_seen, collapse_ok, collapse_failed, split_on_thp;
	uint64_t closed_during, close_ebadf, exec_from_member, hop_ok, hop_busy;
	uint64_t man_busy, man_ok, parts_created, workers_spawned, worker_fail;
	uint64_t migrated;
	volatile int msgs;
};

static struct ctl *ctl;

#define ADD(field, v) __atomic_add_fetch(&ctl->field, (v), __ATOMIC_RELAXED)
#define INC(field) ADD(field, 1)
#define GET(field) __atomic_load_n(&ctl->field, __ATOMIC_RELAXED)

/* Print a failure (at most 40 over all processes) with the process and thread. */
static void failf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (__atomic_add_fetch(&ctl->msgs, 1, __ATOMIC_RELAXED) > 40)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dprintf(2, "# FAIL [pid %d tid %ld]: %s\n", getpid(), (long)syscall(SYS_gettid), buf);
}

static void act_skip(enum action a, const char *why)
{
	INC(act_skip[a]);
	if (!ctl->skip_reason[a][0])
		snprintf(ctl->skip_reason[a], sizeof(ctl->skip_reason[a]), "%s", why);
}

static void act_fail(enum action a, const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	INC(act_fail[a]);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	failf("%s: %s", action_name[a], buf);
}

/*
 * An errno from a racing ksm_* call: the ones the ABI promises for the
 * races we create are counted, anything else is a failure.
 */
static void racing_errno(const char *what, int e, bool badf_ok, bool srch_ok)
{
	switch (e) {
	case EBUSY:
		INC(err_busy);
		return;
	case ENOENT:
		INC(err_noent);
		return;
	case ENOMEM:
		INC(err_nomem);
		return;
	case EBADF:
		if (badf_ok) {
			INC(err_badf);
			return;
		}
		break;
	case ESRCH:
		if (srch_ok) {
			INC(err_srch);
			return;
		}
		break;
	}
	INC(err_unexpected);
	failf("%s: unexpected errno %d (%s)", what, e, strerror(e));
}

/* ------------------------------------------------------------------ */
/* Random numbers and time                                             */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static unsigned int rndn(uint64_t *s, unsigned int n)
{
	return n ? rnd(s) % n : 0;
}

/* ------------------------------------------------------------------ */
/* Page content: a function of a 3-field shadow record                 */

enum pg_state { PG_DATA, PG_ZERO, PG_FREED /* MADV_FREE: old data or zero */ };

struct pg {
	uint32_t body;
	uint16_t head;
	uint8_t state;
};

/*
 * Word 0 carries head and body (never zero: bit 63), the others depend on
 * body only, so a write of word 0 alone (a "partial write") changes the head.
 */
static uint64_t head_word(const struct pg *g)
{
	return (1ULL << 63) | ((uint64_t)g->head << 32) | g->body;
}

static uint64_t body_word(uint32_t body, size_t i)
{
	return (body + 1ULL) * 0x9E3779B97F4A7C15ULL ^ (i * 0xBF58476D1CE4E5B9ULL);
}

static void make_page(uint64_t *w, const struct pg *g)
{
	size_t i, n = psize() / 8;

	if (g->state == PG_ZERO) {
		memset(w, 0, psize());
		return;
	}
	w[0] = head_word(g);
	for (i = 1; i < n; i++)
		w[i] = body_word(g->body, i);
}

/* New content for a page: mostly one of NBODY bodies, sometimes unique. */
static void new_content(struct pg *g, uint64_t *rs)
{
	g->state = PG_DATA;
	g->head = rndn(rs, NHEAD);
	if (rndn(rs, 8) == 0)
		g->body = 0x100000 | (rnd(rs) & 0x7fffffff);
	else
		g->body = rndn(rs, NBODY);
}

static void write_page(char *p, struct pg *g, uint64_t *rs)
{
	new_content(g, rs);
	make_page((uint64_t *)p, g);
}

/* Write word 0 only: a COW fault on a merged page that keeps most bytes. */
static void write_head(char *p, struct pg *g, uint64_t *rs)
{
	if (g->state != PG_DATA) {
		write_page(p, g, rs);
		return;
	}
	g->head = (g->head + 1 + rndn(rs, NHEAD - 1)) % NHEAD;
	*(volatile uint64_t *)p = head_word(g);
}

static size_t diff_bytes(const char *a, const char *b, size_t n)
{
	size_t i, d = 0;

	for (i = 0; i < n; i++)
		d += a[i] != b[i];
	return d;
}

/*
 * Check one page against its shadow. Returns the number of wrong bytes and
 * reports the first few corruptions in detail.
 */
static size_t verify_page(const char *p, struct pg *g, const char *where, size_t idx)
{
	static __thread uint64_t *expect, *zero;
	size_t ps = psize(), bad;

	if (!expect) {
		expect = malloc(ps);
		zero = calloc(1, ps);
	}
	make_page(expect, g);
	if (!memcmp(p, expect, ps))
		goto ok;
	/* MADV_FREE: discarded before or while we compared; then it stays zero. */
	if (g->state == PG_FREED && !memcmp(p, zero, ps))
		goto ok;
	bad = diff_bytes(p, (const char *)expect, ps);
	if (g->state == PG_FREED && diff_bytes(p, (const char *)zero, ps) < bad)
		bad = diff_bytes(p, (const char *)zero, ps);
	ADD(bytes_corrupt, bad);
	INC(pages_corrupt);
	ADD(bytes_verified, ps);
	INC(pages_verified);
	failf("CORRUPTION %s page %zu at %p (pfn %#llx): %zu bytes differ; state %d body %#x head %u; word0 %#llx expected %#llx, word1 %#llx expected %#llx",
	      where, idx, (void *)p, (unsigned long long)self_pfn(p), bad, g->state, g->body,
	      g->head, (unsigned long long)((const uint64_t *)p)[0],
	      (unsigned long long)expect[0], (unsigned long long)((const uint64_t *)p)[1],
	      (unsigned long long)expect[1]);
	return bad;
ok:
	ADD(bytes_verified, ps);
	INC(pages_verified);
	return 0;
}

/* ------------------------------------------------------------------ */
/* ksm_* calls with result checking                                    */

static uint64_t pages_touched(uintptr_t base, size_t len)
{
	size_t ps = psize();

	if (!len)
		return 0;
	return ((base + len + ps - 1) / ps) - base / ps;
}

/* Pages touched by the first `done` bytes of vec (abi.md 5, progress rule). */
static uint64_t touched_by(const struct iovec *vec, int n, size_t done)
{
	uint64_t t = 0;
	int i;

	for (i = 0; i < n && done; i++) {
		size_t l = vec[i].iov_len < done ? vec[i].iov_len : done;

		t += pages_touched((uintptr_t)vec[i].iov_base, l);
		done -= l;
	}
	return t;
}

/*
 * ksm_merge with the result checked against the ABI invariants. Returns the
 * syscall's return value (errno set on -1); errors are left to the caller.
 */
static ssize_t merge_vec(int fd, int pidfd, const struct iovec *vec, int n,
			 struct ksm_merge_result *out)
{
	struct ksm_merge_result r;
	ssize_t ret;

	res_init(&r);
	ret = sys_ksm_merge(fd, pidfd, vec, n, &r, 0);
	INC(merge_calls);
	if (ret < 0) {
		INC(merge_failed_calls);
		return ret;
	}
	ADD(res_merged, r.pages_merged);
	ADD(res_already, r.pages_already_shared);
	if (r.size != sizeof(r) || !res_invariants_hold(&r, touched_by(vec, n, ret))) {
		if (INC(res_bad) <= 3) {
			failf("merge result breaks the invariants (ret %zd, touched %llu)", ret,
			      (unsigned long long)touched_by(vec, n, ret));
			res_print("bad result", &r);
		}
	}
	if (out)
		*out = r;
	return ret;
}

static ssize_t merge_one(int fd, int pidfd, void *a, size_t len, struct ksm_merge_result *out)
{
	struct iovec v = { a, len };

	return merge_vec(fd, pidfd, &v, 1, out);
}

static int part_stats(int fd, struct ksm_partition_stats *s)
{
	memset(s, 0, sizeof(*s));
	return ioctl(fd, KSM_IOC_GET_STATS, s);
}

static uint64_t part_id(int fd)
{
	struct ksm_partition_stats s;

	return part_stats(fd, &s) ? 0 : s.id;
}

/* Members of partition @id in /proc/ksm_partitions, -1 if not listed */
static long part_members(uint64_t id)
{
	FILE *f = fopen("/proc/ksm_partitions", "re");
	unsigned long long rid, members;
	char line[512];
	long ret = -1;

	if (!f)
		return -1;
	while (ret < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llu %*u %*u %*o %*x %llu", &rid, &members) == 2 && rid == id)
			ret = (long)members;
	fclose(f);
	return ret;
}

/*
 * A partition whose fds are closed may live on while a member does: a child
 * the member forked meanwhile (fork keeps it in) until it exits. Gone within
 * 20 s, or listed with no member at all, is what counts.
 */
static bool part_outlives_members(uint64_t id)
{
	long m;
	int i;

	for (i = 0; i < 200; i++) {
		m = part_members(id);
		if (m < 0)
			return false;
		if (m == 0 && i >= 2)
			return true;
		sleep_ms(100);
	}
	return true;
}

/* Whether /proc/ksm_partitions (root only) lists partition @id */
static bool part_dir_exists(uint64_t id)
{
	return part_members(id) >= 0;
}

/* A sum over all partitions: /sys/kernel/mm/ksm/partitions/<name> */
static long parts_total(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), PARTS_DIR "/%s", name);
	return read_long_path(path);
}

static long my_partition(void)
{
	return ksm_stat(0, "ksm_partition");
}

/*
 * Partition ids use all 64 bits, so half of them are negative as a long:
 * a member is "not 0 and not ksm_stat's -1 (unreadable)", never "> 0".
 * An id of ~0 is a 2^-64 chance.
 */
static bool is_member_id(long id)
{
	return id != 0 && id != -1;
}

/* ------------------------------------------------------------------ */
/* A worker process                                                    */

struct slice {
	char *volatile base;
	size_t n;
	struct pg *sh;		/* shadow: its own private mapping, never merged */
	pthread_mutex_t lock;	/* the THP slice: one user at a time */
};

static struct {
	int index;
	int main_fd;
	int nthreads;
	struct slice sl[MAX_THREADS + 1];	/* [nthreads] is the THP slice */
	/*
	 * Readers: anything that changes content, mappings or membership; the
	 * writer: fork, so the child sees consistent shadows. Merges and
	 * unmerges do not take it (they never change content), so they race
	 * with fork.
	 */
	pthread_rwlock_t world;
} W;

struct thr {
	int tid;
	uint64_t rs;
	int pmfd;
	pthread_t th;
};

static bool should_stop(void)
{
	return ctl->stop || ctl->w[W.index].exit_req || now_sec() >= ctl->t_end;
}

static struct slice *thp_slice(void)
{
	return &W.sl[W.nthreads];
}

static void publish(int i)
{
	ctl->w[W.index].base[i] = (uintptr_t)W.sl[i].base;
	ctl->w[W.index].len[i] = W.sl[i].n * psize();
}

static size_t verify_slice(struct slice *s, const char *where)
{
	char *b = s->base;
	size_t i, bad = 0;

	for (i = 0; i < s->n; i++)
		bad += verify_page(b + i * psize(), &s->sh[i], where, i);
	return bad;
}

static void *map_shadow(size_t n)
{
	void *p = mmap(NULL, n * sizeof(struct pg), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* 2 MiB-aligned anonymous memory for THP. */
static char *map_thp_region(void)
{
	size_t len = THP_PAGES * psize();
	char *p = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + len - 1) & ~(uintptr_t)(len - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((char *)a + len, (uintptr_t)p + 2 * len - a - len);
	return (char *)a;
}

/* Read n pagemap entries starting at addr. */
static int pagemap_read(int pmfd, const void *addr, size_t n, uint64_t *out)
{
	ssize_t want = n * sizeof(*out);

	return pread(pmfd, out, want, (uintptr_t)addr / psize() * sizeof(*out)) == want ? 0 : -1;
}

struct frame {
	uint64_t pfn;
	uint32_t body;
	uint16_t head;
};

static int frame_cmp(const void *a, const void *b)
{
	const struct frame *x = a, *y = b;

	return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/*
 * Ground truth after a merge of a slice nobody else writes: pages of equal
 * content sharing a frame prove merging; pages of different content on one
 * frame would be a disaster. Also counts swapped-out pages.
 */
static void check_frames(struct thr *t, struct slice *s)
{
	uint64_t *pm = malloc(s->n * sizeof(*pm));
	struct frame *f = malloc(s->n * sizeof(*f));
	size_t i, nf = 0, shared = 0, swapped = 0;

	if (!pm || !f || pagemap_read(t->pmfd, s->base, s->n, pm))
		goto out;
	for (i = 0; i < s->n; i++) {
		if (pm[i] & PM_SWAP)
			swapped++;
		if (!(pm[i] & PM_PRESENT) || s->sh[i].state != PG_DATA)
			continue;
		f[nf].pfn = pm[i] & PM_PFN_MASK;
		f[nf].body = s->sh[i].body;
		f[nf].head = s->sh[i].head;
		nf++;
	}
	qsort(f, nf, sizeof(*f), frame_cmp);
	for (i = 1; i < nf; i++) {
		if (f[i].pfn != f[i - 1].pfn || !f[i].pfn)
			continue;
		if (f[i].body == f[i - 1].body && f[i].head == f[i - 1].head) {
			shared++;
		} else {
			INC(pfn_conflicts);
			failf("frame %#llx mapped by pages of different content (body %#x/%#x head %u/%u)",
			      (unsigned long long)f[i].pfn, f[i].body, f[i - 1].body, f[i].head,
			      f[i - 1].head);
		}
	}
	ADD(pfn_shared_seen, shared);
	ADD(swapped_seen, swapped);
out:
	free(pm);
	free(f);
}

/* A random page-aligned sub-range [*first, *first + *count) of n pages. */
static void pick_range(uint64_t *rs, size_t n, size_t *first, size_t *count)
{
	*first = rndn(rs, n);
	*count = 1 + rndn(rs, n - *first < 64 ? n - *first : 64);
}

static void set_state(struct slice *s, size_t first, size_t count, enum pg_state st)
{
	size_t i;

	for (i = first; i < first + count; i++)
		s->sh[i].state = st;
}

/* Merge own slice through the main partition; errors of the races counted. */
static void merge_slice(struct thr *t, struct slice *s, bool check)
{
	struct ksm_merge_result r;
	ssize_t ret = merge_one(W.main_fd, KSM_PIDFD_SELF, s->base, s->n * psize(), &r);

	if (ret < 0) {
		racing_errno("ksm_merge(own slice)", errno, false, false);
		return;
	}
	if (check && (r.pages_merged || r.pages_already_shared))
		check_frames(t, s);
}

/* ---- actions of worker threads ---- */

static void do_write(struct thr *t, struct slice *s)
{
	size_t first, count, i;

	pick_range(&t->rs, s->n, &first, &count);
	for (i = first; i < first + count; i++) {
		if (rndn(&t->rs, 3) == 0)
			write_head(s->base + i * psize(), &s->sh[i], &t->rs);
		else
			write_page(s->base + i * psize(), &s->sh[i], &t->rs);
	}
}

static void do_verify(struct thr *t, struct slice *s)
{
	struct slice *h = thp_slice();

	if (rndn(&t->rs, 4) == 0)
		check_frames(t, s);
	verify_slice(s, "verify");
	if (!pthread_mutex_trylock(&h->lock)) {
		verify_slice(h, "verify thp");
		pthread_mutex_unlock(&h->lock);
	}
}

/* Merge own slice, a sub-range, or a vector over every slice of the process. */
static void do_merge(struct thr *t, struct slice *s)
{
	struct iovec v[MAX_THREADS + 1];
	unsigned int k = rndn(&t->rs, 3), i;
	size_t first, count;

	if (k == 0) {
		merge_slice(t, s, true);
		return;
	}
	if (k == 1) {
		pick_range(&t->rs, s->n, &first, &count);
		/* Unaligned ends: a range covers every page it touches. */
		v[0].iov_base = s->base + first * psize() + rndn(&t->rs, psize());
		v[0].iov_len = count * psize() - rndn(&t->rs, psize());
		if (merge_vec(W.main_fd, KSM_PIDFD_SELF, v, 1, NULL) < 0)
			racing_errno("ksm_merge(sub-range)", errno, false, false);
		return;
	}
	/* Slices of other threads (being written, moved, unmapped right now). */
	for (i = 0; i <= (unsigned int)W.nthreads; i++) {
		v[i].iov_base = W.sl[i].base;
		v[i].iov_len = W.sl[i].n * psize();
	}
	if (merge_vec(W.main_fd, KSM_PIDFD_SELF, v, W.nthreads + 1, NULL) < 0)
		racing_errno("ksm_merge(all slices)", errno, false, false);
}

static void do_unmerge(struct thr *t, struct slice *s)
{
	size_t first, count;
	ssize_t r;

	pick_range(&t->rs, s->n, &first, &count);
	if (rndn(&t->rs, 2))
		r = unmerge_range(W.main_fd, KSM_PIDFD_SELF, s->base, s->n * psize());
	else
		r = unmerge_range(W.main_fd, KSM_PIDFD_SELF, s->base + first * psize(),
				  count * psize());
	INC(unmerge_calls);
	if (r < 0)
		racing_errno("ksm_unmerge", errno, false, false);
	INC(act_iter[A_UNMERGE]);
}

static void do_leave(struct thr *t, struct slice *s)
{
	INC(leave_calls);
	if (sys_ksm_leave(W.main_fd, KSM_PIDFD_SELF, 0))
		racing_errno("ksm_leave", errno, false, false);
	verify_slice(s, "after leave");
	if (rndn(&t->rs, 2))
		write_page(s->base, &s->sh[0], &t->rs);
	merge_slice(t, s, false);	/* re-join */
	INC(act_iter[A_LEAVE]);
}

static void do_remap(struct thr *t, struct slice *s)
{
	size_t first, count, i;
	char *a;

	pick_range(&t->rs, s->n, &first, &count);
	a = s->base + first * psize();
	/* MAP_FIXED replaces atomically: no window for another mmap to take the hole. */
	if (mmap(a, count * psize(), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != a) {
		act_fail(A_REMAP, "mmap(MAP_FIXED): %s", strerror(errno));
		return;
	}
	set_state(s, first, count, PG_ZERO);
	for (i = first; i < first + count; i++)
		if (verify_page(s->base + i * psize(), &s->sh[i], "remap", i) == 0 &&
		    rndn(&t->rs, 2))
			write_page(s->base + i * psize(), &s->sh[i], &t->rs);
	INC(act_iter[A_REMAP]);
}

/*
 * VMA boundaries inside [lo, hi), from /proc/self/maps, into cut[] (sorted,
 * starting with lo, ending with hi). Earlier remaps split the slice; mremap
 * moves one VMA at a time.
 */
static int vma_cuts(uintptr_t lo, uintptr_t hi, uintptr_t *cut, int max)
{
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long a, b;
	char line[512];
	int n = 0;

	cut[n++] = lo;
	while (f && fgets(line, sizeof(line), f) && n < max - 1)
		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && b > lo && b < hi)
			cut[n++] = b;
	if (f)
		fclose(f);
	cut[n++] = hi;
	return n;
}

/* Move the slice elsewhere, twice as large, check, then drop the new tail. */
static void do_mremap(struct thr *t, struct slice *s)
{
	size_t len = s->n * psize(), i;
	char *spare, *moved, *old = s->base;
	uintptr_t cut[128];
	int ncut, k;

	merge_slice(t, s, false);
	spare = mmap(NULL, 2 * len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (spare == MAP_FAILED) {
		act_fail(A_MREMAP, "mmap spare: %s", strerror(errno));
		return;
	}
	ncut = vma_cuts((uintptr_t)old, (uintptr_t)old + len, cut, 128);
	for (k = 0; k + 1 < ncut; k++) {
		size_t piece = cut[k + 1] - cut[k];
		size_t grow = k + 2 == ncut ? len : 0;	/* the last piece grows */

		moved = mremap((void *)cut[k], piece, piece + grow, MREMAP_MAYMOVE | MREMAP_FIXED,
			       spare + (cut[k] - (uintptr_t)old));
		if (moved == MAP_FAILED) {
			/* Pieces already moved are lost to the shadow: fatal for the slice. */
			act_fail(A_MREMAP, "mremap piece %d of %d: %s", k, ncut - 1, strerror(errno));
			abort();
		}
	}
	moved = spare;
	s->base = moved;
	publish(t->tid);
	verify_slice(s, "mremap");
	for (i = 0; i < s->n; i += 7) {
		if (moved[len + i * psize()] != 0) {
			act_fail(A_MREMAP, "grown part not zero at page %zu", i);
			break;
		}
	}
	moved[len] = 1;	/* the grown tail is real memory */
	merge_slice(t, s, false);
	if (munmap(moved + len, len))
		act_fail(A_MREMAP, "munmap tail: %s", strerror(errno));
	verify_slice(s, "mremap after shrink");
	INC(act_iter[A_MREMAP]);
}

static void do_mprotect(struct thr *t, struct slice *s)
{
	size_t first, count, i;
	char *a;

	pick_range(&t->rs, s->n, &first, &count);
	a = s->base + first * psize();
	if (mprotect(a, count * psize(), PROT_READ)) {
		act_fail(A_MPROTECT, "mprotect RO: %s", strerror(errno));
		return;
	}
	if (merge_one(W.main_fd, KSM_PIDFD_SELF, a, count * psize(), NULL) < 0)
		racing_errno("ksm_merge(RO range)", errno, false, false);
	for (i = first; i < first + count; i++)
		verify_page(s->base + i * psize(), &s->sh[i], "mprotect RO", i);
	if (mprotect(a, count * psize(), PROT_READ | PROT_WRITE)) {
		act_fail(A_MPROTECT, "mprotect RW: %s", strerror(errno));
		return;
	}
	write_head(a, &s->sh[first], &t->rs);
	verify_page(a, &s->sh[first], "mprotect RW", first);
	INC(act_iter[A_MPROTECT]);
}

static void do_dontneed(struct thr *t, struct slice *s)
{
	size_t first, count, i;

	merge_slice(t, s, false);
	pick_range(&t->rs, s->n, &first, &count);
	if (madvise(s->base + first * psize(), count * psize(), MADV_DONTNEED)) {
		act_fail(A_DONTNEED, "madvise: %s", strerror(errno));
		return;
	}
	set_state(s, first, count, PG_ZERO);
	for (i = first; i < first + count; i++)
		verify_page(s->base + i * psize(), &s->sh[i], "dontneed", i);
	INC(act_iter[A_DONTNEED]);
}

static void do_free(struct thr *t, struct slice *s)
{
	size_t first, count, i;

	merge_slice(t, s, false);
	pick_range(&t->rs, s->n, &first, &count);
	if (madvise(s->base + first * psize(), count * psize(), MADV_FREE)) {
		act_fail(A_FREE, "madvise: %s", strerror(errno));
		return;
	}
	for (i = first; i < first + count; i++)
		if (s->sh[i].state == PG_DATA)
			s->sh[i].state = PG_FREED;
	/* Page out some of it too: lazily freed pages are discarded then. */
	if (rndn(&t->rs, 2))
		madvise(s->base + first * psize(), count * psize(), MADV_PAGEOUT);
	for (i = first; i < first + count; i++)
		verify_page(s->base + i * psize(), &s->sh[i], "madv_free", i);
	INC(act_iter[A_FREE]);
}

static void do_swap(struct thr *t, struct slice *s)
{
	if (!ctl->have_swap) {
		act_skip(A_SWAP, "no swap (--no-swap, or no zram0 and no swap device)");
		return;
	}
	merge_slice(t, s, false);
	/*
	 * MADV_PAGEOUT skips folios mapped more than once, so shared KSM pages
	 * go out through the cgroup reclaim of the orchestrator; here a part
	 * is unmerged first so that some KSM pages are mapped once.
	 */
	if (rndn(&t->rs, 2)) {
		if (unmerge_range(W.main_fd, KSM_PIDFD_SELF, s->base, s->n * psize() / 2) < 0)
			racing_errno("ksm_unmerge", errno, false, false);
	}
	if (madvise(s->base, s->n * psize(), MADV_PAGEOUT)) {
		act_fail(A_SWAP, "MADV_PAGEOUT: %s", strerror(errno));
		return;
	}
	check_frames(t, s);
	verify_slice(s, "swap in");
	INC(act_iter[A_SWAP]);
}

static void do_migrate(struct thr *t, struct slice *s)
{
	size_t n = s->n < 64 ? s->n : 64, i, moved = 0;
	void *pages[64];
	int nodes[64], status[64], node = rndn(&t->rs, 2);
	long r;

	if (!ctl->have_numa) {
		act_skip(A_MIGRATE, "no NUMA node 1 (CONFIG_NUMA off or one node) or --no-numa");
		return;
	}
	merge_slice(t, s, false);
	for (i = 0; i < n; i++) {
		pages[i] = s->base + i * psize();
		nodes[i] = node;
	}
	/* MOVE_ALL: KSM pages are mapped by other processes too. */
	r = syscall(SYS_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE_ALL);
	if (r < 0) {
		act_fail(A_MIGRATE, "move_pages: %s", strerror(errno));
		return;
	}
	for (i = 0; i < n; i++)
		moved += status[i] == node;
	ADD(migrated, moved);
	verify_slice(s, "migrated");
	INC(act_iter[A_MIGRATE]);
}

struct closer {
	int fd;
	volatile int go;
	long delay_us;
	double closed_at;
};

static void *closer_main(void *arg)
{
	struct closer *c = arg;

	while (!c->go)
		;
	usleep(c->delay_us);
	c->closed_at = now_sec();
	close(c->fd);
	return NULL;
}

/* Another thread closes the fd this thread is merging through. */
static void do_close(struct thr *t, struct slice *s)
{
	struct closer c = { .delay_us = rndn(&t->rs, 3000) };
	struct iovec v[MAX_THREADS + 1];
	pthread_t th;
	double done;
	ssize_t r;
	int i;

	c.fd = fcntl(W.main_fd, F_DUPFD_CLOEXEC, CLOSE_FD_BASE + 8 * t->tid);
	if (c.fd < 0) {
		act_fail(A_CLOSE, "dup: %s", strerror(errno));
		return;
	}
	for (i = 0; i <= W.nthreads; i++) {
		v[i].iov_base = W.sl[i].base;
		v[i].iov_len = W.sl[i].n * psize();
	}
	(void)s;
	if (pthread_create(&th, NULL, closer_main, &c)) {
		close(c.fd);
		return;
	}
	c.go = 1;
	r = merge_vec(c.fd, KSM_PIDFD_SELF, v, W.nthreads + 1, NULL);
	done = now_sec();
	pthread_join(th, NULL);
	if (r >= 0 && c.closed_at < done)
		INC(closed_during);
	else if (r < 0 && errno == EBADF)
		INC(close_ebadf);
	else if (r < 0)
		racing_errno("ksm_merge(fd being closed)", errno, true, false);
	INC(act_iter[A_CLOSE]);
}

/* Leave main, live in a new partition for a while, leave it, re-join main. */
static void do_hop(struct thr *t, struct slice *s)
{
	char name[96];
	bool named = rndn(&t->rs, 2);
	uint64_t id, epoch = ctl->w[W.index].epoch;
	int fd, fd2 = -1, tries;
	long mine;

	if (named) {
		snprintf(name, sizeof(name), "ksm-stress-hop-%d-%d-%llu", getpid(), t->tid,
			 (unsigned long long)rnd(&t->rs));
		fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL | KSM_OPEN_CLOEXEC, 0600);
	} else {
		fd = sys_ksm_open(NULL, KSM_OPEN_CLOEXEC, 0);
	}
	if (fd < 0) {
		act_fail(A_HOP, "ksm_open: %s", strerror(errno));
		return;
	}
	INC(parts_created);
	id = part_id(fd);
	if (named) {
		fd2 = sys_ksm_open(name, KSM_OPEN_CLOEXEC, 0);
		if (fd2 < 0 || part_id(fd2) != id)
			act_fail(A_HOP, "reopening %s by name: fd %d id %llu != %llu", name, fd2,
				 (unsigned long long)(fd2 < 0 ? 0 : part_id(fd2)),
				 (unsigned long long)id);
	}
	for (tries = 0; tries < 4; tries++) {
		if (sys_ksm_leave(W.main_fd, KSM_PIDFD_SELF, 0) && errno != ENOENT)
			racing_errno("ksm_leave(main)", errno, false, false);
		if (merge_one(fd, KSM_PIDFD_SELF, s->base, s->n * psize(), NULL) >= 0)
			break;
		if (errno != EBUSY) {
			racing_errno("ksm_merge(hop)", errno, false, false);
			break;
		}
	}
	if (tries == 4) {
		INC(hop_busy);	/* other threads re-joined main every time */
	} else {
		mine = my_partition();
		if (mine != (long)id && epoch == ctl->w[W.index].epoch && !ctl->w[W.index].moving)
			act_fail(A_HOP, "member of %ld, expected the new partition %llu", mine,
				 (unsigned long long)id);
		else
			INC(hop_ok);
		do_write(t, s);
		merge_slice(t, s, false);	/* EBUSY: we are in the other one */
		if (merge_one(fd, KSM_PIDFD_SELF, s->base, s->n * psize(), NULL) < 0)
			racing_errno("ksm_merge(hop)", errno, false, false);
		verify_slice(s, "hop");
		if (sys_ksm_leave(fd, KSM_PIDFD_SELF, 0))
			racing_errno("ksm_leave(hop)", errno, false, false);
	}
	close(fd);
	if (fd2 >= 0)
		close(fd2);
	merge_slice(t, s, false);	/* back to main */
	INC(act_iter[A_HOP]);
}

/*
 * Make the THP slice a huge page again: KSM pages cannot be collapsed, so
 * unmerge first (other threads may merge some again: then collapse fails).
 */
static bool thp_collapse(struct thr *t, struct slice *h)
{
	size_t i, len = h->n * psize();
	uintptr_t cut[4];

	/* A 4K unmapped earlier split the VMA: collapse needs the whole PMD in one. */
	if (vma_cuts((uintptr_t)h->base, (uintptr_t)h->base + len, cut, 4) > 2) {
		if (mmap(h->base, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != h->base) {
			act_fail(A_THP_COLLAPSE, "mmap: %s", strerror(errno));
			return false;
		}
		set_state(h, 0, h->n, PG_ZERO);
	}
	if (madvise(h->base, h->n * psize(), MADV_HUGEPAGE)) {
		act_skip(A_THP_COLLAPSE, "MADV_HUGEPAGE failed");
		return false;
	}
	if (unmerge_range(W.main_fd, KSM_PIDFD_SELF, h->base, h->n * psize()) < 0)
		racing_errno("ksm_unmerge(thp)", errno, false, false);
	for (i = 0; i < h->n; i++)
		if (h->sh[i].state != PG_DATA || rndn(&t->rs, 4) == 0)
			write_page(h->base + i * psize(), &h->sh[i], &t->rs);
	if (madvise(h->base, h->n * psize(), MADV_COLLAPSE)) {
		if (errno == EINVAL || errno == ENOSYS) {
			act_skip(A_THP_COLLAPSE, "MADV_COLLAPSE not supported (EINVAL/ENOSYS)");
			return false;
		}
		/* EAGAIN/ENOMEM: no huge page free, or a page merged again meanwhile. */
		INC(collapse_failed);
		return pfn_is_thp(self_pfn(h->base));
	}
	INC(collapse_ok);
	if (pfn_is_thp(self_pfn(h->base))) {
		INC(thp_seen);
		return true;
	}
	return false;
}

static void do_thp_collapse(struct thr *t)
{
	struct slice *h = thp_slice();

	pthread_mutex_lock(&h->lock);
	thp_collapse(t, h);
	verify_slice(h, "thp collapsed");
	merge_slice(t, h, true);	/* an actual merge splits the THP */
	verify_slice(h, "thp merged");
	pthread_mutex_unlock(&h->lock);
	INC(act_iter[A_THP_COLLAPSE]);
}

/* Split a huge page by mprotect of a 4K in the middle, or by unmapping one. */
static void do_thp_split(struct thr *t)
{
	struct slice *h = thp_slice();
	size_t mid = 1 + rndn(&t->rs, h->n - 2);
	char *a;
	bool huge;

	pthread_mutex_lock(&h->lock);
	huge = pfn_is_thp(self_pfn(h->base));
	if (!huge) {
		/* A fresh huge page by fault: collapse fails when pages merged again. */
		size_t i, len = h->n * psize();

		if (mmap(h->base, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != h->base) {
			act_fail(A_THP_SPLIT, "mmap: %s", strerror(errno));
			pthread_mutex_unlock(&h->lock);
			return;
		}
		madvise(h->base, len, MADV_HUGEPAGE);
		for (i = 0; i < h->n; i++)
			write_page(h->base + i * psize(), &h->sh[i], &t->rs);
		huge = pfn_is_thp(self_pfn(h->base));
		if (huge)
			INC(thp_seen);
	}
	a = h->base + mid * psize();
	if (rndn(&t->rs, 2)) {
		if (mprotect(a, psize(), PROT_READ) ||
		    mprotect(a, psize(), PROT_READ | PROT_WRITE))
			act_fail(A_THP_SPLIT, "mprotect: %s", strerror(errno));
	} else {
		/* munmap + mmap of one page in a single step (MAP_FIXED). */
		if (mmap(a, psize(), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != a)
			act_fail(A_THP_SPLIT, "mmap: %s", strerror(errno));
		else
			h->sh[mid].state = PG_ZERO;
	}
	if (huge)
		INC(split_on_thp);
	verify_slice(h, "thp split");
	merge_slice(t, h, true);
	write_head(a, &h->sh[mid], &t->rs);
	verify_slice(h, "thp split merged");
	pthread_mutex_unlock(&h->lock);
	INC(act_iter[A_THP_SPLIT]);
}

/* ---- fork, exit of members, exec ---- */

enum fork_mode { FORK_VERIFY, FORK_KILL, FORK_EXEC };

static size_t verify_all(const char *where)
{
	size_t bad = 0;
	int i;

	for (i = 0; i <= W.nthreads; i++)
		bad += verify_slice(&W.sl[i], where);
	return bad;
}

static void merge_all(void)
{
	struct iovec v[MAX_THREADS + 1];
	int i;

	for (i = 0; i <= W.nthreads; i++) {
		v[i].iov_base = W.sl[i].base;
		v[i].iov_len = W.sl[i].n * psize();
	}
	if (merge_vec(W.main_fd, KSM_PIDFD_SELF, v, W.nthreads + 1, NULL) < 0)
		racing_errno("ksm_merge(child)", errno, false, false);
}

/* The membership a child of a member must have (abi.md 3, fork). */
static bool child_membership_ok(long before, long now)
{
	if (is_member_id(before))
		return now == before;
	/* A racing merge of another thread may have joined main meanwhile. */
	return now == 0 || now == (long)ctl->main_id;
}

static void __attribute__((noreturn)) child_verify(long before, uint64_t epoch, uint64_t rs)
{
	long now = my_partition();
	size_t bad;
	int i;

	if (epoch == ctl->w[W.index].epoch && !ctl->w[W.index].moving &&
	    !child_membership_ok(before, now)) {
		failf("fork child: member of %ld, parent was member of %ld", now, before);
		_exit(3);
	}
	bad = verify_all("fork child");
	for (i = 0; i <= W.nthreads; i++) {
		struct slice *s = &W.sl[i];
		size_t j;

		for (j = 0; j < s->n; j += 1 + rndn(&rs, 4))
			write_page(s->base + j * psize(), &s->sh[j], &rs);
	}
	merge_all();
	bad += verify_all("fork child after write+merge");
	if (rndn(&rs, 2) && sys_ksm_leave(W.main_fd, KSM_PIDFD_SELF, 0) == 0) {
		if (my_partition() != 0 || ksm_merging_pages(0) != 0) {
			failf("fork child after leave: partition %ld, merging pages %ld",
			      my_partition(), ksm_merging_pages(0));
			_exit(4);
		}
		bad += verify_all("fork child after leave");
	}
	_exit(bad ? 2 : 0);
}

/* Merges and writes until killed: the SIGKILL lands inside ksm_merge. */
static void __attribute__((noreturn)) child_until_killed(uint64_t rs)
{
	double end = now_sec() + 20;
	struct slice *s = &W.sl[0];

	size_t j;

	while (now_sec() < end) {
		merge_all();
		j = rndn(&rs, s->n);
		write_page(s->base + j * psize(), &s->sh[j], &rs);
	}
	_exit(0);
}

#define EXEC_PAGES 64
#define EXEC_MAGIC 0x6b736d7374726573ULL

struct exec_header {
	uint64_t magic;
	uint64_t n;
	struct pg sh[EXEC_PAGES];
};

/*
 * Before exec: be a member with merged pages, hand a copy of them and their
 * shadow to the new image in a memfd, report the partition, exec.
 */
static void __attribute__((noreturn)) child_exec(int wfd, int rfd)
{
	struct slice *s = &W.sl[0];
	struct exec_header h = { .magic = EXEC_MAGIC };
	char a[3][16];
	int mfd;
	uint64_t rs = getpid();
	long id;
	size_t i;

	h.n = s->n < EXEC_PAGES ? s->n : EXEC_PAGES;
	/*
	 * A lazily freed page may be discarded while write() copies it: a torn
	 * copy would be legitimate, so give those pages content first.
	 */
	for (i = 0; i < h.n; i++)
		if (s->sh[i].state == PG_FREED)
			write_page(s->base + i * psize(), &s->sh[i], &rs);
	merge_all();
	id = my_partition();
	if (write(wfd, &id, sizeof(id)) != sizeof(id))
		_exit(5);
	for (i = 0; i < h.n; i++)
		if (verify_page(s->base + i * psize(), &s->sh[i], "before exec", i))
			_exit(9);
	memcpy(h.sh, s->sh, h.n * sizeof(struct pg));
	mfd = memfd_create("ksm-stress-expect", 0);
	if (mfd < 0 || write(mfd, &h, sizeof(h)) != sizeof(h))
		_exit(6);
	for (i = 0; i < h.n; i++)
		if (write(mfd, s->base + i * psize(), psize()) != (ssize_t)psize())
			_exit(7);
	fcntl(wfd, F_SETFD, 0);
	fcntl(rfd, F_SETFD, 0);
	snprintf(a[0], sizeof(a[0]), "%d", mfd);
	snprintf(a[1], sizeof(a[1]), "%d", wfd);
	snprintf(a[2], sizeof(a[2]), "%d", rfd);
	execl("/proc/self/exe", "ksm_stress", "--exec-check", a[0], a[1], a[2], (char *)NULL);
	_exit(8);
}

/* The exec'd image: not a member any more; the pages it was handed are right. */
static int exec_check_main(int mfd, int wfd, int rfd)
{
	struct exec_header h;
	char *page = malloc(psize()), c = 'R';
	int bad = 0;
	uint64_t i;

	if (my_partition() != 0 || self_is_member_of_any() != 0 || ksm_merging_pages(0) != 0) {
		dprintf(2, "# FAIL exec: new image still a member (partition %ld)\n", my_partition());
		bad |= 1;
	}
	if (pread(mfd, &h, sizeof(h), 0) != sizeof(h) || h.magic != EXEC_MAGIC ||
	    h.n > EXEC_PAGES) {
		bad |= 2;
	} else {
		for (i = 0; i < h.n; i++) {
			uint64_t *exp = malloc(psize());

			if (pread(mfd, page, psize(), sizeof(h) + i * psize()) != (ssize_t)psize())
				bad |= 2;
			make_page(exp, &h.sh[i]);
			if (memcmp(page, exp, psize())) {
				/* A lazily freed page may have become zero: accept that. */
				size_t z;

				for (z = 0; z < psize() && !page[z]; z++)
					;
				if (!(h.sh[i].state == PG_FREED && z == psize())) {
					for (z = 0; z < psize() && page[z] == ((char *)exp)[z]; z++)
						;
					dprintf(2, "# FAIL exec: page %llu handed over differs from byte %zu on (state %d body %#x head %u; %zu bytes differ; word0 %#llx expected %#llx)\n",
						(unsigned long long)i, z, h.sh[i].state, h.sh[i].body,
						h.sh[i].head, diff_bytes(page, (char *)exp, psize()),
						(unsigned long long)((uint64_t *)page)[0],
						(unsigned long long)exp[0]);
					bad |= 4;
				}
			}
			free(exp);
		}
	}
	if (write(wfd, &c, 1) != 1)
		bad |= 8;
	while (read(rfd, &c, 1) == 1)
		;
	return bad;
}

static void do_fork(struct thr *t, enum fork_mode mode)
{
	enum action a = mode == FORK_VERIFY ? A_FORK : mode == FORK_KILL ? A_EXIT : A_EXEC;
	int towards_parent[2], towards_child[2], st, pidfd;
	uint64_t epoch, crs = rnd(&t->rs);
	long before, id = -1;
	char c;
	pid_t pid;

	/* CLOEXEC: children of other threads must not keep these open. */
	if (pipe2(towards_parent, O_CLOEXEC) || pipe2(towards_child, O_CLOEXEC)) {
		act_fail(a, "pipe: %s", strerror(errno));
		return;
	}
	pthread_rwlock_wrlock(&W.world);
	before = my_partition();
	epoch = ctl->w[W.index].epoch;
	if (ctl->w[W.index].moving)
		epoch--;	/* never equal: skip the membership check */
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(towards_parent[0]);
		close(towards_child[1]);
		if (mode == FORK_VERIFY)
			child_verify(before, epoch, crs);
		if (mode == FORK_KILL)
			child_until_killed(crs);
		child_exec(towards_parent[1], towards_child[0]);
	}
	pthread_rwlock_unlock(&W.world);
	close(towards_parent[1]);
	close(towards_child[0]);
	if (pid < 0) {
		act_fail(a, "fork: %s", strerror(errno));
		goto out;
	}
	if (mode == FORK_KILL) {
		usleep(1000 + rndn(&t->rs, 40000));
		kill(pid, SIGKILL);
		st = wait_status(pid);
		if (st != 128 + SIGKILL && st != 0)
			act_fail(a, "killed child: status %d", st);
		else
			INC(child_ok);
		goto counted;
	}
	if (mode == FORK_EXEC) {
		struct pollfd p = { .fd = towards_parent[0], .events = POLLIN };

		if (read(towards_parent[0], &id, sizeof(id)) != sizeof(id)) {
			act_fail(a, "no partition id from the child before exec");
		} else {
			if (is_member_id(id))
				INC(exec_from_member);
			/* Wait for the new image: it answers once exec completed. */
			if (poll(&p, 1, 60000) == 1 && read(towards_parent[0], &c, 1) == 1) {
				pidfd = sys_pidfd_open(pid, 0);
				if (pidfd >= 0 && is_member(W.main_fd, pidfd) != 0)
					act_fail(a, "exec'd process still a member of main");
				if (ksm_stat(pid, "ksm_partition") != 0)
					act_fail(a, "exec'd process: ksm_stat partition %ld",
						 ksm_stat(pid, "ksm_partition"));
				if (pidfd >= 0)
					close(pidfd);
			} else {
				act_fail(a, "the exec'd image did not answer");
			}
		}
		close(towards_child[1]);
		towards_child[1] = -1;
	}
	st = wait_status(pid);
	if (st) {
		INC(child_fail);
		act_fail(a, "child exited with status %d", st);
	} else {
		INC(child_ok);
	}
counted:
	INC(act_iter[a]);
out:
	close(towards_parent[0]);
	if (towards_child[1] >= 0)
		close(towards_child[1]);
}

/* ---- worker threads ---- */

struct weight {
	int action;
	int w;
};

/* Pseudo actions for the dispatcher. */
enum { P_FORK_KILL = NACT, P_FORK_EXEC };

static const struct weight weights[] = {
	{ A_WRITE, 25 }, { A_VERIFY, 15 }, { A_MERGE, 25 }, { A_UNMERGE, 6 },
	{ A_LEAVE, 4 }, { A_FORK, 2 }, { P_FORK_KILL, 1 }, { P_FORK_EXEC, 1 },
	{ A_REMAP, 3 }, { A_MREMAP, 2 }, { A_MPROTECT, 3 }, { A_DONTNEED, 3 },
	{ A_FREE, 3 }, { A_THP_COLLAPSE, 1 }, { A_THP_SPLIT, 1 }, { A_SWAP, 2 },
	{ A_MIGRATE, 1 }, { A_CLOSE, 2 }, { A_HOP, 2 },
};

static void run_action(struct thr *t, int a)
{
	struct slice *s = &W.sl[t->tid];
	bool locked = a != A_MERGE && a != A_UNMERGE && a != A_CLOSE &&
		      a != A_FORK && a != P_FORK_KILL && a != P_FORK_EXEC;

	if (locked)
		pthread_rwlock_rdlock(&W.world);
	switch (a) {
	case A_WRITE: do_write(t, s); INC(act_iter[A_WRITE]); break;
	case A_VERIFY: do_verify(t, s); INC(act_iter[A_VERIFY]); break;
	case A_MERGE: do_merge(t, s); INC(act_iter[A_MERGE]); break;
	case A_UNMERGE: do_unmerge(t, s); break;
	case A_LEAVE: do_leave(t, s); break;
	case A_FORK: do_fork(t, FORK_VERIFY); break;
	case P_FORK_KILL: do_fork(t, FORK_KILL); break;
	case P_FORK_EXEC: do_fork(t, FORK_EXEC); break;
	case A_REMAP: do_remap(t, s); break;
	case A_MREMAP: do_mremap(t, s); break;
	case A_MPROTECT: do_mprotect(t, s); break;
	case A_DONTNEED: do_dontneed(t, s); break;
	case A_FREE: do_free(t, s); break;
	case A_THP_COLLAPSE: do_thp_collapse(t); break;
	case A_THP_SPLIT: do_thp_split(t); break;
	case A_SWAP: do_swap(t, s); break;
	case A_MIGRATE: do_migrate(t, s); break;
	case A_CLOSE: do_close(t, s); break;
	case A_HOP: do_hop(t, s); break;
	}
	if (locked)
		pthread_rwlock_unlock(&W.world);
}

static void *worker_thread(void *arg)
{
	struct thr *t = arg;
	int total = 0, i, k;
	size_t nw = sizeof(weights) / sizeof(weights[0]);

	for (i = 0; i < (int)nw; i++)
		total += weights[i].w;
	/*
	 * Coverage: the threads of the first worker start with one round of
	 * every action (rare ones first, shared out among them).
	 */
	if (W.index == 0)
		for (i = nw - 1 - t->tid; i >= 0 && !should_stop(); i -= W.nthreads)
			run_action(t, weights[i].action);
	while (!should_stop()) {
		k = rndn(&t->rs, total);
		for (i = 0; k >= weights[i].w; i++)
			k -= weights[i].w;
		run_action(t, weights[i].action);
	}
	return NULL;
}

static int ctl_map(int fd)
{
	ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return ctl == MAP_FAILED ? -1 : 0;
}

static int worker_main(int ctlfd, int index)
{
	struct thr thr[MAX_THREADS];
	pthread_rwlockattr_t ra;
	uint64_t rs;
	size_t per, i;
	int t, bad = 0;

	long left;
	char path[200];

	if (ctl_map(ctlfd))
		return 90;
	close(ctlfd);
	W.index = index;
	W.nthreads = ctl->threads;
	rs = ctl->seed * 1000003 + index * 7919 + ctl->w[index].epoch;
	if (ctl->have_cgroup) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", ctl->cgroup);
		write_string_path(path, "0");
	}
	/* The main partition is found by name: that is the rendezvous path. */
	W.main_fd = sys_ksm_open(ctl->main_name, KSM_OPEN_CLOEXEC, 0);
	if (W.main_fd < 0) {
		failf("worker %d: ksm_open(%s): %s", index, ctl->main_name, strerror(errno));
		return 91;
	}
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&W.world, &ra);
	per = ctl->pages / W.nthreads;
	if (per < 16)
		per = 16;
	for (t = 0; t <= W.nthreads; t++) {
		struct slice *s = &W.sl[t];

		s->n = t < W.nthreads ? per : THP_PAGES;
		s->base = t < W.nthreads ? map_anon(s->n) : map_thp_region();
		s->sh = map_shadow(s->n);
		pthread_mutex_init(&s->lock, NULL);
		if (!s->base || !s->sh)
			return 92;
		for (i = 0; i < s->n; i++)
			write_page(s->base + i * psize(), &s->sh[i], &rs);
		publish(t);
	}
	merge_all();	/* joins */
	ctl->w[index].pid = getpid();
	for (t = 0; t < W.nthreads; t++) {
		thr[t].tid = t;
		thr[t].rs = rnd(&rs);
		thr[t].pmfd = pagemap_open(0);
		pthread_create(&thr[t].th, NULL, worker_thread, &thr[t]);
	}
	for (t = 0; t < W.nthreads; t++)
		pthread_join(thr[t].th, NULL);

	/* Everything still right, and leaving really gives everything back. */
	__atomic_store_n(&ctl->w[index].final, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&ctl->w[index].remote_busy, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	verify_all("worker final");
	if (sys_ksm_leave(W.main_fd, KSM_PIDFD_SELF, 0) && errno != ENOENT) {
		failf("worker %d: final ksm_leave: %s", index, strerror(errno));
		bad = 1;
	}
	left = my_partition();
	if (left != 0 || ksm_merging_pages(0) != 0) {
		failf("worker %d after leave: partition %ld, merging pages %ld", index, left,
		      ksm_merging_pages(0));
		bad = 1;
	}
	verify_all("worker after leave");
	close(W.main_fd);
	return bad;
}

/* ------------------------------------------------------------------ */
/* The orchestrator                                                    */

static struct {
	double duration;
	int threads, procs, pages;
	bool no_swap, no_numa;
	int ctlfd, main_fd;
	char self[PATH_MAX];
	uint64_t rs;
	/* things to restore */
	bool made_swap, made_cgroup, enabled_memory_ctrl, man_flipped;
	long man_orig;
	uint64_t max_sharing, samples;
	double compact_s, compact_max_s;
	uint64_t compactions;
	double slowest;
	int slowest_tick;
} O = { .duration = 60, .threads = 3, .procs = 2, .pages = 768, .man_orig = -1 };

static pid_t spawn_worker(int index)
{
	char a[2][16];
	pid_t pid;

	ctl->w[index].exit_req = 0;
	ctl->w[index].final = 0;
	ctl->w[index].pid = 0;
	snprintf(a[0], sizeof(a[0]), "%d", O.ctlfd);
	snprintf(a[1], sizeof(a[1]), "%d", index);
	pid = fork();
	if (pid == 0) {
		execl(O.self, "ksm_stress", "--worker", a[0], a[1], (char *)NULL);
		_exit(93);
	}
	INC(workers_spawned);
	return pid;
}

static pid_t worker_pid[MAX_PROCS];

/* Wait for a worker, at most secs seconds; -1 on timeout (then it is killed). */
static int reap_worker(int i, double secs)
{
	double end = now_sec() + secs;
	int st;

	while (now_sec() < end) {
		pid_t r = waitpid(worker_pid[i], &st, WNOHANG);

		if (r == worker_pid[i])
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		sleep_ms(50);
	}
	kill(worker_pid[i], SIGKILL);
	waitpid(worker_pid[i], &st, 0);
	return -1;
}

/* Exit of members: a graceful exit (final checks inside) or SIGKILL, then a new one. */
static void worker_exit_cycle(bool graceful)
{
	int i = rndn(&O.rs, O.procs), st;

	if (graceful) {
		ctl->w[i].exit_req = 1;
		st = reap_worker(i, 120);
		if (st != 0) {
			INC(worker_fail);
			act_fail(A_EXIT, "worker %d exited with %d", i, st);
		}
	} else {
		usleep(rndn(&O.rs, 20000));
		kill(worker_pid[i], SIGKILL);
		st = reap_worker(i, 60);
		if (st != 128 + SIGKILL && st != 0)
			act_fail(A_EXIT, "killed worker %d: status %d", i, st);
	}
	worker_pid[i] = spawn_worker(i);
	INC(act_iter[A_EXIT]);
}

static int worker_vec(int i, struct iovec *v)
{
	int k, n = 0;

	for (k = 0; k <= ctl->threads; k++) {
		v[n].iov_base = (void *)ctl->w[i].base[k];
		v[n].iov_len = ctl->w[i].len[k];
		if (v[n].iov_base)
			n++;
	}
	return n;
}

/*
 * Merge a worker by pidfd, or move it: out of main, into a fresh partition,
 * merged there, out again and back into main.
 */
static void do_remote(void)
{
	int i = rndn(&O.rs, O.procs), pidfd, n, fd;
	struct iovec v[MAX_THREADS + 1];
	pid_t pid = ctl->w[i].pid;
	uint64_t id;

	if (pid <= 0)
		return;
	__atomic_store_n(&ctl->w[i].remote_busy, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ctl->w[i].final, __ATOMIC_SEQ_CST)) {
		__atomic_store_n(&ctl->w[i].remote_busy, 0, __ATOMIC_SEQ_CST);
		return;
	}
	pidfd = sys_pidfd_open(pid, 0);
	if (pidfd < 0) {
		__atomic_store_n(&ctl->w[i].remote_busy, 0, __ATOMIC_SEQ_CST);
		return;
	}
	n = worker_vec(i, v);
	if (rndn(&O.rs, 2)) {
		if (merge_vec(O.main_fd, pidfd, v, n, NULL) < 0)
			racing_errno("ksm_merge(remote)", errno, false, true);
		goto out;
	}
	fd = sys_ksm_open(NULL, KSM_OPEN_CLOEXEC, 0);
	if (fd < 0) {
		act_fail(A_REMOTE, "ksm_open: %s", strerror(errno));
		goto out;
	}
	INC(parts_created);
	id = part_id(fd);
	ctl->w[i].moving = 1;
	__atomic_add_fetch(&ctl->w[i].epoch, 1, __ATOMIC_SEQ_CST);
	if (sys_ksm_leave(O.main_fd, pidfd, 0))
		racing_errno("ksm_leave(remote)", errno, false, true);
	if (merge_vec(fd, pidfd, v, n, NULL) >= 0) {
		/* The worker's own hop may interleave: the member check is the worker's. */
		if (sys_ksm_leave(fd, pidfd, 0))
			racing_errno("ksm_leave(remote temp)", errno, false, true);
	} else {
		racing_errno("ksm_merge(remote temp)", errno, false, true);
	}
	if (merge_vec(O.main_fd, pidfd, v, n, NULL) < 0)
		racing_errno("ksm_merge(remote rejoin)", errno, false, true);
	__atomic_add_fetch(&ctl->w[i].epoch, 1, __ATOMIC_SEQ_CST);
	ctl->w[i].moving = 0;
	close(fd);
	if (part_outlives_members(id))
		act_fail(A_REMOTE, "partition %llu still listed after its last fd and member",
			 (unsigned long long)id);
out:
	close(pidfd);
	__atomic_store_n(&ctl->w[i].remote_busy, 0, __ATOMIC_SEQ_CST);
	INC(act_iter[A_REMOTE]);
}

/* Many partitions, anonymous and named, opened, shared, closed. */
static void do_churn(void)
{
	int fds[16], n = 0, k, fd;
	uint64_t ids[16];
	char name[96];

	for (k = 0; k < 8; k++) {
		if (k & 1) {
			snprintf(name, sizeof(name), "ksm-stress-churn-%d-%d", getpid(), k);
			fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL | KSM_OPEN_CLOEXEC,
					  0600);
			if (fd >= 0 && sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600) >= 0)
				act_fail(A_CHURN, "KSM_OPEN_EXCL on an existing name succeeded");
			else if (fd >= 0 && errno != EEXIST)
				act_fail(A_CHURN, "KSM_OPEN_EXCL: %s, expected EEXIST", strerror(errno));
			if (fd >= 0) {
				fds[n] = sys_ksm_open(name, KSM_OPEN_CLOEXEC, 0);
				if (fds[n] < 0 || part_id(fds[n]) != part_id(fd))
					act_fail(A_CHURN, "reopening %s", name);
				ids[n] = fds[n] < 0 ? 0 : part_id(fds[n]);
				if (fds[n] >= 0)
					n++;
			}
		} else {
			fd = sys_ksm_open(NULL, KSM_OPEN_CLOEXEC | (k & 2 ? KSM_OPEN_ZERO_PAGES : 0), 0);
		}
		if (fd < 0) {
			act_fail(A_CHURN, "ksm_open: %s", strerror(errno));
			continue;
		}
		INC(parts_created);
		ids[n] = part_id(fd);
		if (!part_dir_exists(ids[n]))
			act_fail(A_CHURN, "new partition %llu not in /proc/ksm_partitions",
				 (unsigned long long)ids[n]);
		fds[n++] = fd;
	}
	for (k = 0; k < n; k++)
		close(fds[k]);
	for (k = 0; k < n; k++)
		if (part_dir_exists(ids[k])) {
			sleep_ms(100);
			if (part_dir_exists(ids[k]))
				act_fail(A_CHURN, "partition %llu outlived its fds",
					 (unsigned long long)ids[k]);
		}
	INC(act_iter[A_CHURN]);
}

static void do_compact(void)
{
	double t0 = now_sec(), dt;

	if (write_string_path("/proc/sys/vm/compact_memory", "1")) {
		act_skip(A_COMPACT, "/proc/sys/vm/compact_memory not writable");
		return;
	}
	dt = now_sec() - t0;
	O.compact_s += dt;
	if (dt > O.compact_max_s)
		O.compact_max_s = dt;
	INC(act_iter[A_COMPACT]);
}

/*
 * merge_across_nodes can be written only while no KSM page exists (EBUSY
 * otherwise). It is flipped at the start, when nothing is merged, so the
 * whole run (migration included) goes with the non-default value, which
 * partitions must ignore (abi.md 9). During the run, writes are expected to
 * fail with EBUSY. Restoring it at the end doubles as a check that no KSM
 * page is left.
 */
static int man_write(long v)
{
	char c = v ? '1' : '0';
	int fd = open(KSM_SYSFS "merge_across_nodes", O_WRONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = write(fd, &c, 1) == 1 ? 0 : -1;
	if (r)
		r = -errno;
	close(fd);
	return r;
}

static void do_man(bool at_start)
{
	long cur = ksm_sysfs_read("merge_across_nodes"), shared, global_shared;
	int r;

	if (O.man_orig < 0) {
		act_skip(A_MAN, O.no_numa ? "--no-numa" :
			 getenv("KSM_STRESS_NO_MAN") ? "KSM_STRESS_NO_MAN is set" :
			 "no merge_across_nodes (CONFIG_NUMA off)");
		return;
	}
	/* Only global KSM's pages make the write EBUSY; partitions' do not */
	global_shared = ksm_pages_shared();
	shared = parts_total("pages_shared");
	r = man_write(!cur);
	if (r == 0) {
		INC(man_ok);
		if (at_start) {
			O.man_flipped = true;
		} else {
			/* Allowed while partition pages exist: worth knowing. */
			printf("# merge_across_nodes: write %d accepted while partitions held %ld KSM pages\n",
			       !cur, shared);
			if (man_write(cur))
				act_fail(A_MAN, "writing merge_across_nodes back to %ld failed", cur);
		}
	} else if (r == -EBUSY) {
		INC(man_busy);
		if (global_shared == 0)
			act_fail(A_MAN, "EBUSY with global pages_shared 0 (%ld partition KSM pages)",
				 shared);
	} else {
		act_fail(A_MAN, "write: %s", strerror(-r));
	}
	INC(act_iter[A_MAN]);
}

static volatile int reclaim_busy;
static pthread_t reclaim_thread;
static double reclaim_s, reclaim_max_s;

static void *reclaim_main(void *arg)
{
	char path[200];
	double t0 = now_sec(), dt;

	snprintf(path, sizeof(path), "%s/memory.reclaim", ctl->cgroup);
	write_string_path(path, arg ? "4M" : "1M");	/* EAGAIN is fine */
	dt = now_sec() - t0;
	reclaim_s += dt;
	if (dt > reclaim_max_s)
		reclaim_max_s = dt;
	INC(act_iter[A_SWAP]);
	__atomic_store_n(&reclaim_busy, 0, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Cgroup reclaim pushes shared KSM pages to swap through the rmap walk
 * (MADV_PAGEOUT skips shared folios). It can take long on the debug
 * kernel, so it runs beside the other chaos, one at a time.
 */
static void do_reclaim(void)
{
	if (!ctl->have_swap || !ctl->have_cgroup)
		return;
	if (__atomic_load_n(&reclaim_busy, __ATOMIC_ACQUIRE))
		return;
	if (reclaim_thread)
		pthread_join(reclaim_thread, NULL);
	reclaim_busy = 1;
	if (pthread_create(&reclaim_thread, NULL, reclaim_main,
			   rndn(&O.rs, 2) ? (void *)1 : NULL)) {
		reclaim_busy = 0;
		reclaim_thread = 0;
	}
}

static void sample(void)
{
	long sharing = parts_total("pages_sharing");

	if (sharing > 0 && (uint64_t)sharing > O.max_sharing)
		O.max_sharing = sharing;
	O.samples++;
}

/* ---- environment: swap on zram, cgroup, baselines ---- */

static bool swap_active(void)
{
	char line[256];
	int n = 0;
	FILE *f = fopen("/proc/swaps", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n > 1;
}

/* mkswap, in C: the header of a version-1 swap area. */
static int mkswap(const char *dev, uint64_t bytes)
{
	size_t ps = psize();
	char *h = calloc(1, ps);
	uint32_t *info = (uint32_t *)(h + 1024);
	int fd, r = -1;

	info[0] = 1;			/* version */
	info[1] = bytes / ps - 1;	/* last_page */
	info[2] = 0;			/* nr_badpages */
	memcpy(h + ps - 10, "SWAPSPACE2", 10);
	fd = open(dev, O_WRONLY | O_CLOEXEC);
	if (fd >= 0 && pwrite(fd, h, ps, 0) == (ssize_t)ps && fsync(fd) == 0)
		r = 0;
	if (fd >= 0)
		close(fd);
	free(h);
	return r;
}

static void setup_swap(char *why, size_t len)
{
	if (O.no_swap) {
		snprintf(why, len, "--no-swap");
		return;
	}
	if (swap_active()) {
		ctl->have_swap = 1;
		return;
	}
	if (read_long_path(ZRAM "disksize") != 0) {
		snprintf(why, len, "no unused /dev/zram0 and no swap");
		return;
	}
	if (write_string_path(ZRAM "disksize", "256M") || mkswap("/dev/zram0", 256 << 20) ||
	    swapon("/dev/zram0", 0)) {
		snprintf(why, len, "zram swap setup failed: %s", strerror(errno));
		write_string_path(ZRAM "reset", "1");
		return;
	}
	O.made_swap = true;
	ctl->have_swap = 1;
}

static void setup_cgroup(void)
{
	char path[200];

	if (access("/sys/fs/cgroup/cgroup.subtree_control", W_OK))
		return;
	if (write_string_path("/sys/fs/cgroup/cgroup.subtree_control", "+memory") == 0)
		O.enabled_memory_ctrl = true;
	snprintf(ctl->cgroup, sizeof(ctl->cgroup), "/sys/fs/cgroup/ksm-stress-%d", getpid());
	if (mkdir(ctl->cgroup, 0755))
		return;
	O.made_cgroup = true;
	snprintf(path, sizeof(path), "%s/memory.reclaim", ctl->cgroup);
	ctl->have_cgroup = access(path, W_OK) == 0;
}

static const char *const slab_names[] = { "ksm_rmap_item", "ksm_stable_node", "ksm_mm_slot" };
#define NSLAB 3

struct baseline {
	long slab[NSLAB];
	bool slab_merged;
	long shared, sharing, unshared;
	char parts[1024];
	int nparts;
};

/* The ids /proc/ksm_partitions lists, space-separated in @buf; how many, or -1 */
static int list_parts(char *buf, size_t len)
{
	FILE *f = fopen("/proc/ksm_partitions", "re");
	char line[512], id[32];
	int n = 0;

	buf[0] = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] < '0' || line[0] > '9' || sscanf(line, "%31s", id) != 1)
			continue;	/* the header */
		if (strlen(buf) + strlen(id) + 2 < len) {
			strcat(buf, " ");
			strcat(buf, id);
		}
		n++;
	}
	fclose(f);
	return n;
}

static void take_baseline(struct baseline *b)
{
	char why[200];
	bool merged;
	int i;

	b->slab_merged = false;
	for (i = 0; i < NSLAB; i++) {
		b->slab[i] = slab_objects(&slab_names[i], 1, &merged, why, sizeof(why));
		b->slab_merged |= merged;
	}
	/* The system-wide files count global KSM only: the partitions' sums */
	b->shared = parts_total("pages_shared");
	b->sharing = parts_total("pages_sharing");
	b->unshared = parts_total("pages_unshared");
	b->nparts = list_parts(b->parts, sizeof(b->parts));
}

/* ---- TAP ---- */

static int tap_n, tap_failed;

static void tap(bool ok, const char *name, const char *skip)
{
	tap_n++;
	if (skip) {
		printf("ok %d - %s # SKIP %s\n", tap_n, name, skip);
	} else {
		printf("%sok %d - %s\n", ok ? "" : "not ", tap_n, name);
		if (!ok)
			tap_failed++;
	}
	fflush(stdout);
}

/* Actions reported as test points, each with what it must have achieved. */
static const int reported[] = {
	A_UNMERGE, A_LEAVE, A_FORK, A_EXIT, A_EXEC, A_REMAP, A_MREMAP, A_MPROTECT,
	A_DONTNEED, A_FREE, A_THP_COLLAPSE, A_THP_SPLIT, A_COMPACT, A_SWAP, A_MIGRATE,
	A_MAN, A_CLOSE, A_CHURN, A_HOP, A_REMOTE,
};
#define NREPORTED (int)(sizeof(reported) / sizeof(reported[0]))
#define NFIXED 12

static void report_action(int a)
{
	char name[128], why[200] = "";
	uint64_t it = GET(act_iter[a]), fl = GET(act_fail[a]);
	bool ok = it > 0 && fl == 0;

	snprintf(name, sizeof(name), "chaos %s exercised without failure", action_name[a]);
	if (a == A_MAN)
		printf("# merge_across_nodes: %llu writes accepted, %llu EBUSY\n",
		       (unsigned long long)GET(man_ok), (unsigned long long)GET(man_busy));
	printf("# %s: %llu iterations, %llu failures, %llu skips\n", action_name[a],
	       (unsigned long long)it, (unsigned long long)fl,
	       (unsigned long long)GET(act_skip[a]));
	/* A skip only when the environment lacks the feature altogether. */
	if (!it && ctl->skip_reason[a][0]) {
		tap(true, name, ctl->skip_reason[a]);
		return;
	}
	switch (a) {
	case A_SWAP:
		if (!GET(swapped_seen)) {
			ok = false;
			snprintf(why, sizeof(why), "no page was ever seen swapped out");
		}
		break;
	case A_THP_COLLAPSE:
		if (!GET(collapse_ok) && ctl->skip_reason[a][0]) {
			tap(true, name, ctl->skip_reason[a]);
			return;
		}
		if (!GET(thp_seen)) {
			ok = false;
			snprintf(why, sizeof(why), "no collapsed huge page was ever seen");
		}
		break;
	case A_THP_SPLIT:
		if (!GET(split_on_thp)) {
			if (!GET(thp_seen) && ctl->skip_reason[A_THP_COLLAPSE][0]) {
				tap(true, name, ctl->skip_reason[A_THP_COLLAPSE]);
				return;
			}
			ok = false;
			snprintf(why, sizeof(why), "never split a mapped huge page");
		}
		break;
	case A_EXEC:
		printf("# exec: %llu from members (main's id %s as a long)\n",
		       (unsigned long long)GET(exec_from_member),
		       (long)ctl->main_id < 0 ? "negative" : "positive");
		if (!GET(exec_from_member)) {
			ok = false;
			snprintf(why, sizeof(why), "no exec from a member");
		}
		break;
	case A_CLOSE:
		printf("# close_fd_during_merge: %llu merges completed with the fd closed during the call, %llu EBADF (closed before)\n",
		       (unsigned long long)GET(closed_during), (unsigned long long)GET(close_ebadf));
		if (!GET(closed_during)) {
			ok = false;
			snprintf(why, sizeof(why), "the fd was never closed during a call");
		}
		break;
	case A_HOP:
		printf("# move_between_partitions: %llu hops, %llu gave up on EBUSY\n",
		       (unsigned long long)GET(hop_ok), (unsigned long long)GET(hop_busy));
		if (!GET(hop_ok)) {
			ok = false;
			snprintf(why, sizeof(why), "never joined another partition");
		}
		break;
	}
	if (why[0])
		printf("# %s: %s\n", action_name[a], why);
	tap(ok, name, NULL);
}

/* Retry for up to secs seconds until cond() holds (RCU-delayed frees, work items). */
static bool settle(bool (*cond)(const struct baseline *, char *, size_t), const struct baseline *b,
		   double secs, char *why, size_t len)
{
	double end = now_sec() + secs;

	for (;;) {
		if (cond(b, why, len))
			return true;
		if (now_sec() > end)
			return false;
		write_string_path("/proc/sys/vm/drop_caches", "2");
		sleep_ms(250);
	}
}

static bool slab_back(const struct baseline *b, char *why, size_t len)
{
	char w[200];
	bool merged, ok = true;
	int i;

	why[0] = 0;
	for (i = 0; i < NSLAB; i++) {
		long v = slab_objects(&slab_names[i], 1, &merged, w, sizeof(w));

		if (v != b->slab[i]) {
			ok = false;
			snprintf(why + strlen(why), len - strlen(why), "%s %ld (start %ld) ",
				 slab_names[i], v, b->slab[i]);
		}
	}
	return ok;
}

static bool parts_back(const struct baseline *b, char *why, size_t len)
{
	char now[1024];
	int n = list_parts(now, sizeof(now));

	snprintf(why, len, "partitions now:%s (start:%s)", now, b->parts);
	return n == b->nparts && !strcmp(now, b->parts);
}

static bool counters_back(const struct baseline *b, char *why, size_t len)
{
	long sh = parts_total("pages_shared"), sg = parts_total("pages_sharing");
	long un = parts_total("pages_unshared");

	snprintf(why, len, "partitions/ pages_shared %ld (start %ld), pages_sharing %ld (start %ld), pages_unshared %ld (start %ld)",
		 sh, b->shared, sg, b->sharing, un, b->unshared);
	return sh == b->shared && sg == b->sharing && un == b->unshared;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: ksm_stress [--duration SECONDS] [--seed N] [--threads N] [--procs N]\n"
		"                  [--pages N] [--no-swap] [--no-numa]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	int i;

	O.rs = time(NULL);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;

		if (!strcmp(a, "--duration") && has)
			O.duration = atof(argv[++i]);
		else if (!strcmp(a, "--seed") && has)
			O.rs = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(a, "--threads") && has)
			O.threads = atoi(argv[++i]);
		else if (!strcmp(a, "--procs") && has)
			O.procs = atoi(argv[++i]);
		else if (!strcmp(a, "--pages") && has)
			O.pages = atoi(argv[++i]);
		else if (!strcmp(a, "--no-swap"))
			O.no_swap = true;
		else if (!strcmp(a, "--no-numa"))
			O.no_numa = true;
		else
			usage();
	}
	if (O.threads < 1 || O.threads > MAX_THREADS || O.procs < 1 || O.procs > MAX_PROCS ||
	    O.pages < 16 || O.duration <= 0)
		usage();
}

int main(int argc, char **argv)
{
	struct baseline base;
	struct ksm_partition_stats ms;
	char swap_why[160] = "", why[600];
	double t0, t_end, next_exit, exit_every;
	int i, tick = 0, exits = 0, st, ntests;
	uint64_t seed;
	bool ok;

	if (argc == 4 && !strcmp(argv[1], "--worker")) {
		signal(SIGPIPE, SIG_IGN);
		return worker_main(atoi(argv[2]), atoi(argv[3]));
	}
	if (argc == 5 && !strcmp(argv[1], "--exec-check"))
		return exec_check_main(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	parse_args(argc, argv);
	seed = O.rs;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	t0 = now_sec();

	ntests = NFIXED + NREPORTED;
	printf("TAP version 13\n1..%d\n", ntests);
	printf("# ksm_stress: duration %.0f s, seed %llu, %d processes x %d threads, %d pages + %d THP pages each\n",
	       O.duration, (unsigned long long)seed, O.procs, O.threads, O.pages, THP_PAGES);

	if (access(PARTS_DIR, F_OK)) {
		for (i = 0; i < ntests; i++)
			printf("ok %d - ksm_stress # SKIP no ksmpart (no %s)\n", i + 1, PARTS_DIR);
		return 0;
	}
	if (readlink("/proc/self/exe", O.self, sizeof(O.self) - 1) < 0)
		return 1;

	O.ctlfd = memfd_create("ksm-stress-ctl", 0);
	if (O.ctlfd < 0 || ftruncate(O.ctlfd, sizeof(struct ctl)) || ctl_map(O.ctlfd))
		return 1;
	ctl->seed = seed;
	ctl->threads = O.threads;
	ctl->procs = O.procs;
	ctl->pages = O.pages;
	ctl->have_numa = !O.no_numa && !getenv("KSM_STRESS_NO_MIGRATE") &&
			 access("/sys/devices/system/node/node1", F_OK) == 0;
	if (!ctl->have_numa)
		act_skip(A_MIGRATE, O.no_numa ? "--no-numa" :
			 getenv("KSM_STRESS_NO_MIGRATE") ? "KSM_STRESS_NO_MIGRATE is set" :
			 "no NUMA node 1 (CONFIG_NUMA off or a single node)");

	take_baseline(&base);
	O.man_orig = O.no_numa || getenv("KSM_STRESS_NO_MAN") ? -1 :
		     ksm_sysfs_read("merge_across_nodes");
	printf("# baseline: ksm_rmap_item %ld, ksm_stable_node %ld, ksm_mm_slot %ld%s; pages_shared %ld pages_sharing %ld; partitions:%s\n",
	       base.slab[0], base.slab[1], base.slab[2],
	       base.slab_merged ? " (caches merged with others)" : "", base.shared, base.sharing,
	       base.parts);
	do_man(true);

	setup_swap(swap_why, sizeof(swap_why));
	if (!ctl->have_swap)
		act_skip(A_SWAP, swap_why);
	setup_cgroup();
	printf("# swap: %s; cgroup reclaim: %s; NUMA node 1: %s\n",
	       ctl->have_swap ? (O.made_swap ? "zram0 256M (set up here)" : "present") : swap_why,
	       ctl->have_cgroup ? ctl->cgroup : "no", ctl->have_numa ? "yes" : "no");

	snprintf(ctl->main_name, sizeof(ctl->main_name), "ksm-stress-main-%d", getpid());
	O.main_fd = sys_ksm_open(ctl->main_name,
				 KSM_OPEN_CREATE | KSM_OPEN_EXCL | KSM_OPEN_CLOEXEC, 0600);
	if (O.main_fd < 0) {
		printf("Bail out! ksm_open(%s): %s\n", ctl->main_name, strerror(errno));
		return 1;
	}
	ctl->main_id = part_id(O.main_fd);
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	ctl->t_end = now_sec() + O.duration;
	for (i = 0; i < O.procs; i++)
		worker_pid[i] = spawn_worker(i);
	printf("# setup took %.1f s\n", now_sec() - t0);

	/* Process-wide chaos, round robin, until the end. */
	t0 = now_sec();
	t_end = t0 + O.duration;
	ctl->t_end = t_end;
	exit_every = O.duration / 3 < 60 ? O.duration / 3 : 60;
	next_exit = t0 + exit_every;
	while (now_sec() < t_end) {
		double a0 = now_sec();

		switch (tick++ % 6) {
		case 0: do_remote(); break;
		case 1: do_churn(); break;
		case 2: if (tick % 24 == 3) do_compact(); break;
		case 3: do_reclaim(); break;
		case 4: do_man(false); break;
		case 5: do_remote(); break;
		}
		if (now_sec() - a0 > O.slowest) {
			O.slowest = now_sec() - a0;
			O.slowest_tick = (tick - 1) % 6;
		}
		sample();
		if (now_sec() >= next_exit && now_sec() + 10 < t_end) {
			worker_exit_cycle(exits++ % 2 == 0);
			next_exit = now_sec() + exit_every;
		}
		sleep_ms(150 + rndn(&O.rs, 200));
	}
	if (!GET(act_iter[A_COMPACT]))
		do_compact();

	/* The end: everybody leaves and exits. */
	ctl->stop = 1;
	if (reclaim_thread)
		pthread_join(reclaim_thread, NULL);
	printf("# stress phase %.1f s; stopping workers\n", now_sec() - t0);
	for (i = 0; i < O.procs; i++) {
		st = reap_worker(i, 120);
		if (st != 0) {
			INC(worker_fail);
			failf("worker %d final exit status %d", i, st);
		}
	}
	/* Orphans of killed workers came to us (subreaper). */
	for (t_end = now_sec() + 20; now_sec() < t_end;) {
		pid_t r = waitpid(-1, &st, WNOHANG);

		if (r < 0 && errno == ECHILD)
			break;
		if (r <= 0)
			sleep_ms(50);
	}
	if (part_stats(O.main_fd, &ms))
		memset(&ms, 0, sizeof(ms));
	close(O.main_fd);
	if (O.made_swap) {
		if (swapoff("/dev/zram0"))
			failf("swapoff: %s", strerror(errno));
		write_string_path(ZRAM "reset", "1");
	}
	if (O.made_cgroup)
		rmdir(ctl->cgroup);
	if (O.enabled_memory_ctrl)
		write_string_path("/sys/fs/cgroup/cgroup.subtree_control", "-memory");

	/* ---- results ---- */
	printf("# main partition %llu at the end: members %llu pages_shared %llu pages_sharing %llu pages_unshared %llu rmap_items %llu; merge_calls %llu pages_merged %llu unmerge_calls %llu leave_calls %llu\n",
	       (unsigned long long)ms.id, (unsigned long long)ms.members,
	       (unsigned long long)ms.pages_shared, (unsigned long long)ms.pages_sharing,
	       (unsigned long long)ms.pages_unshared, (unsigned long long)ms.rmap_items,
	       (unsigned long long)ms.merge_calls, (unsigned long long)ms.pages_merged,
	       (unsigned long long)ms.unmerge_calls, (unsigned long long)ms.leave_calls);

	printf("# verified %llu pages (%llu bytes), corrupted %llu bytes in %llu pages\n",
	       (unsigned long long)GET(pages_verified), (unsigned long long)GET(bytes_verified),
	       (unsigned long long)GET(bytes_corrupt), (unsigned long long)GET(pages_corrupt));
	tap(GET(bytes_verified) > 0 && GET(bytes_corrupt) == 0 && GET(pfn_conflicts) == 0,
	    "integrity: every byte read back equals its shadow", NULL);

	printf("# merges: %llu pages merged by calls (%llu already shared), main partition pages_merged %llu, frames seen shared %llu, max partitions/pages_sharing %llu\n",
	       (unsigned long long)GET(res_merged), (unsigned long long)GET(res_already),
	       (unsigned long long)ms.pages_merged, (unsigned long long)GET(pfn_shared_seen),
	       (unsigned long long)O.max_sharing);
	tap(ms.pages_merged > 0 && GET(pfn_shared_seen) > 0 && O.max_sharing > 0,
	    "merging happened (stats, pagemap frames, partitions/ counter)", NULL);

	printf("# errors of racing calls: EBUSY %llu ENOENT %llu EBADF %llu ESRCH %llu ENOMEM %llu unexpected %llu\n",
	       (unsigned long long)GET(err_busy), (unsigned long long)GET(err_noent),
	       (unsigned long long)GET(err_badf), (unsigned long long)GET(err_srch),
	       (unsigned long long)GET(err_nomem), (unsigned long long)GET(err_unexpected));
	tap(GET(err_unexpected) == 0, "ksm_* calls failed only with the errnos the races explain",
	    NULL);
	tap(GET(res_bad) == 0 && GET(merge_calls) > 0,
	    "every ksm_merge result satisfies the ABI invariants", NULL);
	printf("# children: %llu ok, %llu failed\n", (unsigned long long)GET(child_ok),
	       (unsigned long long)GET(child_fail));
	tap(GET(child_fail) == 0 && GET(child_ok) > 0,
	    "forked and exec'd children verified their memory and membership", NULL);
	printf("# worker processes: %llu started, %llu failed\n",
	       (unsigned long long)GET(workers_spawned), (unsigned long long)GET(worker_fail));
	tap(GET(worker_fail) == 0, "workers exited cleanly: verified, left, no KSM page mapped",
	    NULL);
	tap(ms.members == 0 && ms.pages_shared == 0 && ms.pages_sharing == 0 &&
	    ms.pages_unshared == 0 && ms.rmap_items == 0 && ms.ksm_zero_pages == 0,
	    "main partition gauges are 0 after every member left", NULL);
	tap(GET(parts_created) > 0, "partitions were created and destroyed", NULL);
	printf("# partitions created %llu\n", (unsigned long long)GET(parts_created));

	for (i = 0; i < NREPORTED; i++)
		report_action(reported[i]);

	if (base.slab_merged || base.slab[0] < 0 || base.slab[1] < 0 || base.slab[2] < 0) {
		tap(true, "KSM slab objects back to baseline",
		    "KSM slab caches merged with others or not visible (boot with slab_nomerge)");
	} else {
		ok = settle(slab_back, &base, 20, why, sizeof(why));
		if (!ok)
			printf("# slab: %s\n", why);
		tap(ok, "KSM slab objects back to baseline", NULL);
	}
	ok = settle(parts_back, &base, 10, why, sizeof(why));
	if (!ok)
		printf("# %s\n", why);
	tap(ok, "no partition left in /proc/ksm_partitions", NULL);
	ok = settle(counters_back, &base, 10, why, sizeof(why));
	if (!ok)
		printf("# %s\n", why);
	tap(ok, "system-wide KSM counters back to their start values", NULL);
	if (O.man_flipped) {
		int r = man_write(O.man_orig);

		if (r)
			act_fail(A_MAN, "restoring merge_across_nodes=%ld at the end: %s", O.man_orig,
				 strerror(-r));
		printf("# merge_across_nodes: ran with %d, restored to %ld: %s\n", !O.man_orig,
		       O.man_orig, r ? "failed" : "ok");
		tap(r == 0, "merge_across_nodes restorable at the end (no KSM page left)", NULL);
	} else {
		tap(true, "merge_across_nodes restorable at the end (no KSM page left)",
		    O.man_orig < 0 ? "merge_across_nodes not used (absent, --no-numa or KSM_STRESS_NO_MAN)" :
				     "merge_across_nodes was not flipped at the start");
	}

	printf("# summary: duration %.1f s (seed %llu)\n", now_sec() - t0, (unsigned long long)seed);
	for (i = 0; i < NACT; i++)
		printf("# summary: %-28s %llu\n", action_name[i],
		       (unsigned long long)GET(act_iter[i]));
	printf("# summary: merge calls %llu (%llu failed), unmerge calls %llu, leave calls %llu\n",
	       (unsigned long long)GET(merge_calls), (unsigned long long)GET(merge_failed_calls),
	       (unsigned long long)GET(unmerge_calls), (unsigned long long)GET(leave_calls));
	printf("# summary: pages merged %llu, frames seen shared %llu, pages seen swapped %llu, MADV_COLLAPSE %llu ok %llu failed, huge pages seen %llu, split %llu, pages migrated %llu\n",
	       (unsigned long long)GET(res_merged), (unsigned long long)GET(pfn_shared_seen),
	       (unsigned long long)GET(swapped_seen), (unsigned long long)GET(collapse_ok),
	       (unsigned long long)GET(collapse_failed), (unsigned long long)GET(thp_seen),
	       (unsigned long long)GET(split_on_thp), (unsigned long long)GET(migrated));
	printf("# summary: compaction %llu runs, %.1f s total, %.1f s max; cgroup reclaim %.1f s total, %.1f s max; slowest orchestrator step %.1f s (kind %d)\n",
	       (unsigned long long)GET(act_iter[A_COMPACT]), O.compact_s, O.compact_max_s,
	       reclaim_s, reclaim_max_s, O.slowest, O.slowest_tick);
	printf("# summary: bytes verified %llu, corrupted bytes %llu\n",
	       (unsigned long long)GET(bytes_verified), (unsigned long long)GET(bytes_corrupt));
	printf("# summary: %d of %d test points failed\n", tap_failed, tap_n);
	return tap_failed || tap_n != ntests ? 1 : 0;
}
