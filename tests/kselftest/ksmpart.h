/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the ksmpart kselftests (ksm_part_*.c): raw system call
 * wrappers, page frame numbers from pagemap, pages filled with a controlled
 * pattern, KSM counters from /proc and /sys, slab object counts, and small
 * process/synchronisation helpers.
 *
 * The functions do not use the harness macros, so forked children can call
 * them too; children report failure through their exit status (see
 * CHILD_CHECK). Only EXPECT_KSM/EXPECT_NOT_KSM are for TEST bodies.
 */
#ifndef KSMPART_SELFTEST_H
#define KSMPART_SELFTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/const.h>
#include <linux/ksmpart.h>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif
#ifndef MADV_MERGEABLE
#define MADV_MERGEABLE 12
#define MADV_UNMERGEABLE 13
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* /proc/pid/pagemap */
#define PM_PFN_MASK (_BITULL(55) - 1)
#define PM_PRESENT _BITULL(63)

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h) */
#define KPF_ANON 12
#define KPF_COMPOUND_HEAD 15
#define KPF_COMPOUND_TAIL 16
#define KPF_KSM 21
#define KPF_THP 22
#define KPF_ZERO_PAGE 24

#define KSM_SYSFS "/sys/kernel/mm/ksm/"
#define KPAGEFLAGS_PATH "/proc/kpageflags"
/* Files under /proc/PID/ */
#define PROC_KSM_MERGING_PAGES "ksm_merging_pages"
#define PROC_KSM_STAT "ksm_stat"

/* ------------------------------------------------------------------ */
/* System calls                                                        */

static inline int sys_ksm_open(const char *name, unsigned int flags, unsigned long mode)
{
	return syscall(__NR_ksm_open, name, flags, mode);
}

static inline ssize_t sys_ksm_merge(int fd, int pidfd, const struct iovec *vec, size_t vlen,
				    struct ksm_merge_result *res, unsigned int flags)
{
	return syscall(__NR_ksm_merge, fd, pidfd, vec, vlen, res, flags);
}

static inline ssize_t sys_ksm_unmerge(int fd, int pidfd, const struct iovec *vec, size_t vlen,
				      unsigned int flags)
{
	return syscall(__NR_ksm_unmerge, fd, pidfd, vec, vlen, flags);
}

static inline int sys_ksm_leave(int fd, int pidfd, unsigned int flags)
{
	return syscall(__NR_ksm_leave, fd, pidfd, flags);
}

static inline int sys_pidfd_open(pid_t pid, unsigned int flags)
{
	return syscall(SYS_pidfd_open, pid, flags);
}

/* Result struct with ->size set, everything else zero. */
static inline void res_init(struct ksm_merge_result *r)
{
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
}

/* The two exact invariants of docs/abi.md section 5; touched = pages touched by the ranges. */
static inline bool res_invariants_hold(const struct ksm_merge_result *r, uint64_t touched)
{
	return r->pages_scanned == r->pages_merged + r->pages_already_shared +
				   r->zero_pages_merged + r->pages_unshared + r->pages_failed &&
	       touched == r->pages_scanned + r->pages_absent + r->pages_skipped;
}

static inline void res_print(const char *what, const struct ksm_merge_result *r)
{
	fprintf(stderr,
		"# %s: size %u flags %#x scanned %llu merged %llu already_shared %llu zero %llu unshared %llu failed %llu absent %llu skipped %llu\n",
		what, r->size, r->flags, (unsigned long long)r->pages_scanned,
		(unsigned long long)r->pages_merged, (unsigned long long)r->pages_already_shared,
		(unsigned long long)r->zero_pages_merged, (unsigned long long)r->pages_unshared,
		(unsigned long long)r->pages_failed, (unsigned long long)r->pages_absent,
		(unsigned long long)r->pages_skipped);
}

/* ksm_merge of [addr, addr+len) of the target, one range. */
static inline ssize_t merge_range(int fd, int pidfd, void *addr, size_t len,
				  struct ksm_merge_result *res)
{
	struct iovec iov = { .iov_base = addr, .iov_len = len };

