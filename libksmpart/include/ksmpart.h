/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libksmpart C API: partitioned, synchronous KSM.
 *
 * A stable C interface over the ksm_open(2), ksm_merge(2), ksm_unmerge(2) and
 * ksm_leave(2) system calls and the KSM_IOC_GET_STATS ioctl. See ksmpart(7)
 * and docs/abi.md for the kernel semantics.
 *
 * Conventions, for every function below unless its description says
 * otherwise:
 *  - Functions return 0 (or a non-negative count) on success and a negative
 *    errno value (-EINVAL, -ENOSYS, ...) on failure; errno itself is left
 *    unspecified.
 *  - On failure a human-readable message naming the cause is stored for the
 *    calling thread, retrievable with ksmpart_last_error(); e.g. "merge: no
 *    ptrace access to pid 42 (needs same uid and no setuid, or
 *    CAP_SYS_PTRACE; the caller lacks CAP_SYS_PTRACE)".
 *  - No function throws or aborts on bad input; NULL pointers where an object
 *    is required give -EINVAL.
 *  - -ENOSYS means the running kernel has no ksmpart support (it needs a
 *    kernel built with CONFIG_KSM_PARTITION). The library makes no ksmpart
 *    system call at all unless the kernel shows a positive marker (see
 *    ksmpart_available()): the provisional syscall numbers belong to other
 *    calls on other kernels.
 *  - -EPERM from creating a partition or merging, with a message saying so,
 *    when the administrator disabled partitions
 *    (/sys/kernel/mm/ksm/partitions/enabled is 0), or, for merging, while
 *    /sys/kernel/mm/ksm/run is 2.
 *  - Structures passed in for output are size-versioned: the caller sets the
 *    `size` member to sizeof(the struct) as compiled; the library writes at
 *    most that many bytes and stores the number of bytes written in `size`.
 *    Members are only ever appended.
 *  - Partition handles are not thread-safe against their own
 *    ksmpart_close(); concurrent operations on one handle are safe.
 */
#ifndef KSMPART_H
#define KSMPART_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <ksmpart/version.h>

/* The library exports exactly the functions marked so (symbol version
 * LIBKSMPART_0); everything else in it is hidden. */
#if defined(__GNUC__)
#define KSMPART_API __attribute__((visibility("default")))
#else
#define KSMPART_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Value for a pidfd argument naming the calling process (KSM_PIDFD_SELF). */
#define KSMPART_PIDFD_SELF (-10000)

/** Longest partition name in bytes, excluding the NUL (KSM_NAME_MAX). */
#define KSMPART_NAME_MAX 255

/* Flags of ksmpart_open() and ksmpart_open_anonymous(). */
/** Create the named partition if it does not exist (KSM_OPEN_CREATE). */
#define KSMPART_CREATE 0x01U
/** With KSMPART_CREATE: fail with -EEXIST if it exists (KSM_OPEN_EXCL). */
#define KSMPART_EXCL 0x02U
/** Creation only: merge zero-filled pages with the zero page (KSM_OPEN_ZERO_PAGES). */
#define KSMPART_ZERO_PAGES 0x08U

/* Flags of struct ksmpart_merge_report. */
/** The target joined the partition during this merge. */
#define KSMPART_REPORT_JOINED 0x01U
/** Every byte of every range was processed and no error occurred. */
#define KSMPART_REPORT_COMPLETE 0x02U

/**
 * struct ksmpart_partition - an open partition (opaque). Owns one partition fd, which
 * is always opened close-on-exec. Created by ksmpart_open(),
 * ksmpart_open_anonymous() or ksmpart_adopt_fd(); freed by ksmpart_close().
 */
struct ksmpart_partition;

/**
 * struct ksmpart_merge_report - outcome of ksmpart_merge()/ksmpart_unmerge().
 *
 * Set @size to sizeof(struct ksmpart_merge_report) before the call. A merge
 * is done in as many system calls as needed; the page counters are the sums
 * of the kernel's struct ksm_merge_result over them (all 0 for unmerge).
 * Invariants: pages_scanned = pages_merged + pages_already_shared +
 * zero_pages_merged + pages_unshared + pages_failed; the pages touched by
 * the processed bytes = pages_scanned + pages_absent + pages_skipped.
 */
