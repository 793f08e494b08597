/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The stable tree's nodes, rmap items, and the tree they belong to, shared
 * by the parts of KSM that build a stable tree out of them.
 */
#ifndef _MM_KSM_INTERNAL_H
#define _MM_KSM_INTERNAL_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/types.h>

typedef u8 rmap_age_t;

/**
 * struct ksm_tree - a stable tree, its lock and its counters
 * @root: roots of the stable tree: one per NUMA node while global KSM does
 *	not merge across nodes, else one
 * @lock: serialises changes to the tree, to the rmap item lists of its nodes
 *	and to the counters below; ksm_thread_mutex for global KSM
 * @pages_shared: KSM pages of the tree (stable nodes that have rmap items)
 * @pages_sharing: additional mappings of them
 * @pages_unshared: rmap items waiting for a twin to merge with
 * @rmap_items: rmap items allocated for the tree
 * @stable_node_chains: stable node chains in the tree
 * @stable_node_dups: stable node dups hanging off those chains
 * @max_page_sharing: most mappings a KSM page of the tree takes
 * @zero_pages: merge zero-filled pages with the zero page instead
 */
struct ksm_tree {
	struct rb_root *root;
	struct mutex *lock;		/* see above */
	unsigned long pages_shared;
	unsigned long pages_sharing;
	unsigned long pages_unshared;
	unsigned long rmap_items;
	unsigned long stable_node_chains;
	unsigned long stable_node_dups;
	int max_page_sharing;
	bool zero_pages;
};

/**
 * struct ksm_stable_node - node of the stable rbtree
 * @node: rb node of this ksm page in the stable tree
 * @head: (overlaying parent) &migrate_nodes indicates temporarily on that list
 * @hlist_dup: linked into the stable_node->hlist with a stable_node chain
 * @list: linked into migrate_nodes, pending placement in the proper node tree
 * @hlist: hlist head of rmap_items using this ksm page
 * @kpfn: page frame number of this ksm page (perhaps temporarily on wrong nid)
 * @chain_prune_time: time of the last full garbage collection
 * @rmap_hlist_len: number of rmap_item entries in hlist or STABLE_NODE_CHAIN
 * @nid: NUMA node id of stable tree in which linked (may not match kpfn)
 * @tree: the tree the node belongs to (with KSM partitions only)
 * @checksum: checksum of the KSM page's content (in a partition's tree only)
 */
struct ksm_stable_node {
	union {
		struct rb_node node;	/* when node of stable tree */
		struct {		/* when listed for migration */
			struct list_head *head;
			struct {
				struct hlist_node hlist_dup;
				struct list_head list;
			};
		};
	};
	struct hlist_head hlist;
	union {
		unsigned long kpfn;
		unsigned long chain_prune_time;
	};
	/*
	 * STABLE_NODE_CHAIN can be any negative number in
	 * rmap_hlist_len negative range, but better not -1 to be able
	 * to reliably detect underflows.
	 */
#define STABLE_NODE_CHAIN -1024
	int rmap_hlist_len;
#ifdef CONFIG_NUMA
	int nid;
#endif
#ifdef CONFIG_KSM_PARTITION
	struct ksm_tree *tree;
	u32 checksum;
#endif
};

/**
 * struct ksm_rmap_item - reverse mapping item for virtual addresses
 * @rmap_list: next rmap_item in mm_slot's singly-linked rmap_list
 * @anon_vma: pointer to anon_vma for this mm,address, when in stable tree
 * @nid: NUMA node id of unstable tree in which linked (may not match page)
 * @mm: the memory structure this rmap_item is pointing into
 * @address: the virtual address this rmap_item tracks (+ flags in low bits)
 * @oldchecksum: previous checksum of the page at that virtual address
 * @node: rb node of this rmap_item in the unstable tree
 * @head: pointer to stable_node heading this list in the stable tree
 * @hlist: link into hlist of rmap_items hanging off that stable_node
 * @cand_node: link in a KSM partition's table of candidates (when unstable)
 * @age: number of scan iterations since creation
 * @remaining_skips: how many scans to skip
 */
struct ksm_rmap_item {
	struct ksm_rmap_item *rmap_list;
	union {
		struct anon_vma *anon_vma;	/* when stable */
#ifdef CONFIG_NUMA
		int nid;		/* when node of unstable tree */
#endif
	};
	struct mm_struct *mm;
	unsigned long address;		/* + low bits used for flags below */
	unsigned int oldchecksum;	/* when unstable */
	rmap_age_t age;
	rmap_age_t remaining_skips;
	union {
		struct rb_node node;	/* when node of unstable tree */
		struct {		/* when listed from stable tree */
			struct ksm_stable_node *head;
			struct hlist_node hlist;
		};
		struct hlist_node cand_node;	/* partition candidate */
	};
};

#define SEQNR_MASK	0x0ff	/* low bits of unstable tree seqnr */
#define UNSTABLE_FLAG	0x100	/* is a node of the unstable tree */
#define STABLE_FLAG	0x200	/* is listed from the stable tree */

/*
 * What cmp_and_merge_page() did with a page.
 */
enum ksm_merge_outcome {
	KSM_MERGE_MERGED,	/* maps a KSM page now, did not before */
	KSM_MERGE_ZERO,		/* maps the zero page now */
	KSM_MERGE_SHARED,	/* mapped a KSM page of the tree already */
	KSM_MERGE_UNSHARED,	/* no twin yet: waits for one in the tree */
	KSM_MERGE_VOLATILE,	/* changed since it was last looked at */
	KSM_MERGE_FAILED,	/* could not be merged now */
	KSM_MERGE_NOMEM,	/* the stable tree could not grow */
};