	if (res)
		res_init(res);
	return sys_ksm_merge(fd, pidfd, &iov, 1, res, 0);
}

static inline ssize_t unmerge_range(int fd, int pidfd, void *addr, size_t len)
{
	struct iovec iov = { .iov_base = addr, .iov_len = len };

	return sys_ksm_unmerge(fd, pidfd, &iov, 1, 0);
}

/* Join without scanning (vlen == 0). Returns the syscall's result. */
static inline ssize_t join_partition(int fd, int pidfd, struct ksm_merge_result *res)
{
	if (res)
		res_init(res);
	return sys_ksm_merge(fd, pidfd, NULL, 0, res, 0);
}

/*
 * Is the target a member of fd's partition? ksm_unmerge with vlen == 0 does
 * nothing but the membership check: 0 if it is, ENOENT if not.
 * Returns 1 member, 0 not a member, -1 other error (errno set).
 */
static inline int is_member(int fd, int pidfd)
{
	ssize_t r = sys_ksm_unmerge(fd, pidfd, NULL, 0, 0);

	if (r == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return -1;
}

/*
 * Is the calling process a member of any partition? Probed from the inside:
 * madvise(MADV_MERGEABLE) fails with EBUSY exactly for members (abi.md 3).
 * Uses a scratch mapping, so no VMA of the caller changes.
 * Returns 1 member, 0 not a member, -1 unexpected (errno set).
 */
static inline int self_is_member_of_any(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int r, e;

	if (p == MAP_FAILED)
		return -1;
	r = madvise(p, ps, MADV_MERGEABLE);
	e = errno;
	munmap(p, ps);
	errno = e;
	if (r == 0)
		return 0;
	return e == EBUSY ? 1 : -1;
}

/* ------------------------------------------------------------------ */
/* Memory with controlled content                                      */

static inline size_t psize(void)
{
	static size_t ps;

	if (!ps)
		ps = sysconf(_SC_PAGESIZE);
	return ps;
}

/*
 * Fill a page with a pattern determined by seed (< 2^63): word 0 is
 * seed | bit 63 (so pages of different seeds always differ and no page is
 * zero-filled), the other words a mix of seed and index.
 */
static inline void fill_page(void *page, uint64_t seed)
{
	uint64_t *w = page;
	size_t i, n = psize() / sizeof(*w);

	w[0] = seed | (1ULL << 63);
	for (i = 1; i < n; i++)
		w[i] = (seed + 1) * 0x9E3779B97F4A7C15ULL ^ (i * 0xBF58476D1CE4E5B9ULL);
}

static inline bool page_has_seed(const void *page, uint64_t seed)
{
	const uint64_t *w = page;
	size_t i, n = psize() / sizeof(*w);

	if (w[0] != (seed | (1ULL << 63)))
		return false;
	for (i = 1; i < n; i++)
		if (w[i] != ((seed + 1) * 0x9E3779B97F4A7C15ULL ^ (i * 0xBF58476D1CE4E5B9ULL)))
			return false;
	return true;
}

/* n pages of private anonymous memory (not populated), or NULL. */
static inline char *map_anon(size_t n)
{
	void *p = mmap(NULL, n * psize(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Keep THP out of tests that do not ask for it: counts are per base page anyway. */
	madvise(p, n * psize(), MADV_NOHUGEPAGE);
	return p;
}

/*
 * Byte accesses the compiler must not drop or fold (READ_ONCE/WRITE_ONCE for
 * user space): a read fault maps the zero page into an untouched anonymous
 * page; storing a byte back unchanged breaks COW without changing content.
 */
static inline char force_read_byte(const char *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void force_rewrite_byte(char *p)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

/*
 * READ_ONCE()/WRITE_ONCE() for user space, for memory that another thread,
 * process (MAP_SHARED) or a signal handler changes: the compiler makes every
 * access, whole, and neither drops nor merges any (relaxed atomics: not
 * only integers, double too).
 */
#define KSM_READ_ONCE(x)						\
({									\
	typeof(x) __ro_val;						\
									\
	__atomic_load(&(x), &__ro_val, __ATOMIC_RELAXED);		\
	__ro_val;							\
})

#define KSM_WRITE_ONCE(x, val)						\
do {									\
	typeof(x) __wo_val = (val);					\
									\
	__atomic_store(&(x), &__wo_val, __ATOMIC_RELAXED);		\
} while (0)

/* n private anonymous pages, page i filled with seeds[i]. */
/*
 * Give this process its own copy of pages it shares copy-on-write with a
 * child that will not join its partition: such pages never merge in place
 * (the child would map a KSM page of the partition).
 */
static inline void unshare_pages(char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		force_rewrite_byte(buf + i * psize());
}

static inline char *map_seeded(size_t n, const uint64_t *seeds)
{
	char *p = map_anon(n);
	size_t i;

	if (!p)
		return NULL;
	for (i = 0; i < n; i++)
		fill_page(p + i * psize(), seeds[i]);
	return p;
}

/* Does page i of buf hold seeds[i] for every i < n? Index of the first bad page, or -1. */
static inline long first_bad_page(const char *buf, size_t n, const uint64_t *seeds)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!page_has_seed(buf + i * psize(), seeds[i]))
			return i;
	return -1;
}

/* ------------------------------------------------------------------ */
/* pagemap / kpageflags                                                */

/* pid 0: self. Needs root for PFNs (else they read as 0). */
static inline int pagemap_open(pid_t pid)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	return open(path, O_RDONLY | O_CLOEXEC);
}

static inline uint64_t pagemap_entry(int pmfd, const void *addr)
{
	uint64_t e = 0;

	if (pread(pmfd, &e, sizeof(e), (uintptr_t)addr / psize() * sizeof(e)) != sizeof(e))
		return 0;
	return e;
}

/* PFN mapped at addr, 0 if none present. */
static inline uint64_t pfn_of(int pmfd, const void *addr)
{
	uint64_t e = pagemap_entry(pmfd, addr);

	return (e & PM_PRESENT) ? (e & PM_PFN_MASK) : 0;
}

/* PFN at addr in process pid (0: self); opens and closes pagemap. */
static inline uint64_t pid_pfn(pid_t pid, const void *addr)
{
	int fd = pagemap_open(pid);
	uint64_t pfn;

	if (fd < 0)
		return 0;
	pfn = pfn_of(fd, addr);
	close(fd);
	return pfn;
}

static inline uint64_t self_pfn(const void *addr)
{
	return pid_pfn(0, addr);
}

/* PFNs of n consecutive pages of pid (0: self) into out[]. Returns 0 or -1. */
static inline int pids_pfns(pid_t pid, const void *addr, size_t n, uint64_t *out)
{
	int fd = pagemap_open(pid);
	size_t i;

	if (fd < 0)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = pfn_of(fd, (const char *)addr + i * psize());
	close(fd);
	return 0;
}

/* Number of the n pages of pid (0: self) at p mapped to frame k, -1 on error. */
static inline int pages_on_frame(pid_t pid, const void *p, size_t n, uint64_t k)
{
	int fd = pagemap_open(pid), c = 0;
	size_t i;

	if (fd < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (pfn_of(fd, (const char *)p + i * psize()) == k)
			c++;
	close(fd);
	return c;
}

/* /proc/kpageflags of a PFN, or 0 if unreadable. */
static inline uint64_t kpageflags(uint64_t pfn)
{
	uint64_t f = 0;
	int fd = open(KPAGEFLAGS_PATH, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (pread(fd, &f, sizeof(f), pfn * sizeof(f)) != sizeof(f))
		f = 0;
	close(fd);
	return f;
}

static inline bool pfn_is_ksm(uint64_t pfn)
{
	return pfn && (kpageflags(pfn) & (1ULL << KPF_KSM));
}

/*
 * 6.12's stable_page_flags() sets KPF_KSM on every anonymous page (it tests
 * mapping & PAGE_MAPPING_KSM, and PAGE_MAPPING_KSM includes
 * PAGE_MAPPING_ANON). Probe a plain anonymous page once per process: KPF_KSM
 * is used only where it is reported correctly.
 */
static inline bool kpf_ksm_reliable(void)
{
	static int reliable = -1;
	uint64_t f;
	char *p;

	if (reliable >= 0)
		return reliable;
	p = mmap(NULL, psize(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	p[0] = 1;
	f = kpageflags(self_pfn(p));
	munmap(p, psize());
	reliable = (f & (1ULL << KPF_ANON)) && !(f & (1ULL << KPF_KSM));
	if (!reliable)
		fprintf(stderr,
			"# /proc/kpageflags: KPF_KSM %s on a plain anonymous page (flags %#llx): KPF_KSM checks disabled\n",
			(f & (1ULL << KPF_KSM)) ? "set" : "unknown", (unsigned long long)f);
	return reliable;
}

/* For TEST bodies (harness macros): check KPF_KSM where it can be trusted. */
#define EXPECT_KSM(pfn) do { \
	if (kpf_ksm_reliable()) { \
		unsigned long long __pfn = (pfn); \
		EXPECT_TRUE(pfn_is_ksm(__pfn)) TH_LOG("frame %#llx is not a KSM page", __pfn); \
	} \
} while (0)

#define EXPECT_NOT_KSM(pfn) do { \
	if (kpf_ksm_reliable()) { \
		unsigned long long __pfn = (pfn); \
		EXPECT_FALSE(pfn_is_ksm(__pfn)) TH_LOG("frame %#llx is a KSM page", __pfn); \
	} \
} while (0)

static inline bool pfn_is_thp(uint64_t pfn)
{
	return pfn && (kpageflags(pfn) & (1ULL << KPF_THP));
}

/* ------------------------------------------------------------------ */
/* /proc and /sys counters                                             */

static inline long read_long_path(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

static inline int write_string_path(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static inline int write_long_path(const char *path, long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", v);
	return write_string_path(path, buf);
}

/* /proc/PID/ksm_merging_pages (pid 0: self), -1 if unreadable. */
static inline long ksm_merging_pages(pid_t pid)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/" PROC_KSM_MERGING_PAGES, pid);
	else
		snprintf(path, sizeof(path), "/proc/self/" PROC_KSM_MERGING_PAGES);
	return read_long_path(path);
}

/* A line in the kernel log (best effort: /dev/kmsg may be absent). */
static inline void kmsg_note(const char *msg)
{
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	ssize_t written;

	if (fd < 0)
		return;
	written = write(fd, msg, strlen(msg));
	(void)written;	/* a note only */
	close(fd);
}

/*
 * A "key value" line of /proc/PID/ksm_stat (pid 0: self), -1 if absent.
 * Parsed as unsigned and cast: partition ids use all 64 bits (compare them
 * as (long)id), and strtoull still gives negative profits back exactly.
 */
static inline long ksm_stat(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/" PROC_KSM_STAT, pid);
	else
		snprintf(path, sizeof(path), "/proc/self/" PROC_KSM_STAT);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			v = (long)strtoull(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* /sys/kernel/mm/ksm/<name> */
static inline long ksm_sysfs_read(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), KSM_SYSFS "%s", name);
	return read_long_path(path);
}

static inline int ksm_sysfs_write(const char *name, long v)
{
	char path[128];

	snprintf(path, sizeof(path), KSM_SYSFS "%s", name);
	return write_long_path(path, v);
}

static inline long ksm_pages_shared(void)
{
	return ksm_sysfs_read("pages_shared");
}

static inline long ksm_pages_sharing(void)
{
	return ksm_sysfs_read("pages_sharing");
}

/*
 * Does the VMA containing addr in pid (0: self) have the VmFlags mnemonic
 * flag (e.g. "mg" for VM_MERGEABLE)? 1 yes, 0 no, -1 VMA or smaps not found.
 */
static inline int vma_has_flag(pid_t pid, const void *addr, const char *flag)
{
	char path[64], line[1024];
	unsigned long a = (uintptr_t)addr, lo, hi;
	bool in = false;
	int r = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/smaps");
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = lo <= a && a < hi;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			char *tok, *save = NULL;

			r = 0;
			for (tok = strtok_r(line + 8, "\n ", &save); tok;
			     tok = strtok_r(NULL, "\n ", &save))
				if (!strcmp(tok, flag))
					r = 1;
			break;
		}
	}
	fclose(f);
	return r;
}

/* ------------------------------------------------------------------ */
/* Slab object counts                                                  */

/* active_objs of a /proc/slabinfo row, -1 if the name has no row. */
static inline long slabinfo_active(const char *name)
{
	char line[512], cname[128];
	long active, v = -1;
	FILE *f = fopen("/proc/slabinfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%127s %ld", cname, &active) == 2 && !strcmp(cname, name)) {
			v = active;
			break;
		}
	fclose(f);
	return v;
}

/*
 * Objects in use in the caches holding the given slab names, summed over the
 * distinct caches (SLUB merges compatible caches: /sys/kernel/slab/NAME is
 * then a symlink to the shared cache, whose count includes the other users).
 * Each cache is shrunk first (per-CPU slabs flushed, the KASAN quarantine of
 * the cache drained), which makes /sys/kernel/slab/X/objects exact.
 * Falls back to /proc/slabinfo (less exact: per-CPU slabs count as in use).
 * Returns -1 and a reason in why[] if a name is found nowhere.
 * *merged is set if any of the caches is shared with other slab names.
 */
static inline long slab_objects(const char *const *names, int n, bool *merged,
				char *why, size_t whylen)
{
	char seen[8][PATH_MAX];
	int nseen = 0, i, j;
	long total = 0;

	*merged = false;
	for (i = 0; i < n && i < 8; i++) {
		char path[PATH_MAX], real[PATH_MAX], file[PATH_MAX + 16];
		struct stat st;
		long v;

		snprintf(path, sizeof(path), "/sys/kernel/slab/%s", names[i]);
		if (realpath(path, real)) {
			if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
				*merged = true;
			for (j = 0; j < nseen; j++)
				if (!strcmp(seen[j], real))
					break;
			if (j < nseen)
				continue;
			snprintf(seen[nseen++], sizeof(seen[0]), "%s", real);
			snprintf(file, sizeof(file), "%s/shrink", real);
			write_string_path(file, "1");
			snprintf(file, sizeof(file), "%s/objects", real);
			v = read_long_path(file);
			if (v >= 0) {
				total += v;
				continue;
			}
		}
		v = slabinfo_active(names[i]);
		if (v < 0) {
			snprintf(why, whylen,
				 "slab cache %s in neither /sys/kernel/slab nor /proc/slabinfo",
				 names[i]);
			return -1;
		}
		total += v;
	}
	return total;
}

/* ------------------------------------------------------------------ */
/* Processes and synchronisation                                       */

/*
 * In forked children (where the harness' ASSERTs must not be used): on
 * failure print where and why and exit with the line number's low byte
 * (never 0).
 */
#define CHILD_CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "# child %d %s:%d: check failed: %s (errno %d %s)\n", \
			getpid(), __FILE__, __LINE__, #cond, errno, strerror(errno)); \
		_exit((__LINE__ % 250) + 1); \
	} \
} while (0)