struct ksmpart_merge_report {
	uint32_t size;                 /* in: caller's sizeof; out: bytes written */
	uint32_t flags;                /* out: KSMPART_REPORT_* */
	int32_t error;                 /* out: 0, or the -errno that stopped the call */
	uint32_t calls;                /* out: system calls made */
	uint64_t bytes_requested;      /* out: sum of the range lengths */
	uint64_t bytes_processed;      /* out: bytes of the ranges processed, in order */
	uint64_t pages_scanned;        /* private anonymous pages examined */
	uint64_t pages_merged;         /* newly deduplicated */
	uint64_t pages_already_shared; /* already merged in this partition */
	uint64_t zero_pages_merged;    /* replaced by the zero page */
	uint64_t pages_unshared;       /* no duplicate yet, kept as candidates */
	uint64_t pages_failed;         /* eligible but not merged this time */
	uint64_t pages_absent;         /* no anonymous page mapped */
	uint64_t pages_skipped;        /* hole, incompatible or PROT_NONE VMA */
};

/**
 * struct ksmpart_stats - statistics of a partition (struct
 * ksm_partition_stats). Set @size to sizeof(struct ksmpart_stats) before
 * ksmpart_get_stats(). Gauges first, then cumulative counters since
 * creation; page counts are in base pages.
 */
struct ksmpart_stats {
	uint32_t size;           /* in: caller's sizeof; out: bytes written */
	uint32_t flags;          /* KSMPART_ZERO_PAGES if set */
	uint64_t id;             /* unique for the boot, never 0 */
	uint64_t members;        /* member processes */
	uint64_t pages_shared;   /* KSM pages of this partition */
	uint64_t pages_sharing;  /* additional mappings of them (pages saved) */
	uint64_t pages_unshared; /* candidates held */
	uint64_t ksm_zero_pages; /* zero pages placed, still mapped */
	uint64_t rmap_items;     /* metadata: one per tracked page */
	uint64_t stable_node_chains;
	uint64_t stable_node_dups;
	int64_t general_profit; /* bytes saved minus metadata */
	uint64_t merge_calls;
	uint64_t unmerge_calls;
	uint64_t leave_calls;
	uint64_t pages_scanned; /* sums of the merge results */
	uint64_t pages_merged;
	uint64_t zero_pages_merged;
	uint64_t pages_failed;
	uint64_t pages_absent;
	uint64_t pages_skipped;
	uint64_t merge_time_ns;   /* CPU time of callers in ksm_merge() */
	uint64_t unmerge_time_ns; /* ... in ksm_unmerge() and ksm_leave() */
};

/**
 * ksmpart_version() - the library version.
 *
 * Return: a static string "MAJOR.MINOR.PATCH". Never fails.
 */
KSMPART_API const char *ksmpart_version(void);

/**
 * ksmpart_last_error() - message of the last failure in this thread.
 *
 * Return: a string describing the most recent failed ksmpart_* call of the
 * calling thread, naming the cause (e.g. which permission or capability was
 * missing), or "" if none failed yet. Valid until the next ksmpart_* call in
 * this thread. Never NULL.
 */
KSMPART_API const char *ksmpart_last_error(void);

/**
 * ksmpart_available() - does the running kernel have ksmpart?
 *
 * Looks for a positive marker of a ksmpart kernel and makes no system
 * call of ksmpart's: the directory /sys/kernel/mm/ksm/partitions/, or a
 * line starting with "ksm_partition " in /proc/self/ksm_stat. The answer
 * is cached for the process; every other function fails with -ENOSYS,
 * without entering the kernel, when it is negative.
 *
 * Return: 0 if available, -ENOSYS if not.
 */
KSMPART_API int ksmpart_available(void);

/**
 * ksmpart_open() - open or create a named partition.
 * @name:  1..KSMPART_NAME_MAX bytes from [A-Za-z0-9._:@-], not starting
 *         with '.'; scoped to the caller's IPC namespace.
 * @flags: 0 to open an existing partition; KSMPART_CREATE to create it if
 *         needed, plus KSMPART_EXCL to require creation, plus
 *         KSMPART_ZERO_PAGES (applies only if created).
 * @mode:  permission bits for a created partition (subset of 0666, no umask
 *         applied); must be 0 without KSMPART_CREATE.
 * @out:   receives the new handle on success; untouched on failure.
 *
 * Without KSMPART_CREATE, opening an existing partition needs read and
 * write permission by its mode and owner, or CAP_IPC_OWNER. With
 * KSMPART_CREATE, an existing partition is opened only if it is the
 * caller's own (owner uid == fsuid); a name owned by another user gives
 * -EEXIST, never that user's partition: open it without KSMPART_CREATE
 * to join it on purpose.
 *
 * Return: 0, or -EINVAL (bad name, flags or mode; NULL @name or @out),
 * -ENAMETOOLONG, -ENOENT (no such partition and no KSMPART_CREATE),
 * -EEXIST (KSMPART_EXCL and it exists, or KSMPART_CREATE and another user
 * owns it), -EACCES (mode denies read+write), -EPERM (KSMPART_CREATE of a
 * new partition while the administrator disabled partitions), -EMFILE,
 * -ENFILE, -ENOMEM, -ENOSYS.
 */
