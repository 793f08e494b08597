/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KSM partitions: the interface between the partition object, its names and
 * system calls (mm/ksm_partition.c) and the partition engine
 * (mm/ksm_partition_merge.c), which drives mm/ksm.c's machinery on the
 * partition's own tree (see mm/ksm_internal.h).
 */
#ifndef _MM_KSM_PARTITION_H
#define _MM_KSM_PARTITION_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/rhashtable-types.h>
#include <linux/siphash.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/xarray.h>
#include <uapi/linux/ksmpart.h>

#include "ksm_internal.h"

struct ipc_namespace;
struct mm_struct;
struct seq_file;

/**
 * struct ksm_partition_activity - cumulative counters of a partition's calls
 * @merge_calls: ksm_merge() calls that reached the merge loop
 * @unmerge_calls: ksm_unmerge() calls on a member
 * @leave_calls: successful ksm_leave() calls
 * @merged: sums of the ksm_merge() results (@merged.size and .flags unused)
 * @merge_time_ns: CPU time of callers in ksm_merge()
 * @unmerge_time_ns: CPU time of callers in ksm_unmerge() and ksm_leave()
 */
struct ksm_partition_activity {
	u64 merge_calls;
	u64 unmerge_calls;
	u64 leave_calls;
	struct ksm_merge_result merged;
	u64 merge_time_ns;
	u64 unmerge_time_ns;
};

/**
 * struct ksm_partition - a KSM security domain
 * @id: unique for the boot, never 0
 * @name: NUL-terminated name, or NULL for an anonymous partition
 * @ipc_ns: IPC namespace @name is looked up in (pinned while named)
 * @uid: owner, the creator's fsuid
 * @gid: owner group, the creator's fsgid
 * @mode: permission bits (0666 at most), as given to ksm_open()
 * @flags: KSM_OPEN_* creation flags that stay with the partition
 * @name_node: link in the table of named partitions
 * @users: open files plus member mms; the name is findable while non-zero
 * @lock: the lock of @tree; also serialises @candidates and members' items
 * @tree: the stable tree, its counters (KSM pages of this partition only)
 * @stable_root: the one root of @tree
 * @cand_key: key of the hash that spreads candidates over @candidates
 * @candidates: hash table (by checksum) of pages without a twin yet
 * @candidate_bits: log2 of the number of buckets in @candidates
 * @stable_filter: bitmap of the checksums of @tree's KSM pages (a Bloom
 *	filter: a clear bit proves that no KSM page has that content)
 * @stable_filter_bits: log2 of the number of bits in @stable_filter
 * @stable_filter_fill: KSM pages added to @stable_filter since it was built
 * @members_lock: protects @members and @nr_members
 * @members: struct ksm_member of every member mm
 * @nr_members: number of entries in @members
 * @all_node: link in the list of all partitions
 * @stats_lock: protects @activity
 * @activity: what the system calls did to the partition so far
 */
struct ksm_partition {
	u64 id;
	char *name;
	struct ipc_namespace *ipc_ns;
	kuid_t uid;
	kgid_t gid;
	umode_t mode;
	unsigned int flags;
	struct rhash_head name_node;
	refcount_t users;

	struct mutex lock;		/* @tree's */
	struct ksm_tree tree;
	struct rb_root stable_root;
	siphash_key_t cand_key;
	struct hlist_head *candidates;
	unsigned int candidate_bits;
	unsigned long *stable_filter;
	unsigned int stable_filter_bits;
	unsigned long stable_filter_fill;

	spinlock_t members_lock;	/* @members, @nr_members */
	struct list_head members;
	unsigned int nr_members;

	struct list_head all_node;

	spinlock_t stats_lock;		/* @activity */
	struct ksm_partition_activity activity;
};

/**
 * struct ksm_member - membership of one mm in one partition
 * @mm: the member; mm->ksm_member points back here
 * @part: the partition, referenced (one of @part->users)
 * @items: rmap items of @mm in @part, indexed by virtual page number
 * @leaving: ksm_leave() is taking @mm out: nothing merges into it any more
 * @node: link in @part->members
 * @rcu: frees the member; mm->ksm_member is read under RCU
 */
struct ksm_member {
	struct mm_struct *mm;
	struct ksm_partition *part;
	struct xarray items;
	bool leaving;
	struct list_head node;
	struct rcu_head rcu;
};

/* mm/ksm_partition.c */
void ksm_partition_get(struct ksm_partition *part);
void ksm_partition_put(struct ksm_partition *part);
void ksm_partition_free(struct ksm_partition *part);

/* mm/ksm_partition_merge.c */
int ksm_partition_init_tree(struct ksm_partition *part);
void ksm_partition_release_tree(struct ksm_partition *part);
int ksm_partition_join(struct ksm_partition *part, struct mm_struct *mm,
		       bool *joined);
bool ksm_partitions_may_merge(void);
int ksm_partition_merge_range(struct ksm_partition *part,
			      struct mm_struct *mm, unsigned long start,
			      size_t len, struct ksm_merge_result *res,
			      size_t *done);
int ksm_partition_unmerge_range(struct ksm_partition *part,
				struct mm_struct *mm, unsigned long start,
				size_t len, size_t *done);
int ksm_partition_leave(struct ksm_partition *part, struct mm_struct *mm);
void ksm_partition_get_stats(struct ksm_partition *part,
			     struct ksm_partition_stats *stats);
void ksm_partitions_total(struct ksm_partition_stats *total);
void *ksm_partitions_seq_start(struct seq_file *m, loff_t *pos);
void *ksm_partitions_seq_next(struct seq_file *m, void *v, loff_t *pos);
void ksm_partitions_seq_stop(struct seq_file *m, void *v);
struct ksm_partition *ksm_partitions_seq_entry(void *v);

#endif /* _MM_KSM_PARTITION_H */