/* Exit status of a child: its exit code, or 128 + signal. */
static inline int wait_status(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* One byte over a pipe; -1 on EOF/error. */
static inline int put_byte(int fd, char c)
{
	return write(fd, &c, 1) == 1 ? 0 : -1;
}

static inline int get_byte(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? (unsigned char)c : -1;
}

/* Two pipes between a parent and one child. */
struct chan {
	int to_child[2];
	int to_parent[2];
};

static inline int chan_open(struct chan *c)
{
	if (pipe2(c->to_child, O_CLOEXEC))
		return -1;
	return pipe2(c->to_parent, O_CLOEXEC);
}

/* After fork: keep only this side's ends. */
static inline void chan_child_side(struct chan *c)
{
	close(c->to_child[1]);
	close(c->to_parent[0]);
}

static inline void chan_parent_side(struct chan *c)
{
	close(c->to_child[0]);
	close(c->to_parent[1]);
}

/* Parent: close its remaining ends (the child sees EOF). */
static inline void chan_parent_close(struct chan *c)
{
	close(c->to_child[1]);
	close(c->to_parent[0]);
}

/* Anonymous shared memory for child/parent data exchange. */
static inline void *map_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * Drop to an unprivileged uid/gid (no supplementary groups, so no
 * capabilities left) and stay ptrace-attachable by the same uid (the uid change
 * clears dumpable). For forked children only.
 */
static inline int drop_privileges(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL))
		return -1;
	if (setresgid(gid, gid, gid))
		return -1;
	if (setresuid(uid, uid, uid))
		return -1;
	return prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