KSMPART_API int ksmpart_open(const char *name, unsigned int flags, unsigned int mode,
                 struct ksmpart_partition **out);

/**
 * ksmpart_open_or_create() - create a named partition or open one's own.
 * @name, @mode: as for ksmpart_open().
 * @flags:   0 or KSMPART_ZERO_PAGES (applies only if created).
 * @out:     receives the new handle on success.
 * @created: if not NULL, set to 1 if this call created the partition, 0 if
 *           it opened the caller's existing one.
 *
 * Never opens another user's partition: that is -EEXIST (join it on
 * purpose with ksmpart_open() without KSMPART_CREATE).
 *
 * Return: as ksmpart_open() with KSMPART_CREATE.
 */
KSMPART_API int ksmpart_open_or_create(const char *name, unsigned int flags, unsigned int mode,
                                       struct ksmpart_partition **out, int *created);

/**
 * ksmpart_open_anonymous() - create a new anonymous partition.
 * @flags: 0 or KSMPART_ZERO_PAGES.
 * @out:   receives the new handle on success.
 *
 * An anonymous partition has no name; it is shared only by passing its fd
 * (ksmpart_fd()) through fork, SCM_RIGHTS or pidfd_getfd().
 *
 * Return: 0, or -EINVAL, -EPERM (partitions disabled by the administrator),
 * -EMFILE, -ENFILE, -ENOMEM, -ENOSYS.
 */
KSMPART_API int ksmpart_open_anonymous(unsigned int flags, struct ksmpart_partition **out);

/**
 * ksmpart_adopt_fd() - wrap an existing partition fd.
 * @fd:  a partition fd; on success the handle owns it and
 *       ksmpart_close() closes it.
 * @out: receives the new handle.
 *
 * The fd is not checked here; operations on a non-partition fd fail with
 * -EBADF.
 *
 * Return: 0, or -EINVAL (@fd < 0 or @out NULL), -ENOMEM.
 */
KSMPART_API int ksmpart_adopt_fd(int fd, struct ksmpart_partition **out);

/**
 * ksmpart_fd() - the partition fd of a handle (still owned by the handle).
 *
 * Return: the fd, or -EINVAL if @p is NULL.
 */
KSMPART_API int ksmpart_fd(const struct ksmpart_partition *p);

/**
 * ksmpart_close() - close the partition fd and free the handle.
 *
 * The partition lives on while other fds or members reference it. NULL is
 * ignored. Never fails.
 */
KSMPART_API void ksmpart_close(struct ksmpart_partition *p);

/**
 * ksmpart_pidfd_open() - a pidfd for a process, for the pidfd arguments.
 * @pid: the process; 0 gives KSMPART_PIDFD_SELF without opening anything.
 *
 * The caller closes the returned fd with close(2) (unless it is
 * KSMPART_PIDFD_SELF).
 *
 * Return: the pidfd (or KSMPART_PIDFD_SELF), or -ESRCH (no such process),
 * -EINVAL, -EMFILE, -ENFILE, -ENOSYS (kernel before 5.3).
 */
KSMPART_API int ksmpart_pidfd_open(pid_t pid);

/**
 * ksmpart_merge() - merge identical pages in the target's ranges.
 * @p:      the partition.
 * @pidfd:  the target: a pidfd or KSMPART_PIDFD_SELF. A target that is a
 *          member of no partition joins @p first.
 * @vec:    the ranges; any alignment, any number (batched into calls of at
 *          most 1024 ranges and MAX_RW_COUNT bytes, continuing after partial
 *          progress); may be NULL if @vlen is 0.
 * @vlen:   number of ranges; 0 joins the target without scanning.
 * @report: optional (NULL allowed); @report->size must be set.
 *
 * Processing stops at the first error; @report then says how far it got
 * (bytes_processed) and which error stopped it.
 *
 * Return: 0 if every range was processed, else the -errno that stopped it:
 * -EBADF, -EINVAL, -EFAULT, -ESRCH (target gone), -EPERM (no ptrace attach
 * access to the target; or partitions disabled by the administrator, or
 * /sys/kernel/mm/ksm/run is 2: the message says which), -EBUSY (target is a member of another partition),
 * -EINTR, -ENOMEM, -ENOSYS.
 */
KSMPART_API int ksmpart_merge(const struct ksmpart_partition *p, int pidfd, const struct iovec *vec,
                  size_t vlen, struct ksmpart_merge_report *report);

