// SPDX-License-Identifier: GPL-2.0
/*
 * ksm_fuzz - seeded, multi-threaded fuzzer of the ksmpart ABI: ksm_open,
 * ksm_merge, ksm_unmerge, ksm_leave, ioctl(KSM_IOC_GET_STATS), the partition
 * fdinfo, /proc/ksm_partitions and /sys/kernel/mm/ksm/partitions/.
 *
 *   ksm_fuzz [--calls N] [--seed S] [--threads T] [--fail-nth PCT]
 *
 * Defaults: 5000 calls (30-50 s in the debug VM), seed 1, 4 threads, 3% of
 * the calls with fault injection. Exit status 0 when every TAP test passed.
 * Each thread draws from its own seeded stream; the interleaving of the
 * threads is not reproducible, so every failure is printed with the call
 * and all its arguments.
 *
 * A worker process runs T fuzzing threads (plus a writer thread) against
 * shared partition fds that the threads also close and replace, a forked
 * victim process that joins and leaves partitions on its own, a process of
 * another user, zombie/dead/thread/kernel-thread pidfds and fds of other
 * types. Arguments are mostly valid with boundary values mixed in, so that
 * calls get deep. One thread drops to uid 65534 (EPERM, EACCES paths);
 * PCT percent of the calls run with /proc/thread-self/fail-nth armed.
 *
 * Oracle (docs/abi.md):
 *  - every failure is an errno abi.md documents for that call;
 *  - arguments abi.md says are invalid never succeed;
 *  - results are consistent: return value within the ranges given, the two
 *    ksm_merge_result invariants over the pages touched by the processed
 *    bytes, size-versioned structs written exactly as section 8 says (size
 *    field, bytes beyond untouched), stats ids/flags, cumulative counters
 *    never decrease, fdinfo, /proc/ksm_partitions and partitions/ formats
 *    and modes (section 11); with ksmd off, global KSM's counters never move;
 *  - memory being merged keeps its content (checksums);
 *  - at the end, quiet: ioctl, fdinfo and /proc/ksm_partitions agree, the
 *    partitions/ sums are the sums of the rows, gauges of partitions without
 *    members are 0; fds, the rows of /proc/ksm_partitions, the partitions/
 *    sums, KSM slab objects and global KSM's counters (which partitions never
 *    move: abi.md 11.5) are back to their baseline.
 * ioctl commands the VFS handles for every fd (FIONBIO, FIGETBSZ, ...) are
 * not sent: they never reach the partition's ioctl. Other file types get
 * only KSM_IOC_GET_STATS, and their errnos are not this ABI's.
 * Output: TAP version 13 with '# key: value' diagnostics.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <execinfo.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include "ksmpart.h"

#ifndef fallthrough
#define fallthrough __attribute__((__fallthrough__))
#endif
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
#ifndef UIO_MAXIOV
#define UIO_MAXIOV 1024
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/*
 * The end of user space as access_ok() sees it, per architecture: every
 * range that ends at or below USER_END passes it, every range that ends
 * above USER_END_MAX fails it (EFAULT); in between it depends on how the
 * kernel was configured, and the fuzzer expects neither.
 */
#if defined(__x86_64__)
/* 4-level paging: the kernel's USER_PTR_MAX (TASK_SIZE_MAX) */
#define USER_END	0x7ffffffff000UL
#define USER_END_MAX	USER_END
#elif defined(__aarch64__)
/*
 * mmap's window is 48 bits (DEFAULT_MAP_WINDOW) whatever the page size;
 * TASK_SIZE_MAX is 1 << CONFIG_ARM64_VA_BITS, which is 52 at most.
 */
#define USER_END	(1UL << 48)
#define USER_END_MAX	(1UL << 52)
#else
#error "ksm_fuzz: no USER_END for this architecture"
#endif
/* in the kernel half on both: the direct map of x86_64, vmalloc of arm64 */
#define KERNEL_ADDR	0xffff888000000000UL

#define NSLOTS		6	/* churned partition fds */
#define NSTABLE		2	/* partition fds open for the whole run */
#define NV		64	/* victim pages, checksummed */
#define NW		16	/* writer thread's pages */
#define NM		8	/* pages of each thread's VMA churn region */
#define NSIDE		4	/* pages of each skipped-VMA region */
#define THP_SIZE	(2UL << 20)
#define IOV_PAGES	5	/* UIO_MAXIOV + 1 iovecs fit */
#define MAX_THREADS	16
#define ERRNO_MAX	600	/* ERESTARTSYS (512) and friends must show if they leak */
#define REPORT_MAX	25	/* detailed reports per failure category */
#define DEFAULT_CALLS	5000	/* 30-50 s in the debug VM (TCG, KASAN, 1 vCPU) */

enum kind { K_OPEN, K_MERGE, K_UNMERGE, K_LEAVE, K_IOCTL, K_FDINFO, K_SYSFS, K_CHURN,
	    K_VMA, K_FORK, K_SIGNAL, K_VERIFY, NKINDS };
static const char *const kind_name[NKINDS] = {
	"ksm_open", "ksm_merge", "ksm_unmerge", "ksm_leave", "ioctl_get_stats", "fdinfo",
	"sysfs", "fd_churn", "vma_churn", "fork_member", "signal", "verify",
};

/* Failure categories, one TAP line each (and the child's share of them) */
enum fail { F_UNDOC, F_MUSTFAIL, F_CONSIST, F_CONTENT, NFAILS };
static const char *const fail_name[NFAILS] = {
	"undocumented errno", "invalid arguments accepted", "inconsistent result",
	"memory content changed",
};

/* docs/abi.md sections 4-7 and 11.2: the errnos each call may return */
static const int doc_open[] = { EINVAL, ENAMETOOLONG, EFAULT, ENOENT, EEXIST, EACCES,
				EMFILE, ENFILE, ENOMEM, 0 };
static const int doc_merge[] = { EBADF, EINVAL, EFAULT, ESRCH, EPERM, EBUSY, EINTR, ENOMEM, 0 };
static const int doc_unmerge[] = { EBADF, EINVAL, EFAULT, ESRCH, EPERM, ENOENT, EINTR,
				   ENOMEM, 0 };
static const int doc_leave[] = { EBADF, EINVAL, ESRCH, EPERM, ENOENT, EINTR, ENOMEM, 0 };
/* EBADF: generic for every fd-taking call (a churned slot may be closed) */
static const int doc_ioctl[] = { ENOTTY, EINVAL, EFAULT, EBADF, 0 };

static const char *const stat_names[] = {
	"members", "pages_shared", "pages_sharing", "pages_unshared", "ksm_zero_pages",
	"rmap_items", "stable_node_chains", "stable_node_dups", "general_profit",
	"merge_calls", "unmerge_calls", "leave_calls", "pages_scanned", "pages_merged",
	"zero_pages_merged", "pages_failed", "pages_absent", "pages_skipped",
	"merge_time_ns", "unmerge_time_ns",
};

#define NSTATS 20
/* the cumulative ones, from merge_calls on (index into stat_names) */
#define FIRST_CUMULATIVE 9

/* Counters shared by the worker, its children and the TAP parent */
struct shared {
	uint64_t calls[NKINDS], ok[NKINDS], ns[NKINDS];
	uint64_t err[NKINDS][ERRNO_MAX];
	uint64_t fails[NFAILS];
	uint64_t issued;		/* calls handed out to threads */
	uint64_t pages_merged, pages_scanned, bytes_processed, partial, joined;
	uint64_t injected, armed;
	uint64_t content_checks;
	uint64_t child_loops;
	uint64_t vfs_ioctl_notes;
	int stop;
	int worker_done;
	double seconds;
	/* end-of-run checks done by the worker */
	int quiet_ok, fds_ok;
	long fds_before, fds_after;
	int lowfd_before, lowfd_after;
	int quiet_checked;
	char quiet_why[256], fds_why[256];
	int fail_nth_used;
	pid_t children[3];	/* victim, uid 65534, zombie: killed by the parent if left */
	long glob_base[6];	/* global KSM counters at the start (ksm_globals) */
	int ksmd_off;		/* /sys/kernel/mm/ksm/run was 0 at the start */
};

static struct shared *S;

static int opt_threads = 4;
static uint64_t opt_calls = DEFAULT_CALLS, opt_seed = 1;
static int opt_fail_pct = 3;
static size_t PS;
static unsigned long max_rw;	/* MAX_RW_COUNT */
static pid_t worker_pid;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

#define INC(x) __atomic_fetch_add(&(x), 1, __ATOMIC_RELAXED)
#define ADD(x, v) __atomic_fetch_add(&(x), (v), __ATOMIC_RELAXED)
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* ------------------------------------------------------------------ */
/* Random numbers: splitmix64, one stream per thread                   */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t rn(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static bool chance(struct rng *r, unsigned int pct)
{
	return rn(r, 100) < pct;
}

/* Interesting 64-bit values: boundaries of the types and limits involved */
static uint64_t edge64(struct rng *r)
{
	static const uint64_t v[] = {
		0, 1, 2, 7, 8, 63, 64, 71, 72, 73, 175, 176, 177, 255, 256, 4095, 4096, 4097,
		0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ULL, 0x100000001ULL,
		0x7fffffffffffffffULL, 0x8000000000000000ULL, 0xffffffffffffffffULL,
		0x7ffff000, 0x7ffff001, USER_END, USER_END - 1, USER_END + 1,
		KERNEL_ADDR, 0xffffffff80000000ULL, 0xfffffffffffff000ULL, 1ULL << 47,
		1ULL << 60, UIO_MAXIOV, UIO_MAXIOV + 1,
	};

	if (chance(r, 20))
		return rnd(r);
	return v[rn(r, ARRAY_SIZE(v))] + (chance(r, 10) ? rn(r, 3) - 1 : 0);
}

/* ------------------------------------------------------------------ */
/* Reporting                                                           */

static void note(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&print_lock);
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
	pthread_mutex_unlock(&print_lock);
}

/* Count a failure; describe the first REPORT_MAX of each category */
static void failure(enum fail f, const char *fmt, ...)
{
	uint64_t n = INC(S->fails[f]);
	va_list ap;

	if (n >= REPORT_MAX)
		return;
	pthread_mutex_lock(&print_lock);
	va_start(ap, fmt);
	printf("# FAIL (%s): ", fail_name[f]);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
	pthread_mutex_unlock(&print_lock);
}

static const char *ename(int e)
{
	const char *n = e ? strerrorname_np(e) : "OK";

	return n ? n : "E?";
}

static bool documented(const int *list, int e)
{
	for (; *list; list++)
		if (*list == e)
			return true;
	return false;
}

/* Count a call and its outcome (e = 0 success) */
/* start of the current call of a fuzzing thread (0: not one) */
static __thread double call_t0;

static void account(enum kind k, int e)
{
	if (call_t0)
		ADD(S->ns[k], (uint64_t)((now_sec() - call_t0) * 1e9));
	INC(S->calls[k]);
	if (!e)
		INC(S->ok[k]);
	else
		INC(S->err[k][e > 0 && e < ERRNO_MAX ? e : 0]);
}

/* ------------------------------------------------------------------ */
/* Memory: victims with known content, arenas for arguments            */

static uint64_t page_sum(const void *p)
{
	const uint64_t *w = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < PS / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return h;
}

static char *V;			/* NV victim pages; the last one is a hole */
static uint64_t V_sum[NV];
static char *THP;		/* THP_SIZE, 2 MiB aligned, MADV_HUGEPAGE */
static uint64_t *THP_sum;
static char *W;			/* NW pages, written by the writer thread */
static char *SHARED_R, *NONE_R, *FILE_R, *RO_R;	/* skipped/absent/read-only regions */
static char *heap_buf;

#define V_HOLE (NV - 1)

static void fill_zero(char *p)
{
	p[0] = 1;	/* a private page, not the zero page */
	memset(p, 0, PS);
}

/*
 * V: 4 copies of each of 12 contents (pages 0-47), zero-filled pages 48-55
 * (merge into one KSM page, or the zero page with KSM_OPEN_ZERO_PAGES),
 * never-written pages 56-59 (absent), read-only duplicates 60-61, a unique
 * page 62 and a hole at 63.
 */