/* A name unique to this process and call: "kst-TAG-PID-N". */
static inline const char *unique_name(char *buf, size_t len, const char *tag)
{
	static unsigned int counter;

	snprintf(buf, len, "kst-%s-%d-%u", tag, getpid(), counter++);
	return buf;
}

static inline double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* Partition fdinfo, ksmd knobs, swap, cgroups, NUMA (review 2026-12)  */

/* More /proc/pid/pagemap bits */
#define PM_SOFT_DIRTY _BITULL(55)
#define PM_UFFD_WP _BITULL(57)
#define PM_SWAP _BITULL(62)

/*
 * The value of "key:\t<number>" in /proc/PID/fdinfo/FD (pid 0: self), e.g.
 * key "ksm_rmap_items"; -1 if unreadable or absent. Parsed as unsigned and
 * cast, as ksm_stat(): ksm_id uses all 64 bits (compare as (long long)id).
 */
static inline long long part_fdinfo(pid_t pid, int fd, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long long v = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	else
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = (long long)strtoull(line + klen + 1, NULL, 0);
			break;
		}
	fclose(f);
	return v;
}

/* Every /sys/kernel/mm/ksm knob a test may change, and how to put it back. */
struct ksm_knobs {
	long run, pages_to_scan, sleep_ms, merge_across_nodes, max_page_sharing;
};