/**
 * ksmpart_merge_anonymous() - merge all private anonymous memory of a process.
 * @p:      the partition.
 * @pid:    the target; 0 for the caller.
 * @report: optional; @report->size must be set.
 *
 * Reads /proc/@pid/maps and merges every accessible private anonymous
 * region (heap, stack, anonymous mmaps). Regions unmapped meanwhile are
 * skipped by the kernel.
 *
 * Return: as ksmpart_merge(), plus -EACCES if /proc/@pid/maps is not
 * readable.
 */
KSMPART_API int ksmpart_merge_anonymous(const struct ksmpart_partition *p, pid_t pid,
                            struct ksmpart_merge_report *report);

/**
 * ksmpart_merge_anonymous_pidfd() - ksmpart_merge_anonymous() by pidfd.
 * @p:      the partition.
 * @pidfd:  the target: a pidfd or KSMPART_PIDFD_SELF (not closed).
 * @report: optional; @report->size must be set.
 *
 * As ksmpart_merge_anonymous(), but the target cannot be a recycled pid:
 * its maps are read by pid and then checked to belong to the pidfd's
 * process, still alive.
 *
 * Return: as ksmpart_merge_anonymous().
 */
KSMPART_API int ksmpart_merge_anonymous_pidfd(const struct ksmpart_partition *p, int pidfd,
                                              struct ksmpart_merge_report *report);

/**
 * ksmpart_unmerge() - break sharing of this partition's pages in ranges.
 * @p, @pidfd, @vec, @vlen, @report: as for ksmpart_merge(); the page
 *          counters of @report stay 0.
 *
 * The target must be a member of @p and stays one.
 *
 * Return: 0 if every range was processed, else -EBADF, -EINVAL, -EFAULT,
 * -ESRCH, -EPERM, -ENOENT (target not a member of @p), -EINTR, -ENOMEM,
 * -ENOSYS.
 */
KSMPART_API int ksmpart_unmerge(const struct ksmpart_partition *p, int pidfd, const struct iovec *vec,
                    size_t vlen, struct ksmpart_merge_report *report);

/**
 * ksmpart_leave() - unmerge all of the target's pages and leave @p.
 * @p:     the partition.
 * @pidfd: the target: a pidfd or KSMPART_PIDFD_SELF.
 *
 * Return: 0, or -EBADF, -ESRCH, -EPERM, -ENOENT (not a member of @p),
 * -EINTR, -ENOMEM, -ENOSYS.
 */
KSMPART_API int ksmpart_leave(const struct ksmpart_partition *p, int pidfd);

/**
 * ksmpart_get_stats() - statistics of the partition.
 * @p:  the partition.
 * @st: output; @st->size must be set to sizeof(struct ksmpart_stats).
 *
 * Members beyond what the kernel provides are set to 0; @st->size tells how
 * many bytes are valid.
 *
 * Return: 0, or -EINVAL (NULL argument, @st->size too small), -ENOTTY
 * (kernel without partition statistics), -EBADF.
 */
KSMPART_API int ksmpart_get_stats(const struct ksmpart_partition *p, struct ksmpart_stats *st);

/**
 * ksmpart_anonymous_ranges() - the private anonymous memory of a process.
 * @pid: the process; 0 for the caller.
 * @vec: receives a malloc()ed array of ranges (NULL if there are none);
 *       free it with free().
 *
 * The ranges are a snapshot of /proc/@pid/maps, coalesced; they may be stale
 * by the time they are used, which ksmpart_merge() tolerates.
 *
 * Return: the number of ranges (>= 0), or -ESRCH (no such process), -EACCES,
 * -ENOMEM, -EINVAL (@vec NULL).
 */
KSMPART_API ssize_t ksmpart_anonymous_ranges(pid_t pid, struct iovec **vec);

/**
 * ksmpart_anonymous_ranges_pidfd() - ksmpart_anonymous_ranges() by pidfd.
 * @pidfd: a pidfd or KSMPART_PIDFD_SELF (not closed).
 * @vec:   as for ksmpart_anonymous_ranges().
 *
 * Return: as ksmpart_anonymous_ranges(); -ESRCH also if the pidfd's process
 * has exited (so the maps read cannot be a recycled pid's).
 */
KSMPART_API ssize_t ksmpart_anonymous_ranges_pidfd(int pidfd, struct iovec **vec);

/**
 * ksmpart_region_ranges() - the mappings of a named region of a process.
 * @pid:    the process; 0 for the caller.
 * @region: a maps path such as "[heap]", "[stack]", "[anon:name]" or a file.
 * @vec:    as for ksmpart_anonymous_ranges().
 *
 * Return: the number of ranges (> 0), or -ENOENT (no such region), -ESRCH,
 * -EACCES, -ENOMEM, -EINVAL.
 */
KSMPART_API ssize_t ksmpart_region_ranges(pid_t pid, const char *region, struct iovec **vec);

#ifdef __cplusplus
}
#endif

#endif /* KSMPART_H */
