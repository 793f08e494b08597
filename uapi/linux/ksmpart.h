/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ksmpart: partitioned, synchronous KSM.
 *
 * The user-space ABI of the ksm_open/ksm_merge/ksm_unmerge/ksm_leave system
 * calls; see docs/abi.md, which is the normative description of every
 * constant and structure below. Shared verbatim by the kernel
 * (include/uapi/linux/) and by user space.
 *
 *   int     ksm_open(const char *name, unsigned int flags, umode_t mode);
 *   ssize_t ksm_merge(int fd, int pidfd, const struct iovec *vec,
 *                     size_t vlen, struct ksm_merge_result *res,
 *                     unsigned int flags);
 *   ssize_t ksm_unmerge(int fd, int pidfd, const struct iovec *vec,
 *                       size_t vlen, unsigned int flags);
 *   int     ksm_leave(int fd, int pidfd, unsigned int flags);
 */
#ifndef _UAPI_LINUX_KSMPART_H
#define _UAPI_LINUX_KSMPART_H

#include <linux/types.h>
#include <linux/ioctl.h>

/*
 * System call numbers, in both the x86_64 and the generic table: the first
 * ones after all that mainline has taken (463-471 through 7.2), so that they
 * mean nothing else on any kernel released so far. Provisional until
 * upstream assigns numbers. A program must not issue them unless the kernel
 * is known to be a ksmpart kernel (see ksm_partition(7): the directory
 * /sys/kernel/mm/ksm/partitions, or a "ksm_partition" line in
 * /proc/self/ksm_stat).
 */
#define __NR_ksm_open		472
#define __NR_ksm_merge		473
#define __NR_ksm_unmerge	474
#define __NR_ksm_leave		475

/*
 * Partition names: 1..KSM_NAME_MAX bytes from [A-Za-z0-9._:@-], not starting
 * with '.', NUL-terminated. Names are scoped to the caller's IPC namespace.
 */
#define KSM_NAME_MAX		255

/* ksm_open() flags. Any other bit is rejected with EINVAL. */
#define KSM_OPEN_CREATE		0x01U /* create if it does not exist */
#define KSM_OPEN_EXCL		0x02U /* with CREATE: fail if it exists */
#define KSM_OPEN_CLOEXEC	0x04U /* set FD_CLOEXEC on the new fd */
/*
 * KSM_OPEN_ZERO_PAGES: the new partition merges zero-filled pages with the
 * shared zero page instead of a KSM page, as /sys/kernel/mm/ksm/use_zero_pages
 * does for global KSM. With a name it needs KSM_OPEN_CREATE, and is ignored
 * when that opens an existing partition.
 */
#define KSM_OPEN_ZERO_PAGES	0x08U

/*
 * Value for the pidfd argument of ksm_merge/ksm_unmerge/ksm_leave naming the
 * calling process. Equal to PIDFD_SELF (PIDFD_SELF_THREAD), added upstream
 * after 6.12; outside the fd and errno ranges, and deliberately not -1.
 */
#define KSM_PIDFD_SELF		(-10000)

/*
 * Result of ksm_merge(), size-versioned.
 *
 * @size is the only input: the caller sets it to sizeof(struct
 * ksm_merge_result) as it knows it (at least KSM_MERGE_RESULT_SIZE_VER0). The
 * kernel writes min(@size, its own size) bytes and stores that value in
 * @size; bytes beyond it are left untouched. Fields are only ever appended.
 *
 * All page counts are in base pages (PAGE_SIZE) touched by the processed part
 * of the ranges, each range counted separately:
 *   touched = pages_scanned + pages_absent + pages_skipped
 *   pages_scanned = pages_merged + pages_already_shared + zero_pages_merged +
 *                   pages_unshared + pages_failed
 */
struct ksm_merge_result {
	__u32 size;			/* in: caller's size; out: bytes written */
	__u32 flags;			/* out: KSM_MERGE_RESULT_* */
	__aligned_u64 pages_scanned;	/* private anon pages examined */
	__aligned_u64 pages_merged;	/* newly deduplicated in this partition */
	__aligned_u64 pages_already_shared; /* already merged in this partition */
	__aligned_u64 zero_pages_merged; /* replaced by the zero page */
	__aligned_u64 pages_unshared;	/* no duplicate yet: kept as candidate */
	__aligned_u64 pages_failed;	/* eligible, not merged this time */
	__aligned_u64 pages_absent;	/* mergeable VMA, no anon page mapped */
	__aligned_u64 pages_skipped;	/* hole, incompatible/PROT_NONE VMA */
};

#define KSM_MERGE_RESULT_SIZE_VER0	72 /* sizeof first published struct */

/* ksm_merge_result.flags */
#define KSM_MERGE_RESULT_JOINED	0x01U /* target joined during this call */

/*
 * Statistics of a partition, size-versioned like struct ksm_merge_result.
 *
 * ioctl(fd, KSM_IOC_GET_STATS, &stats) on a partition fd. The kernel takes
 * the caller's struct size from _IOC_SIZE(cmd) (at least
 * KSM_PARTITION_STATS_SIZE_VER0), writes min(that, its own size) bytes and
 * stores that value in @size. Fields are only ever appended.
 *
 * Gauges (now) first, then cumulative counters since creation. Page counts
 * are base pages. The same names, prefixed with "ksm_" where they lack it,
 * are the lines of the fd's /proc/<pid>/fdinfo entry; /proc/ksm_partitions
 * shows the gauges of every partition to root.
 */
struct ksm_partition_stats {
	__u32 size;			/* out: bytes written */
	__u32 flags;			/* KSM_OPEN_ZERO_PAGES if set */
	__aligned_u64 id;		/* unique for the boot, never 0 */
	__aligned_u64 members;		/* member processes (mms) */
	__aligned_u64 pages_shared;	/* KSM pages of this partition */
	__aligned_u64 pages_sharing;	/* additional mappings of them */
	__aligned_u64 pages_unshared;	/* candidates held (no twin yet) */
	__aligned_u64 ksm_zero_pages;	/* zero pages placed, still mapped */
	__aligned_u64 rmap_items;	/* metadata: one per tracked page */
	__aligned_u64 stable_node_chains;
	__aligned_u64 stable_node_dups;
	__aligned_s64 general_profit;	/* bytes saved minus metadata */
	__aligned_u64 merge_calls;	/* ksm_merge() calls that got this far */
	__aligned_u64 unmerge_calls;
	__aligned_u64 leave_calls;
	__aligned_u64 pages_scanned;	/* sums of struct ksm_merge_result */
	__aligned_u64 pages_merged;
	__aligned_u64 zero_pages_merged;
	__aligned_u64 pages_failed;
	__aligned_u64 pages_absent;
	__aligned_u64 pages_skipped;
	__aligned_u64 merge_time_ns;	/* CPU time of callers in ksm_merge() */
	__aligned_u64 unmerge_time_ns;	/* ... in ksm_unmerge(), ksm_leave() */
};

#define KSM_PARTITION_STATS_SIZE_VER0	176 /* sizeof first published struct */

#define KSM_IOC_MAGIC		0xB9
#define KSM_IOC_GET_STATS	_IOR(KSM_IOC_MAGIC, 0x01, struct ksm_partition_stats)

#endif /* _UAPI_LINUX_KSMPART_H */