static inline void ksm_knobs_save(struct ksm_knobs *k)
{
	k->run = ksm_sysfs_read("run");
	k->pages_to_scan = ksm_sysfs_read("pages_to_scan");
	k->sleep_ms = ksm_sysfs_read("sleep_millisecs");
	k->merge_across_nodes = ksm_sysfs_read("merge_across_nodes");
	k->max_page_sharing = ksm_sysfs_read("max_page_sharing");
}

/* run=2 (unmerge everything, so that merge_across_nodes may change), then the rest. */
static inline void ksm_knobs_restore(const struct ksm_knobs *k)
{
	ksm_sysfs_write("run", 2);
	ksm_sysfs_write("run", 0);
	if (k->merge_across_nodes >= 0 &&
	    ksm_sysfs_read("merge_across_nodes") != k->merge_across_nodes)
		ksm_sysfs_write("merge_across_nodes", k->merge_across_nodes);
	if (k->max_page_sharing > 0 &&
	    ksm_sysfs_read("max_page_sharing") != k->max_page_sharing)
		ksm_sysfs_write("max_page_sharing", k->max_page_sharing);
	if (k->pages_to_scan > 0)
		ksm_sysfs_write("pages_to_scan", k->pages_to_scan);
	if (k->sleep_ms >= 0)
		ksm_sysfs_write("sleep_millisecs", k->sleep_ms);
	if (k->run == 1)
		ksm_sysfs_write("run", 1);
}