static int setup_victims(void)
{
	size_t i;
	char *a;

	V = map_anon(NV);
	if (!V)
		return -1;
	for (i = 0; i < NV; i++) {
		if (i < 48 || i == 60 || i == 61)
			fill_page(V + i * PS, 0x1000 + i % 12);
		else if (i < 56)
			fill_zero(V + i * PS);
		else if (i == 62)
			fill_page(V + i * PS, 0x2000 + i);
	}
	mprotect(V + 60 * PS, 2 * PS, PROT_READ);
	munmap(V + V_HOLE * PS, PS);
	for (i = 0; i < V_HOLE; i++)
		V_sum[i] = page_sum(V + i * PS);

	a = mmap(NULL, 2 * THP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED)
		return -1;
	THP = (char *)(((uintptr_t)a + THP_SIZE - 1) & ~(THP_SIZE - 1));
	madvise(THP, THP_SIZE, MADV_HUGEPAGE);
	THP_sum = calloc(THP_SIZE / PS, sizeof(*THP_sum));
	if (!THP_sum)
		return -1;
	for (i = 0; i < THP_SIZE / PS; i++) {
		fill_page(THP + i * PS, 0x3000 + i % 8);
		THP_sum[i] = page_sum(THP + i * PS);
	}

	W = map_anon(NW);
	SHARED_R = mmap(NULL, NSIDE * PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			-1, 0);
	NONE_R = mmap(NULL, NSIDE * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	RO_R = mmap(NULL, NSIDE * PS, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	heap_buf = malloc(64 * 1024);
	if (!W || SHARED_R == MAP_FAILED || NONE_R == MAP_FAILED || RO_R == MAP_FAILED ||
	    !heap_buf)
		return -1;
	for (i = 0; i < NSIDE; i++)
		fill_page(SHARED_R + i * PS, 0x1000 + i);
	memset(heap_buf, 0x5a, 64 * 1024);
	i = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	FILE_R = mmap(NULL, NSIDE * PS, PROT_READ, MAP_PRIVATE, i, 0);
	close(i);
	if (FILE_R == MAP_FAILED)
		return -1;
	return 0;
}

/* Index of the first V page (or THP page + NV) whose content changed, or -1 */
static long first_changed(bool with_thp)
{
	size_t i;

	for (i = 0; i < V_HOLE; i++)
		if (page_sum(V + i * PS) != V_sum[i])
			return i;
	for (i = 0; with_thp && i < THP_SIZE / PS; i++)
		if (page_sum(THP + i * PS) != THP_sum[i])
			return NV + i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* File descriptors and processes                                      */

struct fdv {
	int fd;
	const char *what;
};

static int slot[NSLOTS];
static pthread_mutex_t slot_lock[NSLOTS];
static int stable_fd[NSTABLE];
static uint64_t stable_id[NSTABLE];
static int home_fd = -1;	/* fd of the partition the worker joined last */
static int home_stable = -1;	/* its stable index, or -1 */
static char stable_name[64], pool_prefix[32];

/* fds that are no partition (EBADF as fd) and no pidfd (EBADF as pidfd) */
static struct fdv odd[24];
static int nodd;
/* pidfds */
static int self_pidfd, self_thread_pidfd, thread_pidfd, child_pidfd, nobody_pidfd,
	   zombie_pidfd, dead_pidfd, kthread_pidfd;
static pid_t child_pid, nobody_pid, zombie_pid;
static int helper_pipe[2];
static pthread_t helper_thread;

#define CLOSED_FD 900	/* far above the fds this program uses: stays closed */

static void add_odd(int fd, const char *what)
{
	if (nodd < (int)(ARRAY_SIZE(odd)))
		odd[nodd++] = (struct fdv){ fd, what };
}

static pid_t gettid_(void)
{
	return syscall(SYS_gettid);
}

static void *helper_main(void *arg)
{
	pid_t *tid = arg;

	*tid = gettid_();
	get_byte(helper_pipe[0]);	/* parked until the end */
	return NULL;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

static int lowest_free_fd(void)
{
	int fd = dup(0), lo;

	if (fd < 0) {
		fd = open("/dev/null", O_RDONLY);
		if (fd < 0)
			return -1;
	}
	lo = fd;
	close(fd);
	return lo;
}

/* The victim process: joins and leaves partitions itself while being fuzzed */
static void victim_child_main(void);
static void nobody_child_main(void)
{
	if (drop_privileges(65534, 65534) == 0)
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	for (;;)
		pause();
}

static int setup_fds(void)
{
	int p[2], sv[2], fd;
	pid_t tid = 0, pid;

	odd[nodd++] = (struct fdv){ -1, "-1" };
	add_odd(CLOSED_FD, "closed");
	add_odd(INT_MAX, "INT_MAX");
	add_odd(1 << 20, "1<<20");
	add_odd(INT_MIN, "INT_MIN");
	add_odd(KSM_PIDFD_SELF, "KSM_PIDFD_SELF");
	add_odd(KSM_PIDFD_SELF + 1, "KSM_PIDFD_SELF+1");
	add_odd(open("/proc/self/exe", O_RDONLY | O_CLOEXEC), "regular file");
	if (pipe2(p, O_CLOEXEC))
		return -1;
	add_odd(p[0], "pipe read end");
	add_odd(p[1], "pipe write end");
	add_odd(eventfd(0, EFD_CLOEXEC), "eventfd");
	add_odd(memfd_create("ksm_fuzz", MFD_CLOEXEC), "memfd");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
		add_odd(sv[0], "unix socket");
		add_odd(sv[1], "unix socket");
	}
	add_odd(epoll_create1(EPOLL_CLOEXEC), "epoll");
	add_odd(open("/", O_PATH | O_CLOEXEC), "O_PATH dir");
	add_odd(open("/dev/null", O_RDWR | O_CLOEXEC), "/dev/null");
	add_odd(open("/proc/self/ksm_stat", O_RDONLY | O_CLOEXEC), "procfs file");

	/* pidfds: self, self as a thread-group leader with PIDFD_THREAD */
	self_pidfd = sys_pidfd_open(getpid(), 0);
	self_thread_pidfd = sys_pidfd_open(getpid(), PIDFD_THREAD);
	/* a non-leader thread: ESRCH */
	if (pipe2(helper_pipe, O_CLOEXEC) ||
	    pthread_create(&helper_thread, NULL, helper_main, &tid))
		return -1;
	while (!__atomic_load_n(&tid, __ATOMIC_ACQUIRE))
		sleep_ms(1);
	thread_pidfd = sys_pidfd_open(tid, PIDFD_THREAD);
	/* kthreadd: no mm */
	kthread_pidfd = sys_pidfd_open(2, 0);
	/* a zombie (never reaped until the end) and a dead, reaped process */
	zombie_pid = fork();
	if (zombie_pid == 0)
		_exit(0);
	zombie_pidfd = sys_pidfd_open(zombie_pid, 0);
	pid = fork();
	if (pid == 0) {
		sleep_ms(50);
		_exit(0);
	}
	dead_pidfd = sys_pidfd_open(pid, 0);
	wait_status(pid);
	/* another user's process (root may attach to it; uid 65534 thread may not) */
	nobody_pid = fork();
	if (nobody_pid == 0)
		nobody_child_main();
	nobody_pidfd = sys_pidfd_open(nobody_pid, 0);
	fd = self_pidfd;
	add_odd(fd, "pidfd (self)");
	if (self_pidfd < 0 || self_thread_pidfd < 0 || thread_pidfd < 0 || zombie_pidfd < 0 ||
	    dead_pidfd < 0 || nobody_pidfd < 0) {
		note("setup: pidfd_open failed: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int open_partitions(void)
{
	struct ksm_partition_stats st;
	int i;

	snprintf(pool_prefix, sizeof(pool_prefix), "fz%d-", getpid());
	snprintf(stable_name, sizeof(stable_name), "fz%d-stable", getpid());
	stable_fd[0] = sys_ksm_open(stable_name, KSM_OPEN_CREATE | KSM_OPEN_EXCL |
				    KSM_OPEN_CLOEXEC, 0600);
	stable_fd[1] = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES | KSM_OPEN_CLOEXEC, 0);
	for (i = 0; i < NSTABLE; i++) {
		if (stable_fd[i] < 0 || ioctl(stable_fd[i], KSM_IOC_GET_STATS, &st))
			return -1;
		stable_id[i] = st.id;
	}
	for (i = 0; i < NSLOTS; i++) {
		pthread_mutex_init(&slot_lock[i], NULL);
		slot[i] = sys_ksm_open(NULL, i % 2 ? KSM_OPEN_ZERO_PAGES : 0, 0);
		if (slot[i] < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Per-thread state                                                    */

struct th {
	int idx;
	struct rng r;
	pthread_t pt;
	pid_t tid;
	bool unpriv;
	int fail_fd;
	char *iov_arena;	/* IOV_PAGES RW pages, then a PROT_NONE guard */
	char *res_arena;	/* RW page, RO page, PROT_NONE guard */
	char *name_arena;	/* RW page, then a PROT_NONE guard */
	char *mreg;		/* NM pages: this thread mmaps/munmaps/mprotects them */
	char *mtmp;		/* PROT_NONE reservation: mremap moves mreg there for a moment */
	bool mreg_mapped;
	bool seen[NSTABLE];
	struct ksm_partition_stats last[NSTABLE];
	char desc[1024];	/* the current call, for reports */
	unsigned int wild;	/* arguments (1 << A_*) generated without restraint */
	int slot;		/* slot the fd argument came from, or -1 */
};

/*
 * Each call has all arguments sane, one wild, or all wild: wild arguments
 * alone rarely get past the first check, sane ones reach the merge engine.
 */
enum arg { A_FD, A_PIDFD, A_VEC, A_RES, A_FLAGS, A_OTHER, NARGS };

static bool wild(const struct th *t, enum arg a)
{
	return t->wild & (1U << a);
}

static struct th threads[MAX_THREADS];
static int nthreads;

static char *map_guarded(size_t rw_pages, size_t ro_pages)
{
	size_t n = rw_pages + ro_pages + 1;
	char *p = mmap(NULL, n * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, (rw_pages + ro_pages) * PS);
	if (ro_pages)
		mprotect(p + rw_pages * PS, ro_pages * PS, PROT_READ);
	mprotect(p + (rw_pages + ro_pages) * PS, PS, PROT_NONE);
	return p;
}

static int setup_thread(struct th *t, int idx)
{
	t->idx = idx;
	t->r.s = opt_seed * 0x100000001b3ULL + idx * 0x9E3779B97F4A7C15ULL + 1;
	t->unpriv = nthreads >= 3 && idx == nthreads - 1;
	t->iov_arena = map_guarded(IOV_PAGES, 0);
	t->name_arena = map_guarded(1, 0);
	t->mreg = map_anon(NM);
	t->mtmp = mmap(NULL, NM * PS, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->mtmp == MAP_FAILED)
		t->mtmp = NULL;
	if (!t->iov_arena || !t->name_arena || !t->mreg || !t->mtmp)
		return -1;
	/* res_arena's second page read-only, holding size fields (72 at 0, 200 at 2048) */
	t->res_arena = mmap(NULL, 3 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	if (t->res_arena == MAP_FAILED)
		return -1;
	*(uint32_t *)(t->res_arena + PS) = KSM_MERGE_RESULT_SIZE_VER0;
	*(uint32_t *)(t->res_arena + PS + 2048) = 200;
	mprotect(t->res_arena + PS, PS, PROT_READ);
	mprotect(t->res_arena + 2 * PS, PS, PROT_NONE);
	t->mreg_mapped = true;
	t->fail_fd = -1;
	return 0;
}

/* /proc/thread-self/fail-nth: arm for the next call with probability opt_fail_pct */
static bool arm_fail(struct th *t)
{
	char buf[16];
	int n;

	if (t->fail_fd < 0 || !chance(&t->r, opt_fail_pct))
		return false;
	n = snprintf(buf, sizeof(buf), "%u", (unsigned int)(1 + rn(&t->r, 24)));
	if (pwrite(t->fail_fd, buf, n, 0) != n)
		return false;
	INC(S->armed);
	return true;
}

static void disarm_fail(struct th *t, bool armed)
{
	char buf[16] = "";

	if (!armed)
		return;
	if (pread(t->fail_fd, buf, sizeof(buf) - 1, 0) > 0 && buf[0] == '0')
		INC(S->injected);
	if (pwrite(t->fail_fd, "0", 1, 0) != 1)
		note("cannot disarm fail-nth: %s", strerror(errno));
}

/* ------------------------------------------------------------------ */
/* Argument generators                                                 */

static int pick_slot_fd(struct th *t, const char **what)
{
	static const char *const names[NSLOTS] = { "slot0", "slot1", "slot2", "slot3",
						    "slot4", "slot5" };
	int s = rn(&t->r, NSLOTS);

	*what = names[s];
	t->slot = s;
	return __atomic_load_n(&slot[s], __ATOMIC_RELAXED);
}

/*
 * A call that may make the worker a member runs with the slot locked, so
 * that the fd is not closed or replaced under it: the worker would become a
 * member of a partition it has no fd of, could never leave it, and every
 * later merge would be EBUSY. Other targets may end up so; they are fuzzed
 * still. Returns the fd to use (re-read under the lock).
 */
static bool targets_self(int pidfd)
{
	return pidfd == KSM_PIDFD_SELF || pidfd == self_pidfd || pidfd == self_thread_pidfd;
}

static int lock_slot(struct th *t, int fd, int pidfd)
{
	if (t->slot < 0 || !targets_self(pidfd))
		return fd;
	pthread_mutex_lock(&slot_lock[t->slot]);
	return __atomic_load_n(&slot[t->slot], __ATOMIC_RELAXED);
}

static void unlock_slot(struct th *t, int pidfd)
{
	if (t->slot >= 0 && targets_self(pidfd))
		pthread_mutex_unlock(&slot_lock[t->slot]);
}

static int pick_odd_fd(struct th *t, const char **what)
{
	int i;

	if (chance(&t->r, 10)) {
		*what = "random int";
		return (int)rnd(&t->r);
	}
	i = rn(&t->r, nodd);
	*what = odd[i].what;
	return odd[i].fd;
}

/* An fd where a partition fd is expected; *part: it is one (unless churned) */
static int pick_part_fd(struct th *t, const char **what, int *stable)
{
	unsigned int r = rn(&t->r, 100);

	*stable = -1;
	if (!wild(t, A_FD)) {
		int home = LOAD(home_fd);

		/* mostly the partition the worker last joined: merges, not EBUSY */
		if (r < 55 && home >= 0) {
			int i;

			*stable = LOAD(home_stable);
			*what = "home (last joined)";
			for (i = 0; i < NSLOTS; i++)
				if (LOAD(slot[i]) == home)
					t->slot = i;	/* locked like a slot: see lock_slot() */
			return home;
		}
		if (r < 75) {
			*stable = rn(&t->r, NSTABLE);
			*what = *stable ? "stable1(anon,zero)" : "stable0(named)";
			return stable_fd[*stable];
		}
		return pick_slot_fd(t, what);
	}
	if (r < 45)
		return pick_slot_fd(t, what);
	if (r < 75) {
		*stable = rn(&t->r, NSTABLE);
		*what = *stable ? "stable1(anon,zero)" : "stable0(named)";
		return stable_fd[*stable];
	}
	if (r < 82) {
		/* pidfds where a partition fd is expected */
		static const char *const n[] = { "pidfd(self)", "pidfd(child)", "pidfd(nobody)" };
		int i = rn(&t->r, 3);

		*what = n[i];
		return i == 0 ? self_pidfd : i == 1 ? child_pidfd : nobody_pidfd;
	}
	return pick_odd_fd(t, what);
}

static int pick_pidfd(struct th *t, const char **what)
{
	unsigned int r = rn(&t->r, 100);
	int s;

	if (!wild(t, A_PIDFD))
		r = r < 60 ? 0 : r < 68 ? 45 : r < 72 ? 50 : 60;
	if (r < 40) {
		*what = "KSM_PIDFD_SELF";
		return KSM_PIDFD_SELF;
	}
	if (r < 48) {
		*what = "pidfd(self)";
		return self_pidfd;
	}
	if (r < 52) {
		*what = "pidfd(self,PIDFD_THREAD leader)";
		return self_thread_pidfd;
	}
	if (r < 64) {
		*what = "pidfd(victim child)";
		return child_pidfd;
	}
	if (r < 70) {
		*what = "pidfd(uid 65534 child)";
		return nobody_pidfd;
	}
	if (r < 73) {
		*what = "pidfd(zombie)";
		return zombie_pidfd;
	}
	if (r < 76) {
		*what = "pidfd(dead)";
		return dead_pidfd;
	}
	if (r < 79) {
		*what = "pidfd(non-leader thread)";
		return thread_pidfd;
	}
	if (r < 81) {
		*what = "pidfd(kthreadd)";
		return kthread_pidfd;
	}
	if (r < 86) {
		int fd_slot = t->slot;

		s = pick_slot_fd(t, what);
		t->slot = fd_slot;	/* the fd argument's slot, for lock_slot() */
		*what = "partition fd as pidfd";
		return s;
	}
	return pick_odd_fd(t, what);
}

static unsigned int pick_flags(struct th *t)
{
	unsigned int r = rn(&t->r, 100);

	if (r < 88 || !wild(t, A_FLAGS))
		return 0;
	if (r < 94)
		return 1U << rn(&t->r, 32);
	if (r < 97)
		return (unsigned int)rnd(&t->r);
	return ~0U;
}

/* One range; *region names where it points */
static void gen_range(struct th *t, struct iovec *prev, struct iovec *out)
{
	unsigned int r = rn(&t->r, wild(t, A_VEC) ? 100 : 64);
	uintptr_t base;
	size_t len;

	if (r < 34) {
		base = (uintptr_t)V + rn(&t->r, NV * PS);
		len = chance(&t->r, 30) ? rn(&t->r, PS + 1) : rn(&t->r, 12 * PS);
	} else if (r < 42) {
		base = (uintptr_t)THP + rn(&t->r, THP_SIZE);
		len = chance(&t->r, 50) ? rn(&t->r, 16 * PS) : THP_SIZE;
	} else if (r < 48) {
		base = (uintptr_t)W + rn(&t->r, NW * PS);
		len = rn(&t->r, NW * PS);
	} else if (r < 54) {
		struct th *o = &threads[rn(&t->r, nthreads)];

		base = (uintptr_t)o->mreg + rn(&t->r, NM * PS);
		len = rn(&t->r, 2 * NM * PS);
	} else if (r < 57) {
		char here;

		base = (uintptr_t)&here - rn(&t->r, 32 * 1024);
		len = rn(&t->r, 64 * 1024);
	} else if (r < 60) {
		base = (uintptr_t)heap_buf + rn(&t->r, 64 * 1024);
		len = rn(&t->r, 64 * 1024);
	} else if (r < 64) {
		static char *const *side[] = { &SHARED_R, &NONE_R, &FILE_R, &RO_R };

		base = (uintptr_t)*side[rn(&t->r, 4)] + rn(&t->r, NSIDE * PS);
		len = rn(&t->r, (NSIDE + 1) * PS);
	} else if (r < 66) {
		base = chance(&t->r, 50) ? 0 : rn(&t->r, 1UL << 32);
		len = chance(&t->r, 50) ? max_rw : edge64(&t->r);
	} else if (r < 69) {
		base = rnd(&t->r) & (USER_END - 1);
		len = 0;
	} else if (r < 72) {
		base = KERNEL_ADDR + rn(&t->r, 1UL << 30);
		len = 1 + rn(&t->r, 4 * PS);
	} else if (r < 75) {
		base = ~0UL - rn(&t->r, 2 * PS);	/* wraps */
		len = 1 + rn(&t->r, 4 * PS);
	} else if (r < 78) {
		base = USER_END - rn(&t->r, 2 * PS);	/* ends at or beyond the user range */
		len = rn(&t->r, 4 * PS);
	} else if (r < 82) {
		static const uint64_t huge[] = {
			0x7fffffffffffffffULL, 0x8000000000000000ULL, ~0ULL, 1ULL << 60,
			1ULL << 46, 0x7ffff000, 0x7ffff001, 0x80000000,
		};

		base = (uintptr_t)V + rn(&t->r, NV * PS);
		len = huge[rn(&t->r, 8)];
	} else if (r < 88 && prev) {
		/* overlapping the previous range */
		base = (uintptr_t)prev->iov_base + rn(&t->r, PS + 1);
		len = prev->iov_len;
	} else if (r < 91) {
		base = rn(&t->r, 2 * PS);	/* NULL page: a hole */
		len = rn(&t->r, 4 * PS);
	} else {
		base = edge64(&t->r);
		len = edge64(&t->r);
	}
	if (chance(&t->r, 10))
		base += rn(&t->r, 16);
	out->iov_base = (void *)base;
	out->iov_len = len;
}

/*
 * A vector argument and what the kernel must make of it (abi.md section 5,
 * "Ranges"): state VEC_OK with the effective lengths, or VEC_FAIL.
 */
enum vec_state { VEC_OK, VEC_FAIL, VEC_UNKNOWN };

struct vecarg {
	const struct iovec *vec;
	size_t vlen;
	const char *where;
	enum vec_state state;
	size_t n;			/* entries known (== vlen when VEC_OK) */
	struct iovec copy[UIO_MAXIOV + 1];
	size_t eff[UIO_MAXIOV + 1];	/* lengths after MAX_RW_COUNT capping */
	size_t total;
};

/* Where a range is for access_ok(): VEC_OK, VEC_FAIL or VEC_UNKNOWN */
static enum vec_state range_in_user(uintptr_t base, size_t len)
{
	uintptr_t end = base + len;

	if (end < base || end > USER_END_MAX)
		return VEC_FAIL;
	return end <= USER_END ? VEC_OK : VEC_UNKNOWN;
}

/* The kernel's import_iovec rules, as abi.md states them */
static enum vec_state model_vec(struct vecarg *va)
{
	enum vec_state in_user = VEC_OK;
	size_t i, total = 0;

	if (va->n == 1) {
		size_t l = va->copy[0].iov_len;

		if ((ssize_t)l < 0)
			return VEC_FAIL;
		if (l > max_rw)
			l = max_rw;
		in_user = range_in_user((uintptr_t)va->copy[0].iov_base, l);
		va->eff[0] = l;
		va->total = l;
		return in_user;
	}
	for (i = 0; i < va->n; i++)
		if ((ssize_t)va->copy[i].iov_len < 0)
			return VEC_FAIL;
	for (i = 0; i < va->n; i++) {
		size_t l = va->copy[i].iov_len;

		switch (range_in_user((uintptr_t)va->copy[i].iov_base, l)) {
		case VEC_FAIL:
			return VEC_FAIL;
		case VEC_UNKNOWN:
			in_user = VEC_UNKNOWN;
			break;
		case VEC_OK:
			break;
		}
		if (l > max_rw - total)
			l = max_rw - total;
		va->eff[i] = l;
		total += l;
	}
	va->total = total;
	return in_user;
}

static void gen_vec(struct th *t, struct vecarg *va)
{
	unsigned int r = rn(&t->r, wild(t, A_VEC) ? 100 : 84);
	char *end = t->iov_arena + IOV_PAGES * PS;
	size_t i, fill;

	if (r < 8)
		va->vlen = 0;
	else if (r < 48)
		va->vlen = 1;
	else if (r < 74)
		va->vlen = 2 + rn(&t->r, 3);
	else if (r < 84)
		va->vlen = 5 + rn(&t->r, 12);
	else if (r < 88)
		va->vlen = 1 + rn(&t->r, UIO_MAXIOV);
	else if (r < 90)
		va->vlen = UIO_MAXIOV;
	else if (r < 92)
		va->vlen = UIO_MAXIOV + 1;
	else if (r < 93)
		va->vlen = SIZE_MAX;
	else if (r < 94)
		va->vlen = 1UL << 32;
	else if (r < 96)
		va->vlen = (1UL << 32) + 1 + rn(&t->r, 3);	/* low 32 bits small */
	else if (r < 97)
		va->vlen = 0x80000000UL;
	else
		va->vlen = edge64(&t->r);

	/* vlen beyond UIO_MAXIOV with sane ranges: only vlen is wrong */
	if (!wild(t, A_VEC) && chance(&t->r, 2))
		va->vlen = (chance(&t->r, 50) ? 1UL << 32 : 1UL << 33) + 1 + rn(&t->r, 3);
	/* Entries the kernel might read: all of them, or what a truncation leaves */
	fill = va->vlen <= UIO_MAXIOV ? va->vlen : (uint32_t)va->vlen;
	if (fill > UIO_MAXIOV)
		fill = UIO_MAXIOV;
	for (i = 0; i < fill; i++)
		gen_range(t, i ? &va->copy[i - 1] : NULL, &va->copy[i]);
	va->n = fill;

	r = rn(&t->r, wild(t, A_VEC) ? 100 : 82);
	if (r < 82) {
		/* ends right at the guard page, sometimes misaligned */
		char *p = end - fill * sizeof(struct iovec);

		if (chance(&t->r, 10) && p > t->iov_arena + 16)
			p -= 1 + rn(&t->r, 15);
		memcpy(p, va->copy, fill * sizeof(struct iovec));
		va->vec = (const struct iovec *)p;
		va->where = "arena";
		va->state = va->vlen > UIO_MAXIOV ? VEC_FAIL : model_vec(va);
	} else if (r < 87 && fill) {
		/* the last entry runs into the guard page */
		char *p = end - fill * sizeof(struct iovec) + 8;

		memcpy(p, va->copy, fill * sizeof(struct iovec) - 8);
		va->vec = (const struct iovec *)p;
		va->where = "arena, last entry unmapped";
		va->state = VEC_FAIL;
	} else {
		static const struct {
			uintptr_t p;
			const char *what;
		} bad[] = {
			{ 0, "NULL" }, { KERNEL_ADDR, "kernel address" },
			{ 0xffffffffffffff00UL, "~0 - 255" }, { 8, "(void *)8" },
			{ USER_END - 8, "USER_END - 8" },
		};
		int i2 = rn(&t->r, 6);

		if (i2 == 5) {
			va->vec = (const struct iovec *)end;	/* the guard page */
			va->where = "unmapped page";
		} else {
			va->vec = (const struct iovec *)bad[i2].p;
			va->where = bad[i2].what;
		}
		va->state = VEC_FAIL;
	}
	/* Nothing is read when vlen == 0 */
	if (va->vlen == 0) {
		va->state = VEC_OK;
		va->n = 0;
		va->total = 0;
	}
	if (va->vlen > UIO_MAXIOV)
		va->state = VEC_FAIL;
}

static int vec_desc(const struct vecarg *va, char *buf, size_t len)
{
	int n = snprintf(buf, len, "vec=%p [%s] vlen=%#zx", (void *)va->vec, va->where, va->vlen);
	size_t i;

	for (i = 0; i < va->n && i < 4 && n < (int)len; i++)
		n += snprintf(buf + n, len - n, " {%p,%#zx}", va->copy[i].iov_base,
			      va->copy[i].iov_len);
	if (va->n > 4 && n < (int)len)
		n += snprintf(buf + n, len - n, " ...");
	return n;
}

/* Pages touched by the processed bytes (abi.md section 5, "Progress") */
static uint64_t touched_pages(const struct vecarg *va, size_t processed)
{
	uint64_t pages = 0;
	size_t i;

	for (i = 0; i < va->n && processed; i++) {
		uintptr_t b = (uintptr_t)va->copy[i].iov_base;
		size_t p = va->eff[i] < processed ? va->eff[i] : processed;

		processed -= p;
		if (p)
			pages += (((b + p + PS - 1) & ~(PS - 1)) - (b & ~(PS - 1))) / PS;
	}
	return pages;
}

/* An output struct argument (ksm_merge_result or ioctl buffer), section 8 */
struct outarg {
	char *p;
	uint32_t size_in;		/* value of the size field (merge) */
	size_t room;			/* writable bytes from p (beyond: canary) */
	size_t canary_end;		/* canary bytes [written, canary_end) */
	bool must_fail;
	bool known;			/* p valid: check what was written */
	const char *where;
};

#define CANARY 0xA5

/*
 * Place a result buffer in the res arena (RW page, RO page, guard).
 * need: bytes the kernel writes for a valid size.
 */
static void gen_out(struct th *t, struct outarg *o, size_t need, bool merge)
{
	char *rw = t->res_arena, *ro = rw + PS, *guard = ro + PS;
	unsigned int r = rn(&t->r, wild(t, A_RES) ? 100 : 65);
	size_t off;

	memset(o, 0, sizeof(*o));
	if (r < 55) {
		/* valid: room >= need; canary behind */
		off = chance(&t->r, 50) ? PS - need - rn(&t->r, 64) : rn(&t->r, PS / 2);
		if (chance(&t->r, 15))
			off |= 1 + rn(&t->r, 7);	/* misaligned */
		if (off + need > PS)
			off = PS - need;
		o->p = rw + off;
		o->room = PS - off;
		o->known = true;
		o->where = "valid";
	} else if (r < 65) {
		/* exactly need bytes before the RO page */
		o->p = ro - need;
		o->room = need;
		o->known = true;
		o->where = "ends at read-only page";
	} else if (r < 73 && need >= 2) {
		/* fewer writable bytes than needed */
		off = 1 + rn(&t->r, need - 1);
		o->p = ro - off;
		o->room = off;
		o->must_fail = true;
		o->where = "runs into read-only page";
	} else if (r < 78) {
		o->p = guard - (merge ? 2 : 0);
		o->must_fail = true;
		o->where = merge ? "size straddles guard page" : "guard page";
	} else if (r < 82) {
		o->p = ro + (chance(&t->r, 50) ? 0 : 2048);
		o->must_fail = true;
		o->where = "read-only page";
	} else if (r < 86) {
		o->p = (char *)KERNEL_ADDR;
		o->must_fail = true;
		o->where = "kernel address";
	} else if (r < 90) {
		o->p = guard;
		o->must_fail = true;
		o->where = "unmapped page";
	} else if (r < 92) {
		o->p = (char *)(~0UL - 16);
		o->must_fail = true;
		o->where = "~0 - 16";
	} else {
		o->p = (char *)(uintptr_t)edge64(&t->r);
		o->where = "random pointer";
	}
	if (o->known) {
		o->canary_end = o->room < need + 128 ? o->room : need + 128;
		memset(o->p, CANARY, o->canary_end);
	}
}

/* Bytes [from, canary_end) still the canary? */
static bool canary_intact(const struct outarg *o, size_t from)
{
	size_t i;

	for (i = from; i < o->canary_end; i++)
		if ((unsigned char)o->p[i] != CANARY)
			return false;
	return true;
}

/* ------------------------------------------------------------------ */
/* The calls                                                           */

static void report_errno(struct th *t, enum kind k, int e)
{
	failure(F_UNDOC, "thread %d: %s = -1 %s (%d): %s", t->idx, kind_name[k], ename(e), e,
		t->desc);
}

static void do_merge(struct th *t)
{
	static __thread struct vecarg va;
	struct ksm_merge_result *res = NULL;
	const char *fdw, *pidw;
	unsigned int flags;
	struct outarg o;
	int fd, pidfd, stable, e, n;
	uint32_t size_in = 0;
	bool armed;
	ssize_t ret;

	fd = pick_part_fd(t, &fdw, &stable);
	pidfd = pick_pidfd(t, &pidw);
	gen_vec(t, &va);
	flags = pick_flags(t);
	memset(&o, 0, sizeof(o));
	if (!chance(&t->r, 20)) {
		gen_out(t, &o, KSM_MERGE_RESULT_SIZE_VER0, true);
		if (o.known) {
			unsigned int r = rn(&t->r, wild(t, A_RES) ? 100 : 75);

			if (r < 60)
				size_in = sizeof(*res);
			else if (r < 75)
				size_in = sizeof(*res) + rn(&t->r, 4096);
			else if (r < 85)
				size_in = chance(&t->r, 50) ? UINT32_MAX : (uint32_t)edge64(&t->r);
			else
				size_in = rn(&t->r, KSM_MERGE_RESULT_SIZE_VER0);
			if (size_in < KSM_MERGE_RESULT_SIZE_VER0)
				o.must_fail = true;
			memcpy(o.p, &size_in, 4);
		}
		res = (struct ksm_merge_result *)o.p;
	} else {
		o.where = "NULL";
	}
	n = snprintf(t->desc, sizeof(t->desc), "ksm_merge(fd=%d [%s], pidfd=%d [%s], ", fd, fdw,
		     pidfd, pidw);
	n += vec_desc(&va, t->desc + n, sizeof(t->desc) - n);
	snprintf(t->desc + n, sizeof(t->desc) - n, ", res=%p [%s, size %u], flags=%#x)",
		 (void *)res, o.where, size_in, flags);

	armed = arm_fail(t);
	fd = lock_slot(t, fd, pidfd);
	ret = sys_ksm_merge(fd, pidfd, va.vec, va.vlen, res, flags);
	e = errno;
	unlock_slot(t, pidfd);
	disarm_fail(t, armed);
	account(K_MERGE, ret < 0 ? e : 0);

	if (ret < 0) {
		if (!documented(doc_merge, e))
			report_errno(t, K_MERGE, e);
		/* *res untouched on failure, except EFAULT writing it */
		if (o.known && e != EFAULT &&
		    (memcmp(o.p, &size_in, 4) || !canary_intact(&o, 4)))
			failure(F_CONSIST, "thread %d: %s failed with %s but modified *res",
				t->idx, t->desc, ename(e));
		return;
	}
	if (flags || va.state == VEC_FAIL || o.must_fail) {
		failure(F_MUSTFAIL, "thread %d: %s = %zd (must fail: %s)", t->idx, t->desc, ret,
			flags ? "flags" : va.state == VEC_FAIL ? "vec/vlen" : "res");
		return;
	}
	if (va.state == VEC_OK && (size_t)ret > va.total) {
		failure(F_CONSIST, "thread %d: %s = %zd, more than the %zu bytes given", t->idx,
			t->desc, ret, va.total);
		return;
	}
	ADD(S->bytes_processed, ret);
	if (va.state == VEC_OK && (size_t)ret < va.total)
		INC(S->partial);
	if (!o.known)
		return;
	{
		uint32_t want = size_in < sizeof(*res) ? size_in : sizeof(*res);
		struct ksm_merge_result rr;
		uint64_t touched;

		memset(&rr, 0, sizeof(rr));
		memcpy(&rr, o.p, want);
		if (rr.size != want || !canary_intact(&o, want)) {
			failure(F_CONSIST, "thread %d: %s: res.size %u (want %u) or bytes beyond it written",
				t->idx, t->desc, rr.size, want);
			return;
		}
		if (rr.flags & ~KSM_MERGE_RESULT_JOINED)
			failure(F_CONSIST, "thread %d: %s: res.flags %#x", t->idx, t->desc,
				rr.flags);
		if (rr.flags & KSM_MERGE_RESULT_JOINED)
			INC(S->joined);
		if (pidfd == KSM_PIDFD_SELF || pidfd == self_pidfd) {
			__atomic_store_n(&home_stable, stable, __ATOMIC_RELAXED);
			__atomic_store_n(&home_fd, fd, __ATOMIC_RELAXED);
		}
		ADD(S->pages_merged, rr.pages_merged + rr.zero_pages_merged);
		ADD(S->pages_scanned, rr.pages_scanned);
		if (va.state != VEC_OK)
			return;
		touched = touched_pages(&va, ret);
		if (!res_invariants_hold(&rr, touched)) {
			failure(F_CONSIST, "thread %d: %s = %zd: invariants broken, touched %llu",
				t->idx, t->desc, ret, (unsigned long long)touched);
			res_print("result", &rr);
		}
	}
}

static void do_unmerge(struct th *t)
{
	static __thread struct vecarg va;
	const char *fdw, *pidw;
	unsigned int flags;
	int fd, pidfd, stable, e, n;
	bool armed;
	ssize_t ret;

	fd = pick_part_fd(t, &fdw, &stable);
	pidfd = pick_pidfd(t, &pidw);
	gen_vec(t, &va);
	flags = pick_flags(t);
	n = snprintf(t->desc, sizeof(t->desc), "ksm_unmerge(fd=%d [%s], pidfd=%d [%s], ", fd,
		     fdw, pidfd, pidw);
	n += vec_desc(&va, t->desc + n, sizeof(t->desc) - n);
	snprintf(t->desc + n, sizeof(t->desc) - n, ", flags=%#x)", flags);

	armed = arm_fail(t);
	fd = lock_slot(t, fd, pidfd);
	ret = sys_ksm_unmerge(fd, pidfd, va.vec, va.vlen, flags);
	e = errno;
	unlock_slot(t, pidfd);
	disarm_fail(t, armed);
	account(K_UNMERGE, ret < 0 ? e : 0);
	if (ret < 0) {
		if (!documented(doc_unmerge, e))
			report_errno(t, K_UNMERGE, e);
		return;
	}
	if (flags || va.state == VEC_FAIL) {
		failure(F_MUSTFAIL, "thread %d: %s = %zd (must fail: %s)", t->idx, t->desc, ret,
			flags ? "flags" : "vec/vlen");
		return;
	}
	if (va.state == VEC_OK && (size_t)ret > va.total)
		failure(F_CONSIST, "thread %d: %s = %zd, more than the %zu bytes given", t->idx,
			t->desc, ret, va.total);
	else if (va.state == VEC_OK && (size_t)ret < va.total)
		INC(S->partial);
}

static void do_leave(struct th *t)
{
	const char *fdw, *pidw;
	unsigned int flags;
	int fd, pidfd, stable, e, ret;
	bool armed;

	fd = pick_part_fd(t, &fdw, &stable);
	pidfd = pick_pidfd(t, &pidw);
	flags = pick_flags(t);
	snprintf(t->desc, sizeof(t->desc), "ksm_leave(fd=%d [%s], pidfd=%d [%s], flags=%#x)",
		 fd, fdw, pidfd, pidw, flags);
	armed = arm_fail(t);
	fd = lock_slot(t, fd, pidfd);
	ret = sys_ksm_leave(fd, pidfd, flags);
	e = errno;
	unlock_slot(t, pidfd);
	disarm_fail(t, armed);
	account(K_LEAVE, ret < 0 ? e : 0);
	if (ret < 0) {
		if (!documented(doc_leave, e))
			report_errno(t, K_LEAVE, e);
		return;
	}
	if (ret != 0)
		failure(F_CONSIST, "thread %d: %s = %d", t->idx, t->desc, ret);
	if (pidfd == KSM_PIDFD_SELF || pidfd == self_pidfd)
		__atomic_store_n(&home_fd, -1, __ATOMIC_RELAXED);
	if (flags)
		failure(F_MUSTFAIL, "thread %d: %s = 0 (must fail: flags)", t->idx, t->desc);
}

/* Name argument of ksm_open; *valid: 1 valid, 0 invalid, -1 unknown */
static const char *gen_name(struct th *t, int *valid, const char **what)
{
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-";
	char *buf = t->name_arena, *end = t->name_arena + PS;
	unsigned int r = rn(&t->r, wild(t, A_OTHER) ? 100 : 56);
	size_t len, i;

	*valid = 0;
	if (r < 12) {
		*what = "NULL";
		*valid = 1;
		return NULL;
	}
	if (r < 45) {
		snprintf(buf, 64, "%s%u", pool_prefix, (unsigned int)rn(&t->r, 6));
		*what = "pool name";
		*valid = 1;
		return buf;
	}
	if (r < 48) {
		*what = "stable0's name";
		*valid = 1;
		return stable_name;
	}
	if (r < 56) {
		len = chance(&t->r, 30) ? KSM_NAME_MAX : 1 + rn(&t->r, KSM_NAME_MAX);
		for (i = 0; i < len; i++)
			buf[i] = alpha[rn(&t->r, sizeof(alpha) - 1)];
		if (buf[0] == '.')
			buf[0] = 'x';
		buf[len] = 0;
		*what = len == KSM_NAME_MAX ? "255 valid bytes" : "random valid";
		*valid = 1;
		return buf;
	}
	if (r < 62) {
		len = KSM_NAME_MAX + 1 + rn(&t->r, 300);
		memset(buf, 'n', len);
		buf[len] = 0;
		*what = "too long";
		return buf;
	}
	if (r < 72) {
		static const char *const bad[] = {
			"", ".", "..", ".hidden", "a/b", "/", "a b", "caf\xc3\xa9", "\xff\xfe",
			"\xc3\x28", "tab\t", "nl\n", "%s%n", "a\\b", "*", "a,b", "~", "\x7f",
		};
		*what = "invalid bytes";
		return bad[rn(&t->r, ARRAY_SIZE(bad))];
	}
	if (r < 80) {
		/* runs into the unmapped page without a NUL */
		len = chance(&t->r, 50) ? 1 + rn(&t->r, KSM_NAME_MAX) :
					  KSM_NAME_MAX + 1 + rn(&t->r, 40);
		memset(end - len, 'u', len);
		*what = len <= KSM_NAME_MAX ? "unterminated at page end" :
					      "unterminated, > 255 bytes readable";
		*valid = -1;	/* EFAULT or ENAMETOOLONG: a failure either way */
		return end - len;
	}
	if (r < 85) {
		*what = "kernel address";
		return (const char *)KERNEL_ADDR;
	}
	if (r < 89) {
		*what = "unmapped page";
		return end;
	}
	if (r < 91) {
		*what = "(char *)1";
		return (const char *)1;
	}
	*what = "random pointer";
	*valid = -2;	/* unknown */
	return (const char *)(uintptr_t)edge64(&t->r);
}

static unsigned long gen_mode(struct th *t)
{
	if (!wild(t, A_FLAGS))
		return 0;
	static const unsigned long m[] = {
		0, 0600, 0666, 0644, 0400, 0200, 0660, 0606, 0700, 0777, 01000, 04600, 0100600,
		0x10000 | 0600, 0xffff0000UL | 0600, 0xffffffffUL, 0x100000600UL,
	};

	if (chance(&t->r, 10))
		return rnd(&t->r);
	return m[rn(&t->r, ARRAY_SIZE(m))];
}

static unsigned int gen_open_flags(struct th *t)
{
	if (!wild(t, A_FD))
		return rn(&t->r, 16) & ~KSM_OPEN_EXCL;
	if (chance(&t->r, 85))
		return rn(&t->r, 16);
	if (chance(&t->r, 50))
		return 1U << rn(&t->r, 32);
	return (unsigned int)rnd(&t->r);
}

/* A partition fd just returned by ksm_open: check what abi.md section 4 promises */
static void check_new_fd(struct th *t, int fd, unsigned int flags)
{
	char path[64], link[64] = "";
	int fl;

	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || !!(fl & FD_CLOEXEC) != !!(flags & KSM_OPEN_CLOEXEC))
		failure(F_CONSIST, "thread %d: %s = %d: FD_CLOEXEC %d", t->idx, t->desc, fd, fl);
	if (!chance(&t->r, 10))
		return;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (readlink(path, link, sizeof(link) - 1) > 0 &&
	    strcmp(link, "anon_inode:[ksm_partition]"))
		failure(F_CONSIST, "thread %d: %s = %d: link %s", t->idx, t->desc, fd, link);
}

static void do_open(struct th *t)
{
	const char *what, *name;
	unsigned long mode;
	unsigned int flags;
	int valid, fd, e;
	bool armed, must_fail;
	uint16_t m16;

	name = gen_name(t, &valid, &what);
	flags = gen_open_flags(t);
	mode = gen_mode(t);
	if (name && (chance(&t->r, 60) || !wild(t, A_FLAGS))) {
		/* mostly creations with a sensible mode, or nothing gets opened */
		flags = (flags & ~KSM_OPEN_EXCL & 0xf) | KSM_OPEN_CREATE |
			(chance(&t->r, 20) ? KSM_OPEN_EXCL : 0);
		mode = chance(&t->r, 50) ? 0600 : 0666;
	}
	snprintf(t->desc, sizeof(t->desc), "ksm_open(name=%p [%s%s%.40s%s], flags=%#x, mode=%#lo)",
		 (void *)name, what, valid > 0 && name ? ": " : "", valid > 0 && name ? name : "",
		 valid > 0 && name && strlen(name) > 40 ? "..." : "", flags, mode);
	m16 = mode;	/* umode_t: bits above 16 are discarded */
	must_fail = (flags & ~0xfU) || (m16 & ~0666) ||
		    (m16 && !(name && (flags & KSM_OPEN_CREATE))) ||
		    (name && (flags & (KSM_OPEN_EXCL | KSM_OPEN_ZERO_PAGES)) &&
		     !(flags & KSM_OPEN_CREATE)) ||
		    (name && (valid == 0 || valid == -1));

	armed = arm_fail(t);
	fd = syscall(__NR_ksm_open, name, flags, mode);
	e = errno;
	disarm_fail(t, armed);
	account(K_OPEN, fd < 0 ? e : 0);
	if (fd < 0) {
		if (!documented(doc_open, e))
			report_errno(t, K_OPEN, e);
		return;
	}
	if (must_fail)
		failure(F_MUSTFAIL, "thread %d: %s = %d (must fail)", t->idx, t->desc, fd);
	check_new_fd(t, fd, flags);
	close(fd);
}

static bool is_vfs_ioctl(unsigned int cmd)
{
	static const unsigned int vfs[] = {
		FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC, FIOQSIZE, FIFREEZE, FITHAW, FS_IOC_FIEMAP,
		FIGETBSZ, FICLONE, FICLONERANGE, FIDEDUPERANGE, FIONREAD, FS_IOC_GETFLAGS,
		FS_IOC_SETFLAGS, FS_IOC_FSGETXATTR, FS_IOC_FSSETXATTR,
		_IOR(0x15, 0, char[16]) /* FS_IOC_GETFSUUID: struct fsuuid2 */,
		_IOR(0x15, 1, char[129]) /* FS_IOC_GETFSSYSFSPATH */,
		FIBMAP,
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vfs); i++)
		if (cmd == vfs[i])
			return true;
	/* the struct sizes above may differ from the kernel's: compare type and nr too */
	return _IOC_TYPE(cmd) == 0x15 && _IOC_NR(cmd) <= 1;
}

static void check_stats(struct th *t, int stable, const struct ksm_partition_stats *st)
{
	const __u64 *now = &st->members, *before = &t->last[stable].members;
	int i;

	if (st->id != stable_id[stable])
		failure(F_CONSIST, "thread %d: %s: id %llu, want %llu", t->idx, t->desc,
			(unsigned long long)st->id, (unsigned long long)stable_id[stable]);
	if (t->seen[stable])
		for (i = FIRST_CUMULATIVE; i < NSTATS; i++)
			if (now[i] < before[i])
				failure(F_CONSIST, "thread %d: %s: cumulative %s went from %llu to %llu",
					t->idx, t->desc, stat_names[i],
					(unsigned long long)before[i], (unsigned long long)now[i]);
	t->last[stable] = *st;
	t->seen[stable] = true;
}

static void do_ioctl(struct th *t)
{
	const char *fdw;
	unsigned int cmd, r = rn(&t->r, 100), sz;
	int fd, stable = -1, e, ret;
	bool on_part, must_fail = false, armed;
	struct outarg o;
	size_t want;

	if (chance(&t->r, 85) || !wild(t, A_FD)) {
		fd = chance(&t->r, 50) ? pick_slot_fd(t, &fdw) : stable_fd[stable = rn(&t->r, 2)];
		if (stable >= 0)
			fdw = stable ? "stable1" : "stable0";
		on_part = true;
	} else {
		fd = pick_odd_fd(t, &fdw);
		on_part = false;
	}
	sz = sizeof(struct ksm_partition_stats);
	if (!wild(t, A_OTHER))
		r = r < 80 ? 0 : 50;
	if (r < 45) {
		cmd = KSM_IOC_GET_STATS;
	} else if (r < 65) {
		static const unsigned int sizes[] = { 0, 1, 8, 72, 168, 175, 176, 177, 184, 200,
						      512, 4096, 16383 };

		sz = chance(&t->r, 80) ? sizes[rn(&t->r, 13)] : rn(&t->r, 16384);
		cmd = _IOC(_IOC_READ, KSM_IOC_MAGIC, 1, sz);
	} else if (r < 72) {
		static const unsigned int dirs[] = {
			_IOC_NONE, _IOC_WRITE, _IOC_READ | _IOC_WRITE,
		};

		cmd = _IOC(dirs[rn(&t->r, 3)], KSM_IOC_MAGIC, 1, sz);
	} else if (r < 78) {
		cmd = _IOC(_IOC_READ, KSM_IOC_MAGIC, chance(&t->r, 50) ? 0 : 2 + rn(&t->r, 254),
			   sz);
	} else if (r < 83) {
		cmd = _IOC(_IOC_READ, chance(&t->r, 50) ? 0xB8 : rn(&t->r, 256), 1, sz);
		if (_IOC_TYPE(cmd) == KSM_IOC_MAGIC)
			cmd = _IOC(_IOC_READ, 0xBA, 1, sz);
	} else if (on_part) {
		/* not to other file types: who knows what a random command does there */
		do
			cmd = (unsigned int)rnd(&t->r);
		while (is_vfs_ioctl(cmd));
		sz = _IOC_SIZE(cmd);
	} else {
		cmd = KSM_IOC_GET_STATS;
	}
	want = sz < sizeof(struct ksm_partition_stats) ? sz : sizeof(struct ksm_partition_stats);
	if (!wild(t, A_OTHER) && sz < KSM_PARTITION_STATS_SIZE_VER0) {
		sz = KSM_PARTITION_STATS_SIZE_VER0 + rn(&t->r, 512);
		cmd = _IOC(_IOC_READ, KSM_IOC_MAGIC, 1, sz);
		want = sizeof(struct ksm_partition_stats);
	}
	gen_out(t, &o, want ? want : 1, false);
	if (_IOC_TYPE(cmd) != KSM_IOC_MAGIC || _IOC_NR(cmd) != 1 || _IOC_DIR(cmd) != _IOC_READ ||
	    sz < KSM_PARTITION_STATS_SIZE_VER0 || o.must_fail)
		must_fail = true;
	snprintf(t->desc, sizeof(t->desc), "ioctl(fd=%d [%s], cmd=%#x [dir %u type %#x nr %u size %u], arg=%p [%s])",
		 fd, fdw, cmd, _IOC_DIR(cmd), _IOC_TYPE(cmd), _IOC_NR(cmd), _IOC_SIZE(cmd),
		 (void *)o.p, o.where);
	armed = arm_fail(t);
	ret = ioctl(fd, cmd, o.p);
	e = errno;
	disarm_fail(t, armed);
	if (!on_part)
		return;	/* other file types' ioctls: not this ABI */
	account(K_IOCTL, ret < 0 ? e : 0);
	if (ret < 0) {
		if (!documented(doc_ioctl, e))
			report_errno(t, K_IOCTL, e);
		if (o.known && e != EFAULT && !canary_intact(&o, 0))
			failure(F_CONSIST, "thread %d: %s failed with %s but wrote the buffer",
				t->idx, t->desc, ename(e));
		return;
	}
	if (must_fail) {
		failure(F_MUSTFAIL, "thread %d: %s = %d (must fail)", t->idx, t->desc, ret);
		return;
	}
	if (!o.known)
		return;
	{
		struct ksm_partition_stats st;

		memset(&st, 0, sizeof(st));
		memcpy(&st, o.p, want);
		if (st.size != want || !canary_intact(&o, want) || st.id == 0 ||
		    (st.flags & ~KSM_OPEN_ZERO_PAGES)) {
			failure(F_CONSIST, "thread %d: %s: size %u (want %zu), id %llu, flags %#x, or bytes beyond written",
				t->idx, t->desc, st.size, want, (unsigned long long)st.id,
				st.flags);
			return;
		}
		if (stable >= 0)
			check_stats(t, stable, &st);
	}
}

/* Read a whole small file; -1 and errno on failure */
static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;

	if (fd < 0)
		return -1;
	while ((size_t)got < len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		got += n;
	}
	buf[got] = 0;
	close(fd);
	return got;
}

static bool valid_name(const char *s, size_t len)
{
	size_t i;

	if (!len || len > KSM_NAME_MAX || s[0] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (!isascii(s[i]) || (!isalnum(s[i]) && !strchr("._:@-", s[i])))
			return false;
	return true;
}

/* A decimal number and a newline, nothing else */
static bool parse_num(const char *s, bool is_signed, long long *v)
{
	char *end;

	errno = 0;
	if (is_signed)
		*v = strtoll(s, &end, 10);
	else
		*v = (long long)strtoull(s, &end, 10);
	return !errno && end != s && (*s != '-' || is_signed) && *end == '\n' && !end[1];
}

/*
 * fdinfo of a partition fd (abi.md 11.3): the ksm_ lines in order. Fills
 * vals[NSTATS] and *id. Returns NULL or what is wrong.
 */
static const char *parse_fdinfo(char *text, uint64_t *id, long long *vals, char *name,
				size_t namelen)
{
	char *line, *save = NULL;
	int state = 0, i = 0;

	name[0] = 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t'), key[64];
		unsigned int a, b;
		char want[64];

		if (strncmp(line, "ksm_", 4)) {
			if (state)
				return "non-ksm line after ksm lines";
			continue;
		}
		if (!tab || tab - line >= (long)sizeof(key) || tab[-1] != ':')
			return "line without ':<TAB>'";
		memcpy(key, line, tab - line - 1);
		key[tab - line - 1] = 0;
		tab++;
		switch (state) {
		case 0:
			if (strcmp(key, "ksm_id") || sscanf(tab, "%" SCNu64, id) != 1 || !*id)
				return "ksm_id";
			state = 1;
			continue;
		case 1:
			if (!strcmp(key, "ksm_name")) {
				if (!valid_name(tab, strlen(tab)))
					return "ksm_name";
				snprintf(name, namelen, "%s", tab);
				state = 2;
				continue;
			}
			fallthrough;
		case 2:
			if (strcmp(key, "ksm_owner") || sscanf(tab, "%u %u", &a, &b) != 2)
				return "ksm_owner";
			state = 3;
			continue;
		case 3:
			if (strcmp(key, "ksm_mode") || strlen(tab) != 4 ||
			    sscanf(tab, "%o", &a) != 1 || (a & ~0666))
				return "ksm_mode";
			state = 4;
			continue;
		case 4:
			if (strcmp(key, "ksm_flags") || (strcmp(tab, "0x0") && strcmp(tab, "0x8")))
				return "ksm_flags";
			state = 5;
			continue;
		default:
			if (i >= NSTATS)
				return "extra ksm_ line";
			snprintf(want, sizeof(want), "%s%s",
				 strncmp(stat_names[i], "ksm_", 4) ? "ksm_" : "", stat_names[i]);
			if (strcmp(key, want))
				return "counter lines out of order";
			{
				char nl[80];

				snprintf(nl, sizeof(nl), "%s\n", tab);
				if (!parse_num(nl, i == 8, &vals[i]))
					return "counter value";
			}
			i++;
		}
	}
	if (state < 5)
		return "ksm_ lines missing";
	return i == NSTATS ? NULL : "counter lines missing";
}

static void do_fdinfo(struct th *t)
{
	char path[64], buf[4096], name[KSM_NAME_MAX + 1];
	long long vals[NSTATS];
	const char *fdw, *why;
	int fd, stable;
	uint64_t id = 0;
	ssize_t n;

	fd = pick_part_fd(t, &fdw, &stable);
	snprintf(t->desc, sizeof(t->desc), "read /proc/self/fdinfo/%d [%s]", fd, fdw);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	n = read_file(path, buf, sizeof(buf));
	account(K_FDINFO, n < 0 ? errno : 0);
	if (n < 0) {
		if (errno != ENOENT || stable >= 0)
			failure(F_UNDOC, "thread %d: %s: %s", t->idx, t->desc, ename(errno));
		return;
	}
	if (!strstr(buf, "ksm_id:")) {
		if (stable >= 0)
			failure(F_CONSIST, "thread %d: %s: no ksm_id line", t->idx, t->desc);
		return;
	}
	why = parse_fdinfo(buf, &id, vals, name, sizeof(name));
	if (why)
		failure(F_CONSIST, "thread %d: %s: bad %s", t->idx, t->desc, why);
	else if (stable >= 0 && id != stable_id[stable])
		failure(F_CONSIST, "thread %d: %s: ksm_id %llu, want %llu", t->idx, t->desc,
			(unsigned long long)id, (unsigned long long)stable_id[stable]);
	else if (stable == 0 && strcmp(name, stable_name))
		failure(F_CONSIST, "thread %d: %s: ksm_name '%s'", t->idx, t->desc, name);
}

/*
 * /proc/ksm_partitions (abi.md 11.4): the administrator's list, one row per
 * partition. The row's counters are members pages_shared pages_sharing
 * pages_unshared ksm_zero_pages rmap_items general_profit (stat_names
 * indices below).
 */
#define PROC_PARTITIONS	"/proc/ksm_partitions"
#define PROC_HEADER	"id uid gid mode flags members pages_shared pages_sharing pages_unshared ksm_zero_pages rmap_items general_profit name"
#define NROW		7
#define MAX_ROWS	256
static const int row_stat[NROW] = { 0, 1, 2, 3, 4, 5, 8 };

/* /sys/kernel/mm/ksm/partitions/ (abi.md 11.5): enabled (0644), then root's sums (0400) */
static const char *const part_files[] = {
	"enabled", "nr_partitions", "pages_shared", "pages_sharing", "pages_unshared",
	"ksm_zero_pages", "rmap_items", "general_profit",
};

#define NPART_FILES	8
/* part_files[SUM0 + k] is the sum of the rows' column k (k >= 1); k = 0: nr_partitions */
#define SUM0		1

/*
 * The only errno the sysfs operation provokes on purpose: EACCES, opening a
 * file against the modes abi.md 11.4/11.5 give (0400 root only, enabled 0644).
 * EFAULT of a read into an unmapped page is checked as a result, not counted
 * as this ABI's errno.
 */
static const int doc_sysfs[] = { EACCES, 0 };

struct prow {
	uint64_t id;
	unsigned int uid, gid, mode, flags;
	long long v[NROW];
	char name[KSM_NAME_MAX + 1];
};

/* A strict decimal token: digits (a '-' first if signed), no leading zero */
static bool dec_token(const char *s, bool is_signed, long long *v)
{
	const char *d = s + (is_signed && *s == '-');
	char *end;

	if (!isdigit((unsigned char)*d) || (d[0] == '0' && d[1]) || (d != s && d[0] == '0'))
		return false;
	errno = 0;
	*v = is_signed ? strtoll(s, &end, 10) : (long long)strtoull(s, &end, 10);
	return !errno && !*end;
}

/* One row of /proc/ksm_partitions (NUL-terminated, no '\n'); NULL or what is wrong */
static const char *parse_row(char *line, struct prow *p)
{
	char *tok[14];
	long long v;
	int n = 0, i;
	char *s = line;

	for (;;) {
		char *sp = strchr(s, ' ');

		if (n == 14)
			return "more than 13 fields";
		tok[n++] = s;
		if (!sp)
			break;
		*sp = 0;
		s = sp + 1;
	}
	if (n != 12 && n != 13)
		return "not 12 or 13 fields";
	for (i = 0; i < n; i++)
		if (!*tok[i])
			return "empty field (double space)";
	if (!dec_token(tok[0], false, &v) || !v)
		return "id";
	p->id = strtoull(tok[0], NULL, 10);
	if (!dec_token(tok[1], false, &v) || v > UINT32_MAX)
		return "uid";
	p->uid = v;
	if (!dec_token(tok[2], false, &v) || v > UINT32_MAX)
		return "gid";
	p->gid = v;
	if (strlen(tok[3]) != 4 || strspn(tok[3], "01234567") != 4 ||
	    sscanf(tok[3], "%o", &p->mode) != 1 || (p->mode & ~0666))
		return "mode (%04o)";
	/* the kernel's %#x: "0x0" for 0, unlike glibc's (abi.md 11.4: 0x0 or 0x8) */
	if (!strcmp(tok[4], "0x0"))
		p->flags = 0;
	else if (!strcmp(tok[4], "0x8"))
		p->flags = KSM_OPEN_ZERO_PAGES;
	else
		return "flags (0x0 or 0x8)";
	for (i = 0; i < NROW; i++)
		if (!dec_token(tok[5 + i], i == NROW - 1, &p->v[i]))
			return "counter";
	p->name[0] = 0;
	if (n == 13) {
		if (!valid_name(tok[12], strlen(tok[12])))
			return "name";
		snprintf(p->name, sizeof(p->name), "%s", tok[12]);
	}
	return NULL;
}

/* The whole file: header, rows with distinct ids; NULL or what is wrong */
static const char *parse_partitions(char *text, size_t len, struct prow *rows, int max,
				    int *nrows)
{
	static __thread char msg[320], copy[256];
	char *line = text, *nl;
	int n = 0, i;

	*nrows = 0;
	if (!len || text[len - 1] != '\n')
		return "does not end with a newline";
	nl = strchr(line, '\n');
	*nl = 0;
	if (strcmp(line, PROC_HEADER))
		return "header";
	for (line = nl + 1; *line; line = nl + 1) {
		const char *w;

		nl = strchr(line, '\n');
		*nl = 0;
		if (n == max)
			return "too many rows";
		snprintf(copy, sizeof(copy), "%s", line);
		w = parse_row(line, &rows[n]);
		if (w) {
			snprintf(msg, sizeof(msg), "%s in row %d '%.200s'", w, n, copy);
			return msg;
		}
		for (i = 0; i < n; i++)
			if (rows[i].id == rows[n].id)
				return "duplicate id";
		n++;
	}
	*nrows = n;
	return NULL;
}

/* Read an open file to EOF, in one pread or byte by byte; -1 and errno, or the length */
static ssize_t read_fd_all(int fd, char *buf, size_t len, bool bytewise)
{
	ssize_t got = 0, k;

	while ((size_t)got < len - 1) {
		k = read(fd, buf + got, bytewise ? 1 : len - 1 - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		if (!k)
			break;
		got += k;
	}
	buf[got] = 0;
	return got;
}

/* Read and parse /proc/ksm_partitions; -1 with *why, or the number of rows */
static int read_partitions(struct prow *rows, int max, const char **why)
{
	static char buf[64 * 1024];	/* the worker's quiet check and the parent only */
	ssize_t n = read_file(PROC_PARTITIONS, buf, sizeof(buf));
	int nrows;

	*why = "unreadable";
	if (n < 0 || (size_t)n >= sizeof(buf) - 1)
		return -1;
	*why = parse_partitions(buf, n, rows, max, &nrows);
	return *why ? -1 : nrows;
}

/* Read the sums files (not enabled) into sums[NPART_FILES - SUM0]; false if one is bad */
static bool read_sums(long long *sums)
{
	char path[128], buf[64];
	int i;

	for (i = SUM0; i < NPART_FILES; i++) {
		snprintf(path, sizeof(path), KSM_SYSFS "partitions/%s", part_files[i]);
		if (read_file(path, buf, sizeof(buf)) < 0 ||
		    !parse_num(buf, i == NPART_FILES - 1, &sums[i - SUM0]))
			return false;
	}
	return true;
}

static const char *const ksm_globals[] = {
	"pages_shared", "pages_sharing", "pages_unshared", "stable_node_chains",
	"stable_node_dups", "ksm_zero_pages",
};

#define NGLOBALS 6
/* Checked on its own test point */
#define GLOBAL_ZERO_PAGES 5

/* The uid 65534 thread: the 0400 files are root's, enabled is 0644 (abi.md 11.4, 11.5) */
static void sysfs_unpriv(struct th *t)
{
	int i = rn(&t->r, NPART_FILES + 1), fd, e;
	bool wr = chance(&t->r, 30), allowed;
	char path[128], buf[16];
	ssize_t n;

	if (i == NPART_FILES)
		snprintf(path, sizeof(path), PROC_PARTITIONS);
	else
		snprintf(path, sizeof(path), KSM_SYSFS "partitions/%s", part_files[i]);
	allowed = i == 0 && !wr;	/* reading enabled */
	snprintf(t->desc, sizeof(t->desc), "uid 65534: open(%s, %s)", path,
		 wr ? "O_WRONLY" : "O_RDONLY");
	fd = open(path, (wr ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	e = fd < 0 ? errno : 0;
	account(K_SYSFS, e);
	if (fd < 0) {
		if (!documented(doc_sysfs, e))
			failure(F_UNDOC, "thread %d: %s: %s", t->idx, t->desc, ename(e));
		else if (allowed)
			failure(F_CONSIST, "thread %d: %s: %s, the file is 0644", t->idx, t->desc,
				ename(e));
		return;
	}
	if (!allowed) {
		failure(F_MUSTFAIL, "thread %d: %s succeeded (mode %s)", t->idx, t->desc,
			i ? "0400, root only" : "0644");
		close(fd);
		return;
	}
	n = read_fd_all(fd, buf, sizeof(buf), false);
	close(fd);
	if (n < 0 || (strcmp(buf, "0\n") && strcmp(buf, "1\n")))
		failure(F_CONSIST, "thread %d: %s: read '%.16s'", t->idx, t->desc,
			n < 0 ? strerror(errno) : buf);
}

/* readdir partitions/: the eight files of abi.md 11.5, no per-partition directory */
static void sysfs_listing(struct th *t)
{
	struct dirent *de;
	unsigned int seen = 0;
	DIR *d;
	int i;

	snprintf(t->desc, sizeof(t->desc), "readdir " KSM_SYSFS "partitions/");
	d = opendir(KSM_SYSFS "partitions");
	account(K_SYSFS, d ? 0 : errno);
	if (!d) {
		failure(F_UNDOC, "thread %d: %s: %s", t->idx, t->desc, ename(errno));
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		for (i = 0; i < NPART_FILES; i++)
			if (!strcmp(de->d_name, part_files[i]))
				break;
		if (i == NPART_FILES || de->d_type != DT_REG || (seen & (1U << i)))
			failure(F_CONSIST, "thread %d: %s: unexpected entry '%s' (type %d)",
				t->idx, t->desc, de->d_name, de->d_type);
		else
			seen |= 1U << i;
	}
	closedir(d);
	if (seen != (1U << NPART_FILES) - 1)
		failure(F_CONSIST, "thread %d: %s: files missing (mask %#x)", t->idx, t->desc,
			seen);
}

/* ksmd off: global KSM's counters never move, whatever partitions do (abi.md 11.5) */
static void sysfs_globals(struct th *t)
{
	long v;
	int i;

	snprintf(t->desc, sizeof(t->desc), "read " KSM_SYSFS "{pages_shared,...}");
	account(K_SYSFS, 0);
	if (!S->ksmd_off)
		return;
	for (i = 0; i < NGLOBALS; i++) {
		v = ksm_sysfs_read(ksm_globals[i]);
		if (v != S->glob_base[i])
			failure(F_CONSIST, "thread %d: ksmd off, but global %s %ld -> %ld during partition activity",
				t->idx, ksm_globals[i], S->glob_base[i], v);
	}
}

/* Check /proc/ksm_partitions text read while everything runs */
static void check_live_partitions(struct th *t, char *buf, ssize_t n)
{
	static __thread struct prow rows[MAX_ROWS];
	bool found[NSTABLE] = { false };
	const char *w;
	int nrows, i, j;

	w = parse_partitions(buf, n, rows, MAX_ROWS, &nrows);
	if (w) {
		failure(F_CONSIST, "thread %d: %s: bad %s", t->idx, t->desc, w);
		return;
	}
	for (i = 0; i < nrows; i++)
		for (j = 0; j < NSTABLE; j++)
			if (rows[i].id == stable_id[j]) {
				found[j] = true;
				if (j == 0 && strcmp(rows[i].name, stable_name))
					failure(F_CONSIST, "thread %d: %s: stable0 name '%s'",
						t->idx, t->desc, rows[i].name);
				if (j == 1 && rows[i].name[0])
					failure(F_CONSIST, "thread %d: %s: anonymous stable1 named '%s'",
						t->idx, t->desc, rows[i].name);
				if (rows[i].flags != (j ? KSM_OPEN_ZERO_PAGES : 0) ||
				    rows[i].mode != (j ? 0 : 0600))
					failure(F_CONSIST, "thread %d: %s: stable%d mode %04o flags %#x",
						t->idx, t->desc, j, rows[i].mode, rows[i].flags);
			}
	for (j = 0; j < NSTABLE; j++)
		if (!found[j])
			failure(F_CONSIST, "thread %d: %s: stable%d (id %llu) not listed", t->idx,
				t->desc, j, (unsigned long long)stable_id[j]);
}

/*
 * The "sysfs" operation: the administrator's views of abi.md 11.4/11.5.
 * Reads /proc/ksm_partitions (every row parsed) or a partitions/ file (in one
 * pread or byte by byte), lists partitions/, tries to write a 0400 file
 * (EACCES), reads into an unmapped page (EFAULT), or checks that global KSM's
 * counters stay put. The uid 65534 thread gets EACCES from the 0400 files.
 */
static void do_sysfs(struct th *t)
{
	static __thread char buf[32 * 1024];
	unsigned int r = rn(&t->r, 100);
	int i = rn(&t->r, NPART_FILES + 2), fd, e;
	bool proc = i >= NPART_FILES;	/* 2 in 10: /proc/ksm_partitions */
	char path[128];
	long long v;
	ssize_t n;

	if (t->unpriv) {
		sysfs_unpriv(t);
		return;
	}
	if (r < 10) {
		sysfs_listing(t);
		return;
	}
	if (r < 15) {
		sysfs_globals(t);
		return;
	}
	if (proc)
		snprintf(path, sizeof(path), PROC_PARTITIONS);
	else
		snprintf(path, sizeof(path), KSM_SYSFS "partitions/%s", part_files[i]);
	if (r < 25) {
		/* root too: a sysfs file without a store method opens for writing with EACCES */
		i = SUM0 + rn(&t->r, NPART_FILES - SUM0);
		snprintf(path, sizeof(path), KSM_SYSFS "partitions/%s", part_files[i]);
		snprintf(t->desc, sizeof(t->desc), "open(%s, O_WRONLY) (mode 0400)", path);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		e = fd < 0 ? errno : 0;
		account(K_SYSFS, e);
		if (fd >= 0) {
			failure(F_MUSTFAIL, "thread %d: %s succeeded", t->idx, t->desc);
			close(fd);
		} else if (!documented(doc_sysfs, e)) {
			failure(F_UNDOC, "thread %d: %s: %s", t->idx, t->desc, ename(e));
		}
		return;
	}
	snprintf(t->desc, sizeof(t->desc), "read %s", path);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		account(K_SYSFS, e);
		failure(documented(doc_sysfs, e) ? F_CONSIST : F_UNDOC, "thread %d: open %s: %s",
			t->idx, path, ename(e));
		return;
	}
	if (r < 35) {	/* into an unmapped page: EFAULT (read(2)) */
		n = pread(fd, t->name_arena + PS, 64, 0);
		e = n < 0 ? errno : 0;
		close(fd);
		account(K_SYSFS, 0);
		if (n >= 0 || e != EFAULT)
			failure(F_CONSIST, "thread %d: pread(%s) into unmapped page = %zd %s",
				t->idx, path, n, ename(e));
		return;
	}
	n = read_fd_all(fd, buf, sizeof(buf), r < 50);
	e = n < 0 ? errno : 0;
	close(fd);
	account(K_SYSFS, e);
	if (n < 0) {
		failure(F_UNDOC, "thread %d: read %s: %s", t->idx, path, ename(e));
		return;
	}
	if ((size_t)n >= sizeof(buf) - 1) {
		failure(F_CONSIST, "thread %d: %s: more than %zu bytes", t->idx, path,
			sizeof(buf) - 2);
		return;
	}
	if (proc) {
		check_live_partitions(t, buf, n);
		return;
	}
	if (!parse_num(buf, i == NPART_FILES - 1, &v))
		failure(F_CONSIST, "thread %d: %s: not a number: '%.60s'", t->idx, path, buf);
	else if (i == 0 && v != 1)
		failure(F_CONSIST, "thread %d: %s: %lld, the run keeps it 1", t->idx, path, v);
	else if (i == SUM0 && v < NSTABLE)
		failure(F_CONSIST, "thread %d: %s: %lld, but %d partitions are open", t->idx,
			path, v, NSTABLE);
}

/* Replace, close or reopen a churned partition fd */
static void do_churn(struct th *t)
{
	int s = rn(&t->r, NSLOTS), fd, nfd, e;
	unsigned int flags = rn(&t->r, 16) & ~KSM_OPEN_EXCL;
	char name[64];
	bool named = chance(&t->r, 40);

	snprintf(name, sizeof(name), "%s%u", pool_prefix, (unsigned int)rn(&t->r, 6));
	if (named)
		flags |= KSM_OPEN_CREATE;
	snprintf(t->desc, sizeof(t->desc), "churn slot%d: ksm_open(%s, %#x, %#o)", s,
		 named ? name : "NULL", flags, named ? 0666 : 0);
	pthread_mutex_lock(&slot_lock[s]);
	fd = slot[s];
	/*
	 * The worker must not stay a member of a partition it has no fd of
	 * any more: it could never leave, and every later merge is EBUSY.
	 */
	if (fd >= 0 && is_member(fd, KSM_PIDFD_SELF) == 1 &&
	    sys_ksm_leave(fd, KSM_PIDFD_SELF, 0)) {
		account(K_CHURN, errno);
		pthread_mutex_unlock(&slot_lock[s]);
		return;
	}
	if (fd >= 0 && fd == LOAD(home_fd))
		__atomic_store_n(&home_fd, -1, __ATOMIC_RELAXED);
	if (fd >= 0 && chance(&t->r, 35)) {
		/* other threads' calls on it run on, or get EBADF */
		__atomic_store_n(&slot[s], -1, __ATOMIC_RELAXED);
		close(fd);
		account(K_CHURN, 0);
		pthread_mutex_unlock(&slot_lock[s]);
		return;
	}
	nfd = sys_ksm_open(named ? name : NULL, flags, named ? (t->unpriv ? 0666 : 0600) : 0);
	e = errno;
	account(K_CHURN, nfd < 0 ? e : 0);
	if (nfd < 0) {
		/*
		 * valid arguments: only EACCES (the uid 65534 thread), EEXIST (a
		 * pool name created by the other user: abi.md 4, CREATE and owner
		 * uid not the caller's fsuid) or resource limits
		 */
		if (e != EACCES && e != ENOMEM && e != EMFILE && e != ENFILE &&
		    !(named && e == EEXIST))
			report_errno(t, K_CHURN, e);
	} else if (fd >= 0) {
		/* the fd number now names the new partition, atomically */
		if (dup3(nfd, fd, O_CLOEXEC) != fd)
			note("dup3: %s", strerror(errno));
		close(nfd);
	} else {
		__atomic_store_n(&slot[s], nfd, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&slot_lock[s]);
}

/* The thread's own region: unmap, remap, move, protect, (un)mergeable, write */
static void do_vma(struct th *t)
{
	size_t len = NM * PS, i;
	int r = rn(&t->r, 100), ret = 0, e = 0;
	const char *what;

	if (!t->mreg_mapped) {
		void *p = mmap(t->mreg, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		what = "mmap";
		if (p == t->mreg)
			t->mreg_mapped = true;
		else if (p != MAP_FAILED)
			munmap(p, len);
		account(K_VMA, p == t->mreg ? 0 : errno);
		return;
	}
	if (r < 10) {
		what = "munmap";
		ret = munmap(t->mreg, len);
		t->mreg_mapped = false;
	} else if (r < 35) {
		/* duplicate and unique content; reading back checks it */
		uint64_t seed = 0x7000 + rn(&t->r, 4);

		what = "write";
		i = rn(&t->r, NM);
		mprotect(t->mreg, len, PROT_READ | PROT_WRITE);
		fill_page(t->mreg + i * PS, seed);
		if (!page_has_seed(t->mreg + i * PS, seed))
			failure(F_CONTENT, "thread %d: own page %p lost what was just written",
				t->idx, (void *)(t->mreg + i * PS));
		INC(S->content_checks);
	} else if (r < 45) {
		what = "MADV_DONTNEED";
		ret = madvise(t->mreg + rn(&t->r, NM) * PS, PS * (1 + rn(&t->r, 2)), MADV_DONTNEED);
	} else if (r < 55) {
		static const int prot[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE };

		what = "mprotect";
		ret = mprotect(t->mreg + rn(&t->r, NM / 2) * PS, PS * (1 + rn(&t->r, NM / 2)),
			       prot[rn(&t->r, 3)]);
	} else if (r < 65) {
		/* member: EBUSY (abi.md 3) */
		what = "MADV_MERGEABLE";
		ret = madvise(t->mreg, len, MADV_MERGEABLE);
		e = errno;
		if (ret && e != EBUSY && e != EAGAIN && e != ENOMEM && e != EINTR)
			failure(F_UNDOC, "thread %d: madvise(MADV_MERGEABLE) = %s", t->idx,
				ename(e));
	} else if (r < 75) {
		what = "MADV_UNMERGEABLE";
		ret = madvise(t->mreg, len, MADV_UNMERGEABLE);
		e = errno;
		if (ret && e != EAGAIN && e != ENOMEM && e != EINTR)
			failure(F_UNDOC, "thread %d: madvise(MADV_UNMERGEABLE) = %s", t->idx,
				ename(e));
	} else if (r < 80) {
		what = "MADV_HUGEPAGE";
		ret = madvise(t->mreg, len, chance(&t->r, 50) ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	} else if (r < 90) {
		/* moving a member's range unmerges it (abi.md 3) */
		/* only onto our own reservation: MREMAP_FIXED unmaps what is there */
		void *p = MAP_FAILED;

		what = "mremap";
		if (t->mtmp)
			p = mremap(t->mreg, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, t->mtmp);
		if (p == t->mtmp) {
			p = mremap(t->mtmp, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, t->mreg);
			if (p != t->mreg) {
				munmap(t->mtmp, len);
				t->mreg_mapped = false;
			}
			/* reserve again; if someone took the hole meanwhile, stop moving */
			if (mmap(t->mtmp, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
				 MAP_FIXED_NOREPLACE, -1, 0) != t->mtmp)
				t->mtmp = NULL;
		}
		ret = p == MAP_FAILED ? -1 : 0;
	} else if (r < 93 && !t->unpriv) {
		int on = chance(&t->r, 50);

		what = "PR_SET_MEMORY_MERGE";
		ret = prctl(PR_SET_MEMORY_MERGE, on, 0, 0, 0);
		e = errno;
		if (ret && !(on && (e == EBUSY || e == ENOMEM || e == EINTR || e == EAGAIN)) &&
		    !(!on && (e == EINTR || e == ENOMEM)))
			failure(F_UNDOC, "thread %d: prctl(PR_SET_MEMORY_MERGE, %d) = %s", t->idx,
				on, ename(e));
	} else {
		what = "read";
		for (i = 0; i < NM; i++)
			if (mprotect(t->mreg + i * PS, PS, PROT_READ | PROT_WRITE) == 0)
				(void)*(volatile char *)(t->mreg + i * PS);
	}
	(void)what;
	account(K_VMA, ret ? (errno ? errno : EIO) : 0);
}

/* A forked member process merges, checks content and exits */
static void do_fork(struct th *t)
{
	int fd = stable_fd[rn(&t->r, NSTABLE)];
	struct iovec iov = { V + rn(&t->r, 16) * PS, rn(&t->r, 48) * PS };
	pid_t pid;
	int st;

	snprintf(t->desc, sizeof(t->desc), "fork; child: ksm_merge(%d, SELF, {%p, %#zx})", fd,
		 iov.iov_base, iov.iov_len);
	pid = fork();
	if (pid == 0) {
		struct ksm_merge_result res = { .size = sizeof(res) };
		ssize_t r = sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, &res, 0);
		size_t i;

		if (r < 0 && !documented(doc_merge, errno))
			_exit(10);
		if (r >= 0 && !res_invariants_hold(&res, (r + PS - 1) / PS))
			_exit(11);
		for (i = 0; i < V_HOLE; i++)
			if (page_sum(V + i * PS) != V_sum[i])
				_exit(12);
		if (chance(&t->r, 50) && sys_ksm_leave(fd, KSM_PIDFD_SELF, 0) &&
		    !documented(doc_leave, errno))
			_exit(13);
		_exit(0);
	}
	if (pid < 0) {
		account(K_FORK, errno);
		return;
	}
	while ((st = wait_status(pid)) < 0 && errno == EINTR)
		;
	account(K_FORK, st ? EIO : 0);
	if (st == 10 || st == 13)
		failure(F_UNDOC, "thread %d: %s: child reports an undocumented errno (%d)", t->idx,
			t->desc, st);
	else if (st == 11)
		failure(F_CONSIST, "thread %d: %s: child's result breaks the invariants", t->idx,
			t->desc);
	else if (st == 12)
		failure(F_CONTENT, "thread %d: %s: child sees changed victim memory", t->idx,
			t->desc);
	else if (st)
		failure(F_CONSIST, "thread %d: %s: child status %d", t->idx, t->desc, st);
}

static void do_signal(struct th *t)
{
	struct th *o = &threads[rn(&t->r, nthreads)];

	account(K_SIGNAL, syscall(SYS_tgkill, getpid(), o->tid, SIGUSR1) ? errno : 0);
}

static void do_verify(struct th *t)
{
	size_t i = rn(&t->r, V_HOLE), j = rn(&t->r, THP_SIZE / PS);

	account(K_VERIFY, 0);
	INC(S->content_checks);
	if (page_sum(V + i * PS) != V_sum[i])
		failure(F_CONTENT, "thread %d: victim page %zu changed", t->idx, i);
	if (page_sum(THP + j * PS) != THP_sum[j])
		failure(F_CONTENT, "thread %d: THP victim page %zu changed", t->idx, j);
}

static void one_call(struct th *t)
{
	unsigned int r = rn(&t->r, 100);

	t->wild = r < 45 ? 0 : r < 80 ? 1U << rn(&t->r, NARGS) : ~0U;
	r = rn(&t->r, 1000);
	call_t0 = now_sec();
	t->slot = -1;

	if (r < 300)
		do_merge(t);
	else if (r < 420)
		do_unmerge(t);
	else if (r < 500)
		do_leave(t);
	else if (r < 620)
		do_open(t);
	else if (r < 740)
		do_ioctl(t);
	else if (r < 800 && !t->unpriv)
		do_fdinfo(t);
	else if (r < 860)
		do_sysfs(t);
	else if (r < 900)
		do_churn(t);
	else if (r < 960)
		do_vma(t);
	else if (r < 964 && !t->unpriv)
		do_fork(t);
	else if (r < 980)
		do_signal(t);
	else
		do_verify(t);
}

static void *fuzz_main(void *arg)
{
	struct th *t = arg;

	__atomic_store_n(&t->tid, gettid_(), __ATOMIC_RELEASE);
	t->fail_fd = opt_fail_pct ? open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC) : -1;
	if (t->unpriv) {
		/* this thread only (raw syscalls): no capabilities, uid 65534 */
		if (syscall(SYS_setgroups, 0, NULL) ||
		    syscall(SYS_setresgid, 65534, 65534, 65534) ||
		    syscall(SYS_setresuid, 65534, 65534, 65534))
			note("thread %d: cannot drop privileges: %s", t->idx, strerror(errno));
	}
	while (!LOAD(S->stop) && INC(S->issued) < opt_calls)
		one_call(t);
	if (t->fail_fd >= 0)
		close(t->fail_fd);
	return NULL;
}

/* Writes its pages, often with equal content, and checks every write sticks */
static int writer_stop;
static void *writer_main(void *arg)
{
	struct rng r = { opt_seed ^ 0xabcdef };
	uint64_t gen = 0;

	(void)arg;
	while (!__atomic_load_n(&writer_stop, __ATOMIC_RELAXED)) {
		size_t i = rn(&r, NW);
		uint64_t seed = 0x6000 + (gen++ % 3);

		fill_page(W + i * PS, seed);
		sleep_ms(1);
		if (!page_has_seed(W + i * PS, seed))
			failure(F_CONTENT, "writer: page %p does not hold what was written",
				(void *)(W + i * PS));
		INC(S->content_checks);
	}
	return NULL;
}

static void sigusr1(int sig)
{
	(void)sig;
}

/* A crash of the worker: where, for the report (the fault may be the kernel's) */
static void crash(int sig, siginfo_t *si, void *uc)
{
	void *bt[32];
	char buf[128];
	int n;

	(void)uc;
	n = snprintf(buf, sizeof(buf), "# worker %d: signal %d at address %p; backtrace:\n",
		     gettid_(), sig, si->si_addr);
	if (write(1, buf, n) < 0)
		_exit(128 + sig);
	backtrace_symbols_fd(bt, backtrace(bt, 32), 1);
	for (n = 0; n < nthreads; n++) {
		char l[256];
		int k = snprintf(l, sizeof(l), "# thread %d tid %d: iov %p name %p res %p mreg %p mtmp %p\n",
				 n, threads[n].tid, threads[n].iov_arena, threads[n].name_arena,
				 threads[n].res_arena, threads[n].mreg, threads[n].mtmp);

		if (write(1, l, k) < 0)
			break;
	}
	_exit(128 + sig);
}

/* ------------------------------------------------------------------ */
/* The victim process                                                  */

static int child_fds[NSLOTS + NSTABLE];

static void victim_child_main(void)
{
	struct rng r = { opt_seed ^ 0x5eed };
	size_t i;

	/* private copies of the written victim pages, so that merges really happen */
	munmap(THP, THP_SIZE);
	for (i = 0; i < V_HOLE; i++)
		if (i < 56 || i == 62) {
			char tmp[64];

			memcpy(tmp, V + i * PS, sizeof(tmp));
			memcpy(V + i * PS, tmp, sizeof(tmp));
		}
	while (!LOAD(S->stop)) {
		int fd = child_fds[rn(&r, NSLOTS + NSTABLE)];
		struct iovec iov = { V + rn(&r, NV) * PS + rn(&r, 64), rn(&r, 16 * PS) };
		struct ksm_merge_result res = { .size = sizeof(res) };
		uint64_t touched;
		ssize_t ret;

		INC(S->child_loops);
		ret = sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, &res, 0);
		if (ret < 0 && !documented(doc_merge, errno))
			failure(F_UNDOC, "victim child: ksm_merge(%d, SELF, {%p, %#zx}, 1) = %s", fd,
				iov.iov_base, iov.iov_len, ename(errno));
		if (ret >= 0) {
			struct vecarg va;

			va.n = 1;
			va.copy[0] = iov;
			va.eff[0] = iov.iov_len;
			touched = touched_pages(&va, ret);
			if (!res_invariants_hold(&res, touched))
				failure(F_CONSIST, "victim child: ksm_merge = %zd: invariants broken",
					ret);
		}
		if (chance(&r, 30)) {
			int fd2 = child_fds[rn(&r, NSLOTS + NSTABLE)];
			int e = sys_ksm_leave(fd2, KSM_PIDFD_SELF, 0);

			if (e && !documented(doc_leave, errno))
				failure(F_UNDOC, "victim child: ksm_leave = %s", ename(errno));
		}
		if (chance(&r, 10)) {
			INC(S->content_checks);
			long c = first_changed(false);

			if (c >= 0)
				failure(F_CONTENT, "victim child: page %ld changed", c);
		}
		sleep_ms(1 + rn(&r, 5));
	}
	i = first_changed(false);
	if ((long)i >= 0)
		failure(F_CONTENT, "victim child: page %ld changed at the end", (long)i);
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* Fault injection setup: debugfs knobs, restored at the end           */

struct knob {
	char path[128];
	char old[32];
};

static struct knob knobs[16];
static int nknobs;

static void set_knob(const char *path, const char *val)
{
	struct knob *k = &knobs[nknobs];

	if (nknobs >= 16 || read_file(path, k->old, sizeof(k->old)) < 0)
		return;
	snprintf(k->path, sizeof(k->path), "%s", path);
	if (write_string_path(path, val) == 0)
		nknobs++;
}

static bool setup_fault_injection(void)
{
	static const char *const attrs[] = { "failslab", "fail_page_alloc", "fail_usercopy",
					     "fail_futex", "fail_function" };
	char path[128];
	size_t i;

	if (access("/proc/thread-self/fail-nth", W_OK))
		return false;
	if (access("/sys/kernel/debug/failslab", F_OK))
		syscall(SYS_mount, "debugfs", "/sys/kernel/debug", "debugfs", 0UL, NULL);
	if (access("/sys/kernel/debug/failslab", F_OK))
		return false;
	/* a forced failure must not print a stack trace: it would read as a splat */
	for (i = 0; i < ARRAY_SIZE(attrs); i++) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/%s/verbose", attrs[i]);
		set_knob(path, "0");
	}
	/* GFP_KERNEL allocations too, or almost nothing of ksmpart can fail */
	set_knob("/sys/kernel/debug/failslab/ignore-gfp-wait", "N");
	return true;
}

static void restore_knobs(void)
{
	while (nknobs--)
		write_string_path(knobs[nknobs].path, knobs[nknobs].old);
}

/* ------------------------------------------------------------------ */
/* End of the run, in the worker                                       */

static int read_stats_all(int fd, struct ksm_partition_stats *st)
{
	memset(st, 0, sizeof(*st));
	return ioctl(fd, KSM_IOC_GET_STATS, st);
}

/*
 * Nothing runs: for each stable partition ioctl, fdinfo and its
 * /proc/ksm_partitions row show the same values (abi.md 11), the gauge
 * invariant holds; every row without members has all its gauges 0
 * (stable_node_chains and stable_node_dups aside, pruned lazily: abi.md
 * 11.1); the partitions/ sums are the sums over the rows (abi.md 11.5).
 */
static bool quiet_views_agree(char *why, size_t len)
{
	static struct prow rows[MAX_ROWS];
	char path[64], buf[4096], name[KSM_NAME_MAX + 1];
	long long fdv[NSTATS], sums[NPART_FILES - SUM0], total[NPART_FILES - SUM0];
	struct ksm_partition_stats st;
	const __u64 *iv = &st.members;
	int idx, i, k, nrows = -1, tries;
	const char *w = "";
	uint64_t id;

	/* rows and sums are read one after the other: partitions being freed may move them */
	for (tries = 0; tries < 40; tries++) {
		if (tries)
			sleep_ms(100);
		nrows = read_partitions(rows, MAX_ROWS, &w);
		if (nrows < 0) {
			snprintf(why, len, "%s: %s", PROC_PARTITIONS, w);
			return false;
		}
		if (!read_sums(sums)) {
			snprintf(why, len, "partitions/ sums unreadable or malformed");
			return false;
		}
		memset(total, 0, sizeof(total));
		total[0] = nrows;
		for (i = 0; i < nrows; i++)
			for (k = 1; k < NROW; k++)
				total[k] += rows[i].v[k];
		if (!memcmp(sums, total, sizeof(sums)))
			break;
	}
	for (k = 0; k < NPART_FILES - SUM0; k++)
		if (sums[k] != total[k]) {
			snprintf(why, len, "partitions/%s %lld, sum over %d rows %lld",
				 part_files[SUM0 + k], sums[k], nrows, total[k]);
			return false;
		}
	for (i = 0; i < nrows; i++) {
		const long long *v = rows[i].v;

		if (!v[0] && (v[1] || v[2] || v[3] || v[4] || v[5] || v[6])) {
			snprintf(why, len, "partition %llu: no members but shared %lld sharing %lld unshared %lld zero %lld rmap %lld profit %lld",
				 (unsigned long long)rows[i].id, v[1], v[2], v[3], v[4], v[5], v[6]);
			return false;
		}
	}
	for (idx = 0; idx < NSTABLE; idx++) {
		int fd = stable_fd[idx];
		const struct prow *row = NULL;

		if (read_stats_all(fd, &st)) {
			snprintf(why, len, "stable%d: ioctl: %s", idx, strerror(errno));
			return false;
		}
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
		if (read_file(path, buf, sizeof(buf)) < 0) {
			snprintf(why, len, "stable%d: %s: %s", idx, path, strerror(errno));
			return false;
		}
		w = parse_fdinfo(buf, &id, fdv, name, sizeof(name));
		if (w || id != st.id) {
			snprintf(why, len, "stable%d: fdinfo: %s", idx, w ? w : "id differs");
			return false;
		}
		for (i = 0; i < nrows; i++)
			if (rows[i].id == st.id)
				row = &rows[i];
		if (!row) {
			snprintf(why, len, "stable%d: id %llu not in %s", idx,
				 (unsigned long long)st.id, PROC_PARTITIONS);
			return false;
		}
		for (i = 0; i < NSTATS; i++) {
			if (fdv[i] != (long long)iv[i]) {
				snprintf(why, len, "stable%d: %s: ioctl %lld fdinfo %lld", idx,
					 stat_names[i], (long long)iv[i], fdv[i]);
				return false;
			}
		}
		for (k = 0; k < NROW; k++)
			if (row->v[k] != (long long)iv[row_stat[k]]) {
				snprintf(why, len, "stable%d: %s: ioctl %lld %s %lld", idx,
					 stat_names[row_stat[k]], (long long)iv[row_stat[k]],
					 PROC_PARTITIONS, row->v[k]);
				return false;
			}
		if (st.pages_unshared + st.pages_shared + st.pages_sharing > st.rmap_items) {
			snprintf(why, len, "stable%d: unshared %llu + shared %llu + sharing %llu > rmap_items %llu",
				 idx, (unsigned long long)st.pages_unshared,
				 (unsigned long long)st.pages_shared,
				 (unsigned long long)st.pages_sharing,
				 (unsigned long long)st.rmap_items);
			return false;
		}
		if (st.members == 0 && (st.pages_shared || st.pages_sharing || st.pages_unshared ||
					st.ksm_zero_pages || st.rmap_items)) {
			snprintf(why, len, "stable%d: no members but gauges shared %llu sharing %llu unshared %llu zero %llu rmap %llu chains %llu dups %llu",
				 idx, (unsigned long long)st.pages_shared,
				 (unsigned long long)st.pages_sharing,
				 (unsigned long long)st.pages_unshared,
				 (unsigned long long)st.ksm_zero_pages,
				 (unsigned long long)st.rmap_items,
				 (unsigned long long)st.stable_node_chains,
				 (unsigned long long)st.stable_node_dups);
			return false;
		}
	}
	return true;
}

static void kill_and_reap(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
}

static void worker_main(void)
{
	struct sigaction sa = { .sa_handler = sigusr1 };	/* no SA_RESTART: EINTR */
	pthread_attr_t attr;
	pthread_t writer;
	double t0;
	int i, st;
	long c;

	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_sigaction = crash;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	{
		void *bt[2];

		backtrace(bt, 2);	/* loads libgcc now, not in the handler */
	}
	if (setup_victims() || setup_fds()) {
		note("worker setup failed: %s", strerror(errno));
		_exit(2);
	}
	nthreads = opt_threads;
	for (i = 0; i < nthreads; i++)
		if (setup_thread(&threads[i], i)) {
			note("thread setup failed: %s", strerror(errno));
			_exit(2);
		}
	S->fds_before = count_fds();
	S->lowfd_before = lowest_free_fd();
	if (open_partitions()) {
		note("cannot open the partitions: %s", strerror(errno));
		_exit(2);
	}
	for (i = 0; i < NSLOTS; i++)
		child_fds[i] = slot[i];
	for (i = 0; i < NSTABLE; i++)
		child_fds[NSLOTS + i] = stable_fd[i];
	child_pid = fork();
	if (child_pid == 0)
		victim_child_main();
	child_pidfd = sys_pidfd_open(child_pid, 0);
	S->children[0] = child_pid;
	S->children[1] = nobody_pid;
	S->children[2] = zombie_pid;
	S->fail_nth_used = opt_fail_pct && setup_fault_injection();
	if (!S->fail_nth_used)
		opt_fail_pct = 0;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	t0 = now_sec();
	pthread_create(&writer, &attr, writer_main, NULL);
	for (i = 0; i < nthreads; i++)
		pthread_create(&threads[i].pt, &attr, fuzz_main, &threads[i]);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i].pt, NULL);
	S->seconds = now_sec() - t0;
	__atomic_store_n(&writer_stop, 1, __ATOMIC_RELAXED);
	pthread_join(writer, NULL);
	__atomic_store_n(&S->stop, 1, __ATOMIC_RELAXED);
	st = wait_status(child_pid);
	S->children[0] = 0;
	if (st)
		failure(F_CONSIST, "victim child exit status %d", st);
	restore_knobs();

	/* content of everything merged, after the storm */
	INC(S->content_checks);
	c = first_changed(true);
	if (c >= 0)
		failure(F_CONTENT, "victim page %ld changed", c);

	/* quiet now: leave all partitions, check the three views */
	kill_and_reap(nobody_pid);
	S->children[1] = 0;
	for (i = 0; i < NSLOTS; i++)
		if (slot[i] >= 0)
			sys_ksm_leave(slot[i], KSM_PIDFD_SELF, 0);
	for (i = 0; i < NSTABLE; i++)
		sys_ksm_leave(stable_fd[i], KSM_PIDFD_SELF, 0);
	S->quiet_checked = 1;
	S->quiet_ok = 1;
	S->quiet_ok = quiet_views_agree(S->quiet_why, sizeof(S->quiet_why));

	/* every partition fd closed: the fd table is as before */
	for (i = 0; i < NSLOTS; i++)
		if (slot[i] >= 0)
			close(slot[i]);
	for (i = 0; i < NSTABLE; i++)
		close(stable_fd[i]);
	close(child_pidfd);
	S->fds_after = count_fds();
	S->lowfd_after = lowest_free_fd();
	S->fds_ok = S->fds_after == S->fds_before && S->lowfd_after == S->lowfd_before;
	if (!S->fds_ok)
		snprintf(S->fds_why, sizeof(S->fds_why), "fds %ld -> %ld, lowest free %d -> %d",
			 S->fds_before, S->fds_after, S->lowfd_before, S->lowfd_after);

	put_byte(helper_pipe[1], 'x');
	pthread_join(helper_thread, NULL);
	while (waitpid(zombie_pid, NULL, 0) < 0 && errno == EINTR)
		;
	S->children[2] = 0;
	S->worker_done = 1;
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* The TAP parent: baselines before, leak checks after                 */

/* Rows of /proc/ksm_partitions and the partitions/ sums; -1 if unreadable or malformed */
static int partitions_now(long long *sums)
{
	static struct prow rows[MAX_ROWS];
	const char *w;
	int n = read_partitions(rows, MAX_ROWS, &w);

	if (n < 0) {
		note("%s: %s", PROC_PARTITIONS, w);
		return -1;
	}
	if (!read_sums(sums)) {
		note("partitions/ sums unreadable or malformed");
		return -1;
	}
	return n;
}

/* Names of the KSM slab caches in /proc/slabinfo (ksm_rmap_item, ksm_stable_node, ...) */
static int ksm_caches(char names[][64], int max)
{
	FILE *f = fopen("/proc/slabinfo", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && n < max)
		if (!strncmp(line, "ksm_", 4) || !strncmp(line, "ksm_partition", 13))
			sscanf(line, "%63s", names[n++]);
	fclose(f);
	return n;
}

static long slab_total(char names[][64], int n, char *why, size_t len)
{
	const char *p[8];
	bool merged;
	int i;

	for (i = 0; i < n && i < 8; i++)
		p[i] = names[i];
	return slab_objects(p, n < 8 ? n : 8, &merged, why, len);
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [--calls N] [--seed S] [--threads T (1-%d)] [--fail-nth PCT]\n",
		argv0, MAX_THREADS);
	exit(2);
}

static void print_histogram(enum kind k)
{
	char buf[2048];
	int n = 0, e;

	for (e = 0; e < ERRNO_MAX; e++)
		if (S->err[k][e])
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s=%llu", n ? " " : "",
				      e ? ename(e) : "E?", (unsigned long long)S->err[k][e]);
	printf("# errno_%s: %s\n", kind_name[k], n ? buf : "none");
}

static int tap_n;
static int tap_failed;

static void tap(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - %s\n", ok ? "ok" : "not ok", ++tap_n, name);
	if (!ok)
		tap_failed++;
	if (fmt && *fmt) {
		va_start(ap, fmt);
		fputs("# ", stdout);
		vprintf(fmt, ap);
		fputc('\n', stdout);
		va_end(ap);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "calls", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 't' },
		{ "fail-nth", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	long long sums_base[NPART_FILES - SUM0], sums_end[NPART_FILES - SUM0];
	char caches[8][64], why[160] = "";
	long glob_base[NGLOBALS], glob_end[NGLOBALS], slab_base, slab_end = -1;
	int c, nbase, nend = -1, ncaches, status, i;
	uint64_t total = 0, okc = 0;
	bool same, coverage;
	double end;

	while ((c = getopt_long(argc, argv, "c:s:t:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt_calls = strtoull(optarg, NULL, 0);
			break;
		case 's':
			opt_seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			opt_threads = atoi(optarg);
			break;
		case 'f':
			opt_fail_pct = atoi(optarg);
			break;
		default:
			usage(argv[0]);
		}
	}
	if (optind != argc || opt_threads < 1 || opt_threads > MAX_THREADS || opt_fail_pct < 0 ||
	    opt_fail_pct > 100)
		usage(argv[0]);
	PS = psize();
	max_rw = INT_MAX & ~(PS - 1);
	setvbuf(stdout, NULL, _IOLBF, 0);

	printf("TAP version 13\n");
	if (access(KSM_SYSFS "partitions", F_OK) || access(PROC_PARTITIONS, F_OK)) {
		printf("1..0 # SKIP no /sys/kernel/mm/ksm/partitions or /proc/ksm_partitions (kernel without ksmpart)\n");
		return 0;
	}
	if (geteuid()) {
		printf("1..0 # SKIP needs root (pagemap, slab counts, uid switches, fail-nth)\n");
		return 0;
	}
	printf("1..11\n");
	printf("# seed: %llu\n# calls: %llu\n# threads: %d\n# fail_nth_percent: %d\n",
	       (unsigned long long)opt_seed, (unsigned long long)opt_calls, opt_threads,
	       opt_fail_pct);

	S = map_shared(sizeof(*S));
	if (!S) {
		printf("Bail out! mmap: %s\n", strerror(errno));
		return 1;
	}
	nbase = partitions_now(sums_base);
	for (i = 0; i < NGLOBALS; i++)
		S->glob_base[i] = glob_base[i] = ksm_sysfs_read(ksm_globals[i]);
	/* ksmd off: global KSM's counters must not move at all during the run */
	S->ksmd_off = ksm_sysfs_read("run") == 0;
	ncaches = ksm_caches(caches, 8);
	slab_base = ncaches > 0 ? slab_total(caches, ncaches, why, sizeof(why)) : -1;
	printf("# slab_caches:");
	for (i = 0; i < ncaches; i++)
		printf(" %s", caches[i]);
	printf("\n# slab_objects_before: %ld\n# partitions_before: %d\n# ksmd_off: %d\n",
	       slab_base, nbase, S->ksmd_off);

	worker_pid = fork();
	if (worker_pid < 0) {
		printf("Bail out! fork: %s\n", strerror(errno));
		return 1;
	}
	if (worker_pid == 0)
		worker_main();
	status = wait_status(worker_pid);
	/* a worker that died leaves its children: they hold partitions */
	__atomic_store_n(&S->stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 3; i++)
		if (S->children[i] > 0 && kill(S->children[i], SIGKILL) == 0)
			note("killed process %d left by the worker", S->children[i]);

	/* teardown is partly asynchronous (release work of partitions, RCU): wait for it */
	end = now_sec() + 20;
	do {
		nend = partitions_now(sums_end);
		for (i = 0; i < NGLOBALS; i++)
			glob_end[i] = ksm_sysfs_read(ksm_globals[i]);
		slab_end = ncaches > 0 ? slab_total(caches, ncaches, why, sizeof(why)) : -1;
		same = nend == nbase && nbase >= 0 &&
		       !memcmp(sums_base, sums_end, sizeof(sums_base)) &&
		       !memcmp(glob_base, glob_end, GLOBAL_ZERO_PAGES * sizeof(glob_base[0])) &&
		       slab_end == slab_base;
		if (same)
			break;
		sleep_ms(250);
	} while (now_sec() < end);

	/* diagnostics */
	for (i = 0; i < NKINDS; i++) {
		total += S->calls[i];
		okc += S->ok[i];
	}
	printf("# worker_status: %d\n# duration_s: %.2f\n# calls_made: %llu\n# calls_per_s: %.0f\n",
	       status, S->seconds, (unsigned long long)total,
	       S->seconds > 0 ? total / S->seconds : 0);
	for (i = 0; i < NKINDS; i++)
		printf("# calls_%s: %llu (ok %llu, %.1f ms/call)\n", kind_name[i],
		       (unsigned long long)S->calls[i], (unsigned long long)S->ok[i],
		       S->calls[i] ? S->ns[i] / 1e6 / S->calls[i] : 0.0);
	for (i = 0; i < K_CHURN; i++)
		print_histogram(i);
	printf("# merge_bytes_processed: %llu\n# pages_scanned: %llu\n# pages_merged: %llu\n# partial_returns: %llu\n# joins: %llu\n",
	       (unsigned long long)S->bytes_processed, (unsigned long long)S->pages_scanned,
	       (unsigned long long)S->pages_merged, (unsigned long long)S->partial,
	       (unsigned long long)S->joined);
	printf("# fail_nth_armed: %llu\n# fail_nth_injected: %llu\n# victim_child_loops: %llu\n# content_checks: %llu\n",
	       (unsigned long long)S->armed, (unsigned long long)S->injected,
	       (unsigned long long)S->child_loops, (unsigned long long)S->content_checks);

	tap(S->worker_done && status == 0, "worker completed", "worker exit status %d", status);
	tap(!S->fails[F_UNDOC], "every errno is documented in abi.md",
	    S->fails[F_UNDOC] ? "%llu calls failed with an undocumented errno" : NULL,
	    (unsigned long long)S->fails[F_UNDOC]);
	tap(!S->fails[F_MUSTFAIL], "invalid arguments are rejected",
	    S->fails[F_MUSTFAIL] ? "%llu calls with invalid arguments succeeded" : NULL,
	    (unsigned long long)S->fails[F_MUSTFAIL]);
	tap(!S->fails[F_CONSIST], "results are consistent",
	    S->fails[F_CONSIST] ? "%llu inconsistent results" : NULL,
	    (unsigned long long)S->fails[F_CONSIST]);
	tap(!S->fails[F_CONTENT] && S->content_checks > 0, "merged memory keeps its content",
	    "%llu content failures in %llu checks", (unsigned long long)S->fails[F_CONTENT],
	    (unsigned long long)S->content_checks);
	/* a run that reached nothing proves nothing */
	coverage = S->ok[K_OPEN] && S->ok[K_MERGE] && S->ok[K_UNMERGE] && S->ok[K_LEAVE] &&
		   S->ok[K_IOCTL] && S->pages_merged > 0;
	tap(coverage || opt_calls < 1000, "every call succeeded at least once and pages merged",
	    "ok: open %llu merge %llu unmerge %llu leave %llu ioctl %llu; pages merged %llu",
	    (unsigned long long)S->ok[K_OPEN], (unsigned long long)S->ok[K_MERGE],
	    (unsigned long long)S->ok[K_UNMERGE], (unsigned long long)S->ok[K_LEAVE],
	    (unsigned long long)S->ok[K_IOCTL], (unsigned long long)S->pages_merged);
	tap(S->quiet_checked && S->quiet_ok,
	    "quiet: ioctl, fdinfo and /proc/ksm_partitions agree, partitions/ sums add up; no gauges without members",
	    "%s", S->quiet_why);
	tap(S->worker_done && S->fds_ok, "worker's fds back to baseline",
	    "fds %ld -> %ld, lowest free fd %d -> %d", S->fds_before, S->fds_after, S->lowfd_before, S->lowfd_after);
	{
		char sb[512];
		int n = 0;

		for (i = 0; i < NPART_FILES - SUM0; i++)
			n += snprintf(sb + n, sizeof(sb) - n, "%s %lld->%lld ", part_files[SUM0 + i],
				      nbase >= 0 ? sums_base[i] : -1, nend >= 0 ? sums_end[i] : -1);
		tap(nbase >= 0 && nend == nbase && !memcmp(sums_base, sums_end, sizeof(sums_base)),
		    "/proc/ksm_partitions and partitions/ sums back to baseline",
		    "rows %d -> %d; %s", nbase, nend, sb);
	}
	{
		char gb[512];
		int n = 0;
		bool gok = !memcmp(glob_base, glob_end, GLOBAL_ZERO_PAGES * sizeof(glob_base[0]));

		for (i = 0; i < GLOBAL_ZERO_PAGES; i++)
			n += snprintf(gb + n, sizeof(gb) - n, "%s %ld->%ld ", ksm_globals[i],
				      glob_base[i], glob_end[i]);
		if (slab_base < 0)
			tap(gok, "KSM slab objects and system-wide counters back to baseline",
			    "slab counts unavailable (%s); %s", why, gb);
		else
			tap(gok && slab_end == slab_base,
			    "KSM slab objects and system-wide counters back to baseline",
			    "slab objects %ld -> %ld; %s", slab_base, slab_end, gb);
	}
	/*
	 * It drifted before the fork fix (kernel/patches/0004: the child's count).
	 * Partitions' zero pages are counted in partitions/ksm_zero_pages only.
	 */
	{
		int z = 5 - SUM0;	/* part_files[5]: ksm_zero_pages */
		long long zb = nbase >= 0 ? sums_base[z] : -1, ze = nend >= 0 ? sums_end[z] : -1;

		tap(glob_base[GLOBAL_ZERO_PAGES] == glob_end[GLOBAL_ZERO_PAGES] && zb >= 0 &&
		    zb == ze, "system-wide ksm_zero_pages back to baseline",
		    "ksm_zero_pages %ld -> %ld; partitions/ksm_zero_pages %lld -> %lld",
		    glob_base[GLOBAL_ZERO_PAGES], glob_end[GLOBAL_ZERO_PAGES], zb, ze);
	}
	(void)okc;
	return tap_failed ? 1 : 0;
}