/*
 * There is one KSM and two kinds of tree. Global KSM is one struct ksm_tree,
 * fed by ksmd; each KSM partition is another, fed by ksm_merge(). Both are
 * made of the same stable nodes, stable node chains and rmap items, merged
 * by the same functions of mm/ksm.c, and found by the same rmap walk. Every
 * function that changes a tree's nodes, their rmap item lists or its
 * counters holds that tree's lock; a node never leaves its tree, and a page
 * already merged in one tree is never merged into another.
 */
struct folio;
struct mm_struct;
struct page;
struct vm_area_struct;

/*
 * mm/ksm.c: the machinery, for any tree. Declared with or without
 * CONFIG_KSM_PARTITION: mm/ksm.c defines most of them either way.
 */
struct ksm_rmap_item *alloc_rmap_item(struct ksm_tree *tree);
void free_rmap_item(struct ksm_tree *tree, struct ksm_rmap_item *rmap_item);
void remove_rmap_item_from_tree(struct ksm_tree *tree,
				struct ksm_rmap_item *rmap_item);
void stable_tree_append(struct ksm_rmap_item *rmap_item,
			struct ksm_stable_node *stable_node,
			bool max_page_sharing_bypass);
struct page *get_mergeable_page(struct ksm_tree *tree,
				struct ksm_rmap_item *rmap_item);
bool vma_ksm_compatible(struct vm_area_struct *vma);
u32 ksm_page_checksum(struct page *page);
enum ksm_merge_outcome cmp_and_merge_page(struct ksm_tree *tree,
					  struct page *page,
					  struct ksm_rmap_item *rmap_item);
int remove_all_stable_nodes(struct ksm_tree *tree);
void ksm_check_stable_tree(struct ksm_tree *tree, unsigned long start_pfn,
			   unsigned long end_pfn);
int ksm_unmerge_range(struct mm_struct *mm, unsigned long start,
		      unsigned long end, unsigned long *done);
int ksm_global_lock_killable(void);
void ksm_global_unlock(void);
bool ksm_unmerging(void);
int ksm_default_max_page_sharing(void);
void ksm_forget_mm(struct mm_struct *mm);

#ifdef CONFIG_KSM_PARTITION
static inline struct ksm_tree *stable_node_tree(struct ksm_stable_node *node)
{
	return node->tree;
}

/* mm/ksm_partition.c */
struct kobject;
int ksm_partition_init(void);
int ksm_partition_sysfs_init(struct kobject *ksm_kobj);

/* mm/ksm_partition_merge.c: what is particular to a partition's tree */
struct ksm_tree *ksm_member_tree(struct mm_struct *mm);
bool ksm_partitions_in_use(void);
bool ksm_partition_tracks(struct mm_struct *mm, unsigned long addr);
struct ksm_rmap_item *
ksm_partition_cand_search_insert(struct ksm_tree *tree,
				 struct ksm_rmap_item *rmap_item,
				 struct page *page, struct page **tree_pagep);
void ksm_partition_cand_del(struct ksm_tree *tree,
			    struct ksm_rmap_item *rmap_item);
bool ksm_partition_stable_may_hold(struct ksm_tree *tree, u32 checksum);
void ksm_partition_stable_added(struct ksm_tree *tree,
				struct ksm_stable_node *stable_node,
				u32 checksum);
void ksm_partition_handover(struct ksm_tree *tree,
			    struct ksm_rmap_item *rmap_item,
			    struct folio *folio);
int ksm_partitions_unmerge_all(void);
unsigned long ksm_partitions_zero_pages(void);
#else
static inline int ksm_partition_init(void)
{
	return 0;
}

static inline int ksm_partition_sysfs_init(struct kobject *ksm_kobj)
{
	return 0;
}

static inline struct ksm_tree *ksm_member_tree(struct mm_struct *mm)
{
	return NULL;
}

static inline bool ksm_partitions_in_use(void)
{
	return false;
}

static inline bool ksm_partition_tracks(struct mm_struct *mm,
					unsigned long addr)
{
	return false;
}

static inline struct ksm_rmap_item *
ksm_partition_cand_search_insert(struct ksm_tree *tree,
				 struct ksm_rmap_item *rmap_item,
				 struct page *page, struct page **tree_pagep)
{
	return NULL;
}

static inline void ksm_partition_cand_del(struct ksm_tree *tree,
					  struct ksm_rmap_item *rmap_item)
{
}

static inline bool ksm_partition_stable_may_hold(struct ksm_tree *tree,
						 u32 checksum)
{
	return true;
}

static inline void ksm_partition_stable_added(struct ksm_tree *tree,
					      struct ksm_stable_node *stable_node,
					      u32 checksum)
{
}

static inline void ksm_partition_handover(struct ksm_tree *tree,
					  struct ksm_rmap_item *rmap_item,
					  struct folio *folio)
{
}

static inline int ksm_partitions_unmerge_all(void)
{
	return 0;
}

static inline unsigned long ksm_partitions_zero_pages(void)
{
	return 0;
}

#endif /* CONFIG_KSM_PARTITION */

#if defined(CONFIG_KSM_PARTITION) && defined(CONFIG_MEMORY_HOTREMOVE)
void ksm_partitions_check_stable_tree(unsigned long start_pfn,
				      unsigned long end_pfn);
#else
static inline void ksm_partitions_check_stable_tree(unsigned long start_pfn,
						    unsigned long end_pfn)
{
}
#endif

#endif /* _MM_KSM_INTERNAL_H */