/* ksmd at a fast pace (sleep 10 ms, 10000 pages per batch). */
static inline int ksmd_go_fast(void)
{
	if (ksm_sysfs_write("pages_to_scan", 10000) || ksm_sysfs_write("sleep_millisecs", 10))
		return -1;
	return ksm_sysfs_write("run", 1);
}

/* Wait until ksmd completed n more full scans; false on timeout. */
static inline bool ksmd_full_scans_wait(int n, double timeout)
{
	long start = ksm_sysfs_read("full_scans");
	double end = now_sec() + timeout;

	while (now_sec() < end) {
		if (ksm_sysfs_read("full_scans") >= start + n)
			return true;
		sleep_ms(10);
	}
	return false;
}

/* Header of a version-1 swap area of the given size on dev. */
static inline int mkswap_header(const char *dev, uint64_t bytes)
{
	size_t ps = psize();
	char *h = calloc(1, ps);
	uint32_t *info = (uint32_t *)(h + 1024);
	int fd, r = -1;

	if (!h)
		return -1;
	info[0] = 1;			/* version */
	info[1] = bytes / ps - 1;	/* last_page */
	memcpy(h + ps - 10, "SWAPSPACE2", 10);
	fd = open(dev, O_WRONLY | O_CLOEXEC);
	if (fd >= 0 && pwrite(fd, h, ps, 0) == (ssize_t)ps && fsync(fd) == 0)
		r = 0;
	if (fd >= 0)
		close(fd);
	free(h);
	return r;
}

