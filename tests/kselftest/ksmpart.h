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

/* n private anonymous pages, page i filled with seeds[i]. */
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

/* A "key value" line of /proc/PID/ksm_stat (pid 0: self), -1 if absent. */
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
			v = strtol(line + klen + 1, NULL, 10);
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

#endif /* KSMPART_SELFTEST_H */