/* Is any swap area active? */
static inline bool swap_in_use(void)
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

/*
 * Make sure swap exists: 1 if this call set up 256 MiB on /dev/zram0 (undo
 * with swap_on_zram_undo), 0 if swap was there already, -1 (why[] says why)
 * if there is none and none could be made.
 */
static inline int swap_on_zram(char *why, size_t len)
{
	if (swap_in_use())
		return 0;
	if (read_long_path("/sys/block/zram0/disksize") != 0) {
		snprintf(why, len, "no swap and no unused /dev/zram0 (CONFIG_ZRAM)");
		return -1;
	}
	if (write_string_path("/sys/block/zram0/disksize", "256M") ||
	    mkswap_header("/dev/zram0", 256 << 20) ||
	    syscall(SYS_swapon, "/dev/zram0", 0)) {
		snprintf(why, len, "zram swap setup failed: %s", strerror(errno));
		write_string_path("/sys/block/zram0/reset", "1");
		return -1;
	}
	return 1;
}

static inline void swap_on_zram_undo(int made)
{
	if (made != 1)
		return;
	syscall(SYS_swapoff, "/dev/zram0");
	write_string_path("/sys/block/zram0/reset", "1");
}

/*
 * A child cgroup v2 with the memory controller: path[] gets its directory.
 * Returns 0, or -1 with a reason in why[]. *enabled tells whether this call
 * enabled +memory in the root's subtree_control (undo in test_cgroup_remove).
 */
static inline int test_cgroup_create(char *path, size_t len, const char *tag, bool *enabled,
				     char *why, size_t wlen)
{
	char file[PATH_MAX + 64];
	FILE *f;
	char ctl[256] = "";

	*enabled = false;
	f = fopen("/sys/fs/cgroup/cgroup.subtree_control", "re");
	if (!f) {
		snprintf(why, wlen, "no cgroup v2 at /sys/fs/cgroup");
		return -1;
	}
	if (!fgets(ctl, sizeof(ctl), f))
		ctl[0] = 0;
	fclose(f);
	if (!strstr(ctl, "memory")) {
		if (write_string_path("/sys/fs/cgroup/cgroup.subtree_control", "+memory")) {
			snprintf(why, wlen, "cannot enable the memory controller: %s",
				 strerror(errno));
			return -1;
		}
		*enabled = true;
	}
	snprintf(path, len, "/sys/fs/cgroup/kst-%s-%d", tag, getpid());
	if (mkdir(path, 0755) && errno != EEXIST) {
		snprintf(why, wlen, "mkdir %.200s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(file, sizeof(file), "%s/memory.max", path);
	if (access(file, W_OK)) {
		snprintf(why, wlen, "%.200s missing (memory controller off?)", file);
		return -1;
	}
	return 0;
}

/* Move pid (0: self) into the cgroup at path. */
static inline int test_cgroup_enter(const char *path, pid_t pid)
{
	char file[PATH_MAX + 64];

	snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	return write_long_path(file, pid ? pid : getpid());
}

/* A "key value" line of a cgroup file (memory.stat, memory.events); -1 if absent. */
static inline long long cgroup_stat(const char *path, const char *file, const char *key)
{
	char p[PATH_MAX + 64], line[256];
	size_t klen = strlen(key);
	long long v = -1;
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", path, file);
	f = fopen(p, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			v = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Remove the cgroup (its processes must be gone: they go to the root first). */
static inline void test_cgroup_remove(const char *path, bool enabled)
{
	char file[PATH_MAX + 64], line[64];
	FILE *f;
	int i;

	snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	for (i = 0; i < 100; i++) {
		f = fopen(file, "re");
		if (!f)
			break;
		while (fgets(line, sizeof(line), f))
			write_string_path("/sys/fs/cgroup/cgroup.procs", line);
		fclose(f);
		if (!rmdir(path) || errno == ENOENT)
			break;
		sleep_ms(20);
	}
	if (enabled)
		write_string_path("/sys/fs/cgroup/cgroup.subtree_control", "-memory");
}

/* /proc/vmstat counter, -1 if absent. */
static inline long long vmstat_counter(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long long v = -1;
	FILE *f = fopen("/proc/vmstat", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			v = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Is NUMA node n online? */
static inline bool numa_node_online(int n)
{
	char path[64];

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
	return access(path, F_OK) == 0;
}

/*
 * move_pages(2) without libnuma. nodes == NULL queries: status[] gets each
 * page's node (or -errno).
 */
static inline long sys_move_pages(pid_t pid, unsigned long n, void **pages, const int *nodes,
				  int *status, int flags)
{
	return syscall(SYS_move_pages, pid, n, pages, nodes, status, flags);
}

/* The node of the page at addr in pid (0: self), or -errno. */
static inline int page_node_of(pid_t pid, void *addr)
{
	int status = -1;

	if (sys_move_pages(pid, 1, &addr, NULL, &status, 0))
		return -errno;
	return status;
}

/* The state letter of /proc/PID/stat (R, S, D, Z, ...), 0 if unreadable. */
static inline char proc_state_of(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* waitpid with a deadline: exit status as wait_status(), -2 on timeout (child left alone). */
static inline int wait_status_timeout(pid_t pid, double seconds)
{
	double end = now_sec() + seconds;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			if (WIFEXITED(st))
				return WEXITSTATUS(st);
			if (WIFSIGNALED(st))
				return 128 + WTERMSIG(st);
			return -1;
		}
		if (r < 0)
			return -1;
		if (now_sec() >= end)
			return -2;
		sleep_ms(5);
	}
}

/*
 * "KSM:" of /proc/PID/smaps (pid 0: self) for the VMA containing addr, in kB;
 * -1 if not found. Unlike KPF_KSM of 6.12 (set on every anonymous page, see
 * kpf_ksm_reliable) it is exact (folio_test_ksm); per VMA, so a page to be
 * checked gets a VMA of its own (map_isolated).
 */
static inline long vma_ksm_kb(pid_t pid, const void *addr)
{
	char path[64], line[1024];
	unsigned long a = (uintptr_t)addr, lo, hi;
	bool in = false;
	long v = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/smaps");
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = lo <= a && a < hi;
			continue;
		}
		if (in && !strncmp(line, "KSM:", 4)) {
			v = strtol(line + 4, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* Is the page at addr of pid (in a one-page VMA, see map_isolated) a KSM page? */
static inline bool page_is_ksm(pid_t pid, const void *addr)
{
	return vma_ksm_kb(pid, addr) > 0;
}

/*
 * n pages, each in a VMA of its own (a hole after each): page i is at
 * p + 2 * i * psize(). One range [p, p + (2n - 1) pages) covers them all.
 */
static inline char *map_isolated(size_t n)
{
	char *p = mmap(NULL, 2 * n * psize(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, 2 * n * psize(), MADV_NOHUGEPAGE);
	for (i = 0; i < n; i++)
		munmap(p + (2 * i + 1) * psize(), psize());
	return p;
}

#define ISO(p, i) ((char *)(p) + 2 * (i) * psize())
#define ISO_LEN(n) ((2 * (n) - 1) * psize())

#endif /* KSMPART_SELFTEST_H */
