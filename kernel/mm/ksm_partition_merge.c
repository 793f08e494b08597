// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM partitions: the engine.
 *
 * A partition is one more tree for KSM's machinery (mm/ksm_internal.h): its
 * stable nodes, stable node chains and rmap items are global KSM's, merged by
 * mm/ksm.c's cmp_and_merge_page() and found by its rmap walk, so migration,
 * swap, compaction and memory failure treat its pages as any KSM page's.
 * What this file adds is what a tree without ksmd needs:
 *
 * - members: the mms of the partition, each with its rmap items in an xarray
 *   by address, joined by ksm_merge(), inherited by fork, taken out by
 *   ksm_leave(), exit and exec;
 * - candidates: pages without a twin yet wait in a table hashed by checksum
 *   rather than ordered by content like ksmd's unstable tree, because they
 *   are not write-protected and may change; a stale one costs a miss and is
 *   dropped when met. ksmd rebuilds its unstable tree every scan; there is no
 *   scan here, the table persists across calls;
 * - handover: ksmd repairs, scan after scan, the rmap items that forked
 *   children lack. Without ksmd, an rmap item leaving a stable node hands the
 *   mappings only it found (through its anon_vma) to a new item.
 *
 * Locking: part->lock is the tree's lock (struct ksm_tree); it also
 * serialises the candidates and the members' items. It nests outside
 * mmap_lock, as ksm_thread_mutex does for ksmd, and inside ksm_thread_mutex
 * (run=2). A join holds ksm_thread_mutex, as the mm moves from global KSM's
 * tree into the partition's. part->members_lock protects the member list
 * alone, so that fork, which holds mmap_lock, can add a child.
 * mm->ksm_member changes under the mm's mmap_lock held for writing, or once
 * the mm is gone; it is freed after an RCU grace period.
 */

#include <linux/ksm.h>
#include <linux/mm.h>
#include <linux/pagewalk.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/seq_file.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/xarray.h>

#include "internal.h"
#include "ksm_partition.h"

#define KSM_CAND_MIN_BITS	6
/* Twins of a checksum compared per lookup: crafted collisions stay linear */
#define KSM_CAND_MAX_TWINS	8

/* Every partition, for run=2 and memory hot-remove */
static LIST_HEAD(ksm_partitions);
static DEFINE_MUTEX(ksm_partitions_lock);

/* Members in all partitions: global KSM checks pages it converts only then */
static atomic_long_t ksm_nr_members = ATOMIC_LONG_INIT(0);

static struct ksm_partition *tree_partition(struct ksm_tree *tree)
{
	return container_of(tree, struct ksm_partition, tree);
}

/**
 * ksm_partitions_in_use - whether any mm is a member of a partition
 *
 * Return: false if no process can map a partition's KSM page.
 */
bool ksm_partitions_in_use(void)
{
	return atomic_long_read(&ksm_nr_members) > 0;
}

/*
 * Candidates. The checksum is an unkeyed hash of the content, so a member
 * can craft pages that share one: the bucket index is a keyed hash of it
 * (nobody can aim different checksums at one bucket), and a lookup compares
 * at most KSM_CAND_MAX_TWINS pages of equal checksum.
 */
static struct hlist_head *cand_bucket(struct ksm_partition *part,
				      struct hlist_head *table,
				      unsigned int bits, u32 checksum)
{
	u32 hash = (u32)siphash_1u32(checksum, &part->cand_key);

	return &table[hash >> (32 - bits)];
}

/* Move every candidate into a table of 2^@bits buckets */
static void cand_rehash(struct ksm_partition *part, unsigned int bits)
{
	struct ksm_rmap_item *rmap_item;
	struct hlist_head *table;
	struct hlist_node *tmp;
	unsigned long i;

	table = kvcalloc(1UL << bits, sizeof(*table),
			 GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!table)
		return;		/* longer or emptier chains are still correct */

	for (i = 0; i < (1UL << part->candidate_bits); i++) {
		hlist_for_each_entry_safe(rmap_item, tmp, &part->candidates[i],
					  cand_node) {
			hlist_del(&rmap_item->cand_node);
			hlist_add_head(&rmap_item->cand_node,
				       cand_bucket(part, table, bits,
						   rmap_item->oldchecksum));
		}
		cond_resched();
	}
	kvfree(part->candidates);
	part->candidates = table;
	part->candidate_bits = bits;
}

static void cand_add(struct ksm_partition *part,
		     struct ksm_rmap_item *rmap_item)
{
	hlist_add_head(&rmap_item->cand_node,
		       cand_bucket(part, part->candidates, part->candidate_bits,
				   rmap_item->oldchecksum));
	rmap_item->address |= UNSTABLE_FLAG;
	/* Keep chains short: double the table at two candidates a bucket */
	if (++part->tree.pages_unshared > (2UL << part->candidate_bits))
		cand_rehash(part, part->candidate_bits + 1);
}

/**
 * ksm_partition_cand_del - a candidate leaves the table
 * @tree: the partition's tree, locked
 * @rmap_item: the candidate
 */
void ksm_partition_cand_del(struct ksm_tree *tree,
			    struct ksm_rmap_item *rmap_item)
{
	lockdep_assert_held(tree->lock);
	hlist_del(&rmap_item->cand_node);
	tree->pages_unshared--;
	/* The table shrinks at the next search, not under a walk of it */
}

/**
 * ksm_partition_cand_search_insert - find a twin among the candidates
 * @tree: the partition's tree, locked
 * @rmap_item: the item of @page, with its checksum in ->oldchecksum
 * @page: the page, referenced
 * @tree_pagep: set to the twin's page, referenced, if one is found
 *
 * The partition's counterpart of unstable_tree_search_insert(): candidates
 * met whose page is gone or was written since are dropped.
 *
 * Return: the twin's rmap item; NULL if there is none and @rmap_item is a
 * candidate now; ERR_PTR(-EBUSY) if there is none but too many pages share
 * the checksum to keep one more.
 */
struct ksm_rmap_item *
ksm_partition_cand_search_insert(struct ksm_tree *tree,
				 struct ksm_rmap_item *rmap_item,
				 struct page *page, struct page **tree_pagep)
{
	struct ksm_partition *part = tree_partition(tree);
	u32 checksum = rmap_item->oldchecksum;
	struct ksm_rmap_item *cand;
	struct hlist_head *bucket;
	struct hlist_node *tmp;
	unsigned int twins = 0;

	lockdep_assert_held(tree->lock);
	/* Halve the table when it is an eighth full */
	if (tree->pages_unshared < (1UL << part->candidate_bits) / 8 &&
	    part->candidate_bits > KSM_CAND_MIN_BITS)
		cand_rehash(part, part->candidate_bits - 1);
	bucket = cand_bucket(part, part->candidates, part->candidate_bits,
			     checksum);
	hlist_for_each_entry_safe(cand, tmp, bucket, cand_node) {
		struct page *tree_page;

		if (cand->oldchecksum != checksum)
			continue;
		if (++twins > KSM_CAND_MAX_TWINS)
			return ERR_PTR(-EBUSY);
		tree_page = get_mergeable_page(tree, cand);
		if (!tree_page) {
			remove_rmap_item_from_tree(tree, cand);
			continue;
		}
		/* Don't substitute a ksm page for a forked page */
		if (tree_page == page) {
			put_page(tree_page);
			continue;
		}
		if (!memcmp_pages(page, tree_page)) {
			*tree_pagep = tree_page;
			return cand;
		}
		if (ksm_page_checksum(tree_page) != checksum)
			remove_rmap_item_from_tree(tree, cand);
		put_page(tree_page);
	}
	cand_add(part, rmap_item);
	return NULL;
}

/*
 * The stable filter. A page without a stable node would walk the
 * content-ordered stable tree, a page compare per level, to learn what is
 * usually so: no KSM page has its content (on Arcangeli's worst case each
 * compare reads almost two pages). A Bloom filter of the KSM pages'
 * checksums says so without reading any page: a page whose checksum is not
 * in it skips the walk. Bits are not cleared as KSM pages go, a stale one
 * only costs a walk; the filter is rebuilt from the tree at twice
 * KSM_STABLE_FILTER_BITS bits per KSM page when that many were added since.
 */
#define KSM_STABLE_FILTER_MIN_BITS	12
#define KSM_STABLE_FILTER_MAX_BITS	32
#define KSM_STABLE_FILTER_SHIFT		4	/* 16 bits a KSM page */

/* Two bits of 2^@bits: false positives ~5% at 16 bits a page */
static void stable_filter_index(struct ksm_partition *part, unsigned int bits,
				u32 checksum, unsigned long index[2])
{
	u64 hash = siphash_1u32(checksum, &part->cand_key);
	unsigned long mask = (1UL << bits) - 1;

	index[0] = (unsigned long)hash & mask;
	index[1] = (unsigned long)(hash >> 32) & mask;
}

static void stable_filter_set(struct ksm_partition *part,
			      unsigned long *filter, unsigned int bits,
			      u32 checksum)
{
	unsigned long index[2];

	stable_filter_index(part, bits, checksum, index);
	__set_bit(index[0], filter);
	__set_bit(index[1], filter);
}

/* A new filter from the checksums of the KSM pages in the tree */
static void stable_filter_build(struct ksm_partition *part)
{
	unsigned long pages = part->tree.pages_shared + 1;
	struct ksm_stable_node *stable_node, *dup;
	unsigned long *filter;
	struct rb_node *rb;
	unsigned int bits;

	bits = clamp_t(unsigned int,
		       order_base_2(pages << (KSM_STABLE_FILTER_SHIFT + 1)),
		       KSM_STABLE_FILTER_MIN_BITS, KSM_STABLE_FILTER_MAX_BITS);
	kvfree(part->stable_filter);
	part->stable_filter_bits = bits;
	part->stable_filter_fill = pages;
	filter = kvcalloc(BITS_TO_LONGS(1UL << bits), sizeof(*filter),
			  GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	/* Without a filter every page walks the tree: slower, still right */
	part->stable_filter = filter;
	if (!filter)
		return;

	for (rb = rb_first(&part->stable_root); rb; rb = rb_next(rb)) {
		stable_node = rb_entry(rb, struct ksm_stable_node, node);
		if (stable_node->rmap_hlist_len != STABLE_NODE_CHAIN) {
			stable_filter_set(part, filter, bits,
					  stable_node->checksum);
			continue;
		}
		/* The dups of a chain have the same content */
		hlist_for_each_entry(dup, &stable_node->hlist, hlist_dup)
			stable_filter_set(part, filter, bits, dup->checksum);
	}
}

/**
 * ksm_partition_stable_may_hold - may a KSM page of the tree have this content
 * @tree: a partition's tree, locked
 * @checksum: checksum of the content
 *
 * Return: false if no KSM page of @tree has content of @checksum, so a
 * stable tree search would find nothing; true if one may.
 */
bool ksm_partition_stable_may_hold(struct ksm_tree *tree, u32 checksum)
{
	struct ksm_partition *part = tree_partition(tree);
	unsigned long index[2];

	lockdep_assert_held(tree->lock);
	if (!part->stable_filter)
		return true;
	stable_filter_index(part, part->stable_filter_bits, checksum, index);
	return test_bit(index[0], part->stable_filter) &&
	       test_bit(index[1], part->stable_filter);
}

/**
 * ksm_partition_stable_added - a KSM page was inserted in a partition's tree
 * @tree: the partition's tree, locked
 * @stable_node: the KSM page's stable node (a dup if in a chain)
 * @checksum: checksum of its content
 */
void ksm_partition_stable_added(struct ksm_tree *tree,
				struct ksm_stable_node *stable_node,
				u32 checksum)
{
	struct ksm_partition *part = tree_partition(tree);

	lockdep_assert_held(tree->lock);
	stable_node->checksum = checksum;
	if (++part->stable_filter_fill >
	    (1UL << part->stable_filter_bits) >> KSM_STABLE_FILTER_SHIFT)
		stable_filter_build(part);
	else if (part->stable_filter)
		stable_filter_set(part, part->stable_filter,
				  part->stable_filter_bits, checksum);
}

/*
 * @mm's membership in @part, or NULL if it is not a member (or is leaving).
 * Under part->lock the answer holds: members of @part go away or start
 * leaving only under it, and others' structs are freed after a grace period.
 */
static struct ksm_member *part_member(struct ksm_partition *part,
				      struct mm_struct *mm)
{
	struct ksm_member *member;

	lockdep_assert_held(&part->lock);
	rcu_read_lock();
	member = READ_ONCE(mm->ksm_member);
	if (member && (READ_ONCE(member->part) != part ||
		       READ_ONCE(member->leaving)))
		member = NULL;
	rcu_read_unlock();
	return member;
}

/**
 * ksm_member_tree - the tree an mm merges into
 * @mm: the mm
 *
 * Return: its partition's tree, NULL if it is a member of none (global KSM),
 * or ERR_PTR(-EBUSY) while it is leaving its partition (of no tree).
 */
struct ksm_tree *ksm_member_tree(struct mm_struct *mm)
{
	struct ksm_member *member;
	struct ksm_tree *tree = NULL;

	rcu_read_lock();
	member = READ_ONCE(mm->ksm_member);
	if (member)
		tree = READ_ONCE(member->leaving) ? ERR_PTR(-EBUSY) :
						    &member->part->tree;
	rcu_read_unlock();
	return tree;
}

/**
 * ksm_partition_tracks - whether a member has an rmap item for an address
 * @mm: a member, whose mmap_lock the caller holds
 * @addr: the address
 *
 * A mapping of a partition's KSM page that no rmap item finds would be
 * invisible to rmap: swap-in maps the KSM page only where an item is.
 *
 * Return: true if @mm has an item for @addr.
 */
bool ksm_partition_tracks(struct mm_struct *mm, unsigned long addr)
{
	struct ksm_member *member;
	bool tracks = false;

	rcu_read_lock();
	member = READ_ONCE(mm->ksm_member);
	if (member)
		tracks = xa_load(&member->items, addr >> PAGE_SHIFT);
	rcu_read_unlock();
	return tracks;
}

/* The member's rmap item for @addr, allocated if it has none yet */
static struct ksm_rmap_item *member_item(struct ksm_member *member,
					 unsigned long addr)
{
	struct ksm_tree *tree = &member->part->tree;
	struct ksm_rmap_item *rmap_item;
	int err;

	rmap_item = xa_load(&member->items, addr >> PAGE_SHIFT);
	if (rmap_item)
		return rmap_item;

	rmap_item = alloc_rmap_item(tree);
	if (!rmap_item)
		return ERR_PTR(-ENOMEM);
	rmap_item->mm = member->mm;
	rmap_item->address = addr;
	member->mm->ksm_rmap_items++;
	err = xa_err(xa_store(&member->items, addr >> PAGE_SHIFT, rmap_item,
			      GFP_KERNEL_ACCOUNT));
	if (err) {
		free_rmap_item(tree, rmap_item);
		return ERR_PTR(err);
	}
	return rmap_item;
}

static void member_drop_item(struct ksm_member *member,
			     struct ksm_rmap_item *rmap_item)
{
	struct ksm_tree *tree = &member->part->tree;

	xa_erase(&member->items, rmap_item->address >> PAGE_SHIFT);
	remove_rmap_item_from_tree(tree, rmap_item);
	free_rmap_item(tree, rmap_item);
}

/*
 * Does @vma still map the KSM page @rmap_item is listed on? Then the item
 * must stay: without it rmap would not find that mapping.
 */
static bool item_still_mapped(struct vm_area_struct *vma,
			      struct ksm_rmap_item *rmap_item)
{
	unsigned long addr = rmap_item->address & PAGE_MASK;
	struct folio_walk fw;
	struct folio *folio;
	bool mapped = false;

	if (!(rmap_item->address & STABLE_FLAG) || !vma ||
	    addr < vma->vm_start)
		return false;
	folio = folio_walk_start(&fw, vma, addr, FW_MIGRATION);
	if (folio) {
		mapped = folio_test_ksm(folio) &&
			 folio_raw_mapping(folio) == (void *)rmap_item->head;
		folio_walk_end(&fw, vma);
	}
	return mapped;
}

/* Which of a member's rmap items member_drop_items() forgets */
enum member_drop {
	DROP_ALL,		/* all: the mm has no mappings (left) there */
	DROP_UNMAPPED,		/* all but those whose KSM page it still maps */
	DROP_CANDIDATES,	/* the candidates only */
};

/* Items found per walk of the xarray, dropped after it */
#define KSM_DROP_BATCH	32

/*
 * Forget the member's rmap items for [@start, @end) chosen by @which; for
 * DROP_UNMAPPED the caller holds the member's mmap_lock. The items are
 * found a batch at a time by one walk of the xarray under RCU (part->lock
 * keeps out other writers and keeps the items), not one lookup per item.
 * Whether the member still maps an item's KSM page and dropping it may
 * sleep (a hugetlb VMA's lock now at that address, the KSM page's lock,
 * handover), so both are done after the walk.
 */
static void member_drop_items(struct ksm_member *member, unsigned long start,
			      unsigned long end, enum member_drop which)
{
	struct ksm_rmap_item *batch[KSM_DROP_BATCH];
	XA_STATE(xas, &member->items, start >> PAGE_SHIFT);
	unsigned long last = (end - 1) >> PAGE_SHIFT;
	struct vm_area_struct *vma = NULL;
	struct ksm_rmap_item *rmap_item;
	unsigned int n, i;

	lockdep_assert_held(&member->part->lock);
	do {
		n = 0;
		rcu_read_lock();
		xas_for_each(&xas, rmap_item, last) {
			if (which == DROP_CANDIDATES &&
			    !(rmap_item->address & UNSTABLE_FLAG))
				continue;
			batch[n] = rmap_item;
			if (++n == KSM_DROP_BATCH)
				break;
		}
		xas_pause(&xas);
		rcu_read_unlock();
		for (i = 0; i < n; i++) {
			unsigned long addr = batch[i]->address & PAGE_MASK;

			if (which == DROP_UNMAPPED) {
				if (!vma || addr >= vma->vm_end)
					vma = find_vma(member->mm, addr);
				if (item_still_mapped(vma, batch[i]))
					continue;
			}
			member_drop_item(member, batch[i]);
		}
		cond_resched();
	} while (n == KSM_DROP_BATCH);
}

/* Forget all of the member's rmap items: it has no mappings any more */
static void member_drop_all(struct ksm_member *member)
{
	/* Not bounded by TASK_SIZE: that is the caller's, maybe a compat one */
	member_drop_items(member, 0, ULONG_MAX, DROP_ALL);
	xa_destroy(&member->items);
}

struct handover {
	struct ksm_partition *part;
	struct folio *folio;
	struct mm_struct *mm;
	unsigned long addr;
	struct ksm_member *heir;
};

/*
 * A member, other than the one giving up the item, that maps the folio
 * at the address and has no item of its own there: without a new item, rmap
 * would not find that mapping.
 */
static bool find_heir(struct handover *ho, struct vm_area_struct *vma)
{
	DEFINE_FOLIO_VMA_WALK(pvmw, ho->folio, vma, ho->addr, 0);
	struct ksm_member *member;

	if (ho->addr < vma->vm_start || ho->addr >= vma->vm_end ||
	    vma->vm_mm == ho->mm)
		return false;
	member = part_member(ho->part, vma->vm_mm);
	if (!member || xa_load(&member->items, ho->addr >> PAGE_SHIFT))
		return false;
	if (!page_vma_mapped_walk(&pvmw))
		return false;
	page_vma_mapped_walk_done(&pvmw);
	ho->heir = member;
	return true;
}

/**
 * ksm_partition_handover - keep the mappings an rmap item found findable
 * @tree: the partition's tree, locked
 * @rmap_item: a stable item about to leave its node
 * @folio: the node's KSM folio, locked
 *
 * rmap finds a mapping of a KSM page through an item with its address whose
 * anon_vma covers the mapping's VMA. A forked child of the item's mm maps
 * the page through the parent's anon_vma without an item of its own (ksmd
 * would give it one on its next scan; partitions have no scan): once the
 * parent's item goes, the child's mapping would be invisible to migration,
 * reclaim, memory offline and memory failure. So if a member maps @folio at
 * the item's address through the item's anon_vma and has no item there, it
 * gets a new item with that anon_vma, which finds all such mappings.
 */
void ksm_partition_handover(struct ksm_tree *tree,
			    struct ksm_rmap_item *rmap_item,
			    struct folio *folio)
{
	struct handover ho = {
		.part = tree_partition(tree),
		.folio = folio,
		.mm = rmap_item->mm,
		.addr = rmap_item->address & PAGE_MASK,
	};
	struct anon_vma *anon_vma = rmap_item->anon_vma;
	struct ksm_rmap_item *heir_item;
	struct anon_vma_chain *vmac;

	lockdep_assert_held(tree->lock);
	anon_vma_lock_read(anon_vma);
	anon_vma_interval_tree_foreach(vmac, &anon_vma->rb_root, 0, ULONG_MAX)
		if (find_heir(&ho, vmac->vma))
			break;
	anon_vma_unlock_read(anon_vma);
	if (!ho.heir)
		return;

	/* The heir cannot leave or exit: that takes part->lock */
	heir_item = member_item(ho.heir, ho.addr);
	if (IS_ERR(heir_item))
		return;		/* out of memory: invisible until merged again */
	heir_item->anon_vma = anon_vma;
	get_anon_vma(anon_vma);
	/* Not a new mapping: the sharing limit does not apply */
	stable_tree_append(heir_item, rmap_item->head, true);
}

static struct ksm_member *member_alloc(struct ksm_partition *part,
				       struct mm_struct *mm)
{
	struct ksm_member *member;

	member = kzalloc(sizeof(*member), GFP_KERNEL_ACCOUNT);
	if (!member)
		return NULL;
	xa_init_flags(&member->items, XA_FLAGS_ACCOUNT);
	member->mm = mm;
	member->part = part;
	return member;
}

static void member_link(struct ksm_member *member)
{
	struct ksm_partition *part = member->part;

	ksm_partition_get(part);
	spin_lock(&part->members_lock);
	list_add_tail(&member->node, &part->members);
	part->nr_members++;
	spin_unlock(&part->members_lock);
	atomic_long_inc(&ksm_nr_members);
	WRITE_ONCE(member->mm->ksm_member, member);
}

/* Out of the partition: the caller has dropped the member's items */
static void member_unlink(struct ksm_member *member)
{
	struct ksm_partition *part = member->part;

	lockdep_assert_held(&part->lock);
	VM_WARN_ON_ONCE(!xa_empty(&member->items));
	spin_lock(&part->members_lock);
	list_del(&member->node);
	part->nr_members--;
	spin_unlock(&part->members_lock);
	WRITE_ONCE(member->mm->ksm_member, NULL);
	atomic_long_dec(&ksm_nr_members);
}

/* The member is gone: free it once RCU readers are done, drop its reference */
static void member_free(struct ksm_member *member)
{
	struct ksm_partition *part = member->part;

	kfree_rcu(member, rcu);
	ksm_partition_put(part);
}

/**
 * ksm_partition_join - make @mm a member of @part unless it is one already
 * @part: the partition
 * @mm: the target, referenced
 * @joined: set to true if @mm joined now
 *
 * The mm moves from global KSM's tree into the partition's, holding the
 * lock of the first: it is taken out of global KSM (its rmap items freed,
 * VM_MERGEABLE and MMF_VM_MERGE_ANY cleared), and every KSM page it maps is
 * unmerged, whatever VMA it is in, so that it shares no page with another
 * tree once it is a member. Swapped-out KSM pages are copied at swap-in.
 *
 * Return: 0, -EBUSY if @mm is a member of another partition or leaving this
 * one, -EINTR, -ERESTARTSYS or -ENOMEM.
 */
int ksm_partition_join(struct ksm_partition *part, struct mm_struct *mm,
		       bool *joined)
{
	struct ksm_member *member;
	unsigned long done;
	int err;

	member = member_alloc(part, mm);
	if (!member)
		return -ENOMEM;
	err = ksm_global_lock_killable();
	if (err)
		goto free;
	if (mmap_write_lock_killable(mm)) {
		err = -EINTR;
		goto unlock_global;
	}

	if (mm->ksm_member) {
		if (mm->ksm_member->part != part ||
		    READ_ONCE(mm->ksm_member->leaving))
			err = -EBUSY;
		goto unlock;
	}
	if (test_bit(MMF_VM_MERGEABLE, &mm->flags))
		ksm_forget_mm(mm);
	err = ksm_unmerge_range(mm, 0, mm->task_size, &done);
	if (err)
		goto unlock;
	member_link(member);
	member = NULL;
	*joined = true;
unlock:
	mmap_write_unlock(mm);
unlock_global:
	ksm_global_unlock();
free:
	kfree(member);
	return err;
}

static int swap_pmd_entry(pmd_t *pmd, unsigned long addr, unsigned long end,
			  struct mm_walk *walk)
{
	spinlock_t *ptl;	/* the page table's */
	pte_t *pte;

	pte = pte_offset_map_lock(walk->mm, pmd, addr, &ptl);
	if (pte) {
		*(bool *)walk->private = is_swap_pte(ptep_get(pte));
		pte_unmap_unlock(pte, ptl);
	}
	return 0;
}

static const struct mm_walk_ops swap_walk_ops = {
	.pmd_entry = swap_pmd_entry,
	.walk_lock = PGWALK_RDLOCK,
};

/*
 * The private anonymous page at @addr, referenced, or NULL; then *@ksm_zero
 * tells whether a zero page placed by KSM is mapped there, and *@swapped
 * whether a swap or migration entry is.
 */
static struct page *member_page(struct vm_area_struct *vma,
				unsigned long addr, bool *ksm_zero,
				bool *swapped)
{
	struct page *page = NULL;
	struct folio_walk fw;
	struct folio *folio;

	*ksm_zero = false;
	*swapped = false;
	folio = folio_walk_start(&fw, vma, addr, FW_ZEROPAGE | FW_MIGRATION);
	if (folio) {
		if (fw.level == FW_LEVEL_PTE ? !pte_present(fw.pte) :
					       !pmd_present(fw.pmd)) {
			*swapped = true;	/* under migration */
		} else if (is_zero_folio(folio)) {
			*ksm_zero = fw.level == FW_LEVEL_PTE &&
				    is_ksm_zero_pte(fw.pte);
		} else if (!folio_is_zone_device(folio) &&
			   folio_test_anon(folio)) {
			folio_get(folio);
			page = fw.page;
		}
		folio_walk_end(&fw, vma);
	} else {
		walk_page_range_vma(vma, addr, addr + PAGE_SIZE, &swap_walk_ops,
				    swapped);
	}
	if (page) {
		flush_anon_page(vma, page, addr);
		flush_dcache_page(page);
	}
	return page;
}

static void count_outcome(struct ksm_merge_result *res,
			  enum ksm_merge_outcome outcome)
{
	res->pages_scanned++;
	switch (outcome) {
	case KSM_MERGE_MERGED:
		res->pages_merged++;
		break;
	case KSM_MERGE_ZERO:
		res->zero_pages_merged++;
		break;
	case KSM_MERGE_SHARED:
		res->pages_already_shared++;
		break;
	case KSM_MERGE_UNSHARED:
		res->pages_unshared++;
		break;
	case KSM_MERGE_VOLATILE:
	case KSM_MERGE_FAILED:
	case KSM_MERGE_NOMEM:
		res->pages_failed++;
		break;
	}
}

/*
 * Under part->lock: the member may have left (ksm_leave() by another
 * thread) since the call joined it; join again, or fail if it went elsewhere.
 */
static struct ksm_member *lock_member(struct ksm_partition *part,
				      struct mm_struct *mm,
				      struct ksm_merge_result *res)
{
	struct ksm_member *member;
	bool joined = false;
	int err;

	for (;;) {
		if (mutex_lock_killable(&part->lock))
			return ERR_PTR(-EINTR);
		member = part_member(part, mm);
		if (member)
			return member;
		mutex_unlock(&part->lock);

		err = ksm_partition_join(part, mm, &joined);
		if (err)
			return ERR_PTR(err);
		if (joined)
			res->flags |= KSM_MERGE_RESULT_JOINED;
	}
}

/*
 * Drain all CPUs' LRU batches. Any caller can ask for this, and each drain
 * queues work on every CPU with a batch: at most ten a second system-wide;
 * a caller over that waits its turn rather than fail a merge it could have
 * made.
 *
 * Return: true if drained, false on a fatal signal.
 */
static bool drain_lru_batches(void)
{
	static unsigned long next_drain;
	unsigned long next;

	for (;;) {
		next = READ_ONCE(next_drain);
		if (time_before(jiffies, next)) {
			schedule_timeout_killable(next - jiffies);
			if (fatal_signal_pending(current))
				return false;
			continue;
		}
		if (cmpxchg(&next_drain, next, jiffies + HZ / 10) == next)
			break;
	}
	lru_add_drain_all();
	return true;
}

/*
 * Pages merged under one mmap_lock and one part->lock hold: the lock is taken
 * once per batch, not twice per page, and held for at most a batch's merges.
 */
#define KSM_MERGE_BATCH		32

/* The pages of a range looked up under one mmap_lock */
struct merge_batch {
	unsigned long addr;		/* of the first page */
	unsigned long next;		/* the address after the batch */
	unsigned long skipped;		/* pages of an incompatible VMA or hole */
	bool hole;			/* no VMA from addr to next */
	unsigned int nr;		/* entries in pages[] */
	u32 ksm_zero;			/* bit i: a KSM zero page at page i */
	u32 swapped;			/* bit i: a swap or migration entry */
	struct page *pages[KSM_MERGE_BATCH];	/* referenced, or NULL */
};

/*
 * Look up to @max pages from @batch->addr up, up to @end, within one VMA and
 * one page table. A page of a large folio is a batch of its own: the
 * batch's other references to the folio would make its split fail.
 */
static void collect_batch(struct mm_struct *mm, unsigned long end,
			  unsigned int max, struct merge_batch *batch)
{
	unsigned long addr = batch->addr, limit;
	struct vm_area_struct *vma;
	struct page *page;
	bool ksm_zero, swapped;

	batch->nr = 0;
	batch->skipped = 0;
	batch->hole = false;
	batch->ksm_zero = 0;
	batch->swapped = 0;

	vma = find_vma(mm, addr);
	if (!vma || vma->vm_start > addr) {
		batch->next = vma ? min(vma->vm_start, end) : end;
		batch->skipped = (batch->next - addr) >> PAGE_SHIFT;
		batch->hole = true;
		return;
	}
	if (!vma_ksm_compatible(vma) || !vma_is_accessible(vma)) {
		/* PROT_NONE may hide KSM pages: keep their items */
		batch->next = min(vma->vm_end, end);
		batch->skipped = (batch->next - addr) >> PAGE_SHIFT;
		return;
	}

	limit = pmd_addr_end(addr, min(vma->vm_end, end));
	for (; addr < limit && batch->nr < max; addr += PAGE_SIZE) {
		page = member_page(vma, addr, &ksm_zero, &swapped);
		if (page && folio_test_large(page_folio(page))) {
			if (batch->nr) {
				put_page(page);
				break;
			}
			max = 1;
		}
		if (ksm_zero)
			batch->ksm_zero |= BIT(batch->nr);
		if (swapped)
			batch->swapped |= BIT(batch->nr);
		batch->pages[batch->nr++] = page;
	}
	batch->next = addr;
}

/* Drop the references to the pages not merged (merged ones are NULL) */
static void release_batch(struct merge_batch *batch)
{
	unsigned int i;

	for (i = 0; i < batch->nr; i++)
		if (batch->pages[i])
			put_page(batch->pages[i]);
}

/*
 * Merge the pages of @batch under part->lock. A page that fails while the
 * batch holds references to others is left to @retry (bit i for page i):
 * our reference to a later page of the batch fails a merge with it as the
 * twin. Pages from *@stop up are not processed: an error, or another task
 * needs this CPU.
 */
static int merge_batch(struct ksm_partition *part, struct ksm_member *member,
		       struct merge_batch *batch, struct ksm_merge_result *res,
		       u32 *retry, unsigned int *stop)
{
	enum ksm_merge_outcome outcome;
	struct ksm_rmap_item *rmap_item;
	unsigned long addr;
	struct page *page;
	unsigned int i;
	int err = 0;

	for (i = 0; i < batch->nr; i++) {
		if (i && need_resched())
			break;
		addr = batch->addr + i * PAGE_SIZE;
		page = batch->pages[i];
		if (!page) {
			/*
			 * Nothing to merge there (any more). A swapped-out
			 * or migrating KSM page keeps its item: it comes
			 * back mapped, and rmap must find it then.
			 */
			if (batch->ksm_zero & BIT(i))
				count_outcome(res, KSM_MERGE_SHARED);
			else
				res->pages_absent++;
			if (!(batch->swapped & BIT(i)))
				member_drop_items(member, addr,
						  addr + PAGE_SIZE, DROP_ALL);
			continue;
		}
		rmap_item = member_item(member, addr);
		if (IS_ERR(rmap_item)) {
			err = PTR_ERR(rmap_item);
			break;
		}
		outcome = cmp_and_merge_page(&part->tree, page, rmap_item);
		/* A zero page is not a KSM page: no rmap item needed */
		if (outcome == KSM_MERGE_ZERO)
			member_drop_item(member, rmap_item);
		put_page(page);
		batch->pages[i] = NULL;
		if (outcome == KSM_MERGE_NOMEM) {
			err = -ENOMEM;
			break;
		}
		if (outcome == KSM_MERGE_FAILED && retry && batch->nr > 1)
			*retry |= BIT(i);
		else
			count_outcome(res, outcome);
	}
	*stop = i;
	return err;
}

/*
 * Merge a batch of up to @max pages from @addr up: look them up under
 * mmap_lock, drop it (part->lock nests outside it), and merge them under
 * part->lock. *@next is set to the first page not processed.
 */
static int merge_span(struct ksm_partition *part, struct mm_struct *mm,
		      unsigned long addr, unsigned long end, unsigned int max,
		      struct ksm_merge_result *res, bool *drained, u32 *retry,
		      unsigned long *next)
{
	struct ksm_member *member;
	struct merge_batch batch;
	unsigned int i, stop;
	int err = 0;

	*next = addr;
	if (mmap_read_lock_killable(mm))
		return -EINTR;
	batch.addr = addr;
	collect_batch(mm, end, max, &batch);
	mmap_read_unlock(mm);

	/*
	 * A page not on the LRU yet may sit in another CPU's LRU batch, whose
	 * reference would make it fail to merge (or to merge with the zero
	 * page): drain, once per call.
	 */
	for (i = 0; i < batch.nr && !*drained; i++) {
		if (!batch.pages[i] ||
		    folio_test_lru(page_folio(batch.pages[i])))
			continue;
		*drained = true;
		if (!drain_lru_batches())
			err = -EINTR;
	}
	if (err)
		goto release;

	member = lock_member(part, mm, res);
	if (IS_ERR(member)) {
		err = PTR_ERR(member);
		goto release;
	}
	if (!ksm_partitions_may_merge()) {
		mutex_unlock(&part->lock);
		err = -EPERM;
		goto release;
	}
	/* Counted only now: a failed lock_member() does not advance */
	res->pages_skipped += batch.skipped;
	if (batch.hole)
		member_drop_items(member, addr, batch.next, DROP_ALL);
	err = merge_batch(part, member, &batch, res, retry, &stop);
	mutex_unlock(&part->lock);
	release_batch(&batch);
	*next = stop < batch.nr ? addr + stop * PAGE_SIZE : batch.next;
	return err;

release:
	release_batch(&batch);
	return err;
}

/**
 * ksm_partition_merge_range - merge the pages touched by a range
 * @part: the partition
 * @mm: the target, a member of @part, referenced
 * @start: start of the range, any alignment
 * @len: length of the range
 * @res: counters to add to
 * @done: set to the bytes of the range processed, also on error
 *
 * The range is merged in batches of up to %KSM_MERGE_BATCH pages of one page
 * table, taking mmap_lock and part->lock once per batch.
 *
 * Return: 0 when the whole range is processed, else why it stopped early:
 * -ERESTARTSYS or -EINTR on a signal, -ENOMEM, -EBUSY if the target joined
 * another partition meanwhile, -EPERM if merging was disabled or run set
 * to 2 meanwhile.
 */
int ksm_partition_merge_range(struct ksm_partition *part,
			      struct mm_struct *mm, unsigned long start,
			      size_t len, struct ksm_merge_result *res,
			      size_t *done)
{
	unsigned long addr = start & PAGE_MASK;
	unsigned long end = PAGE_ALIGN(start + len);
	unsigned long next, page_addr, page_next;
	bool drained = false, drained_for_retry = false;
	u32 retry;
	int err = 0;

	*done = 0;
	if (!len)
		return 0;

	while (addr < end) {
		if (signal_pending(current)) {
			err = -ERESTARTSYS;
			break;
		}
		retry = 0;
		err = merge_span(part, mm, addr, end, KSM_MERGE_BATCH, res,
				 &drained, &retry, &next);
		/*
		 * Failed while the batch held references: try once more
		 * alone. The failed merge may have left a new page behind
		 * (break_cow()), in this CPU's LRU batch.
		 */
		if (retry && !err)
			lru_add_drain();
		for (; retry; retry &= retry - 1) {
			page_addr = addr + __ffs(retry) * PAGE_SIZE;
			page_next = page_addr;
			if (!err)
				err = merge_span(part, mm, page_addr,
						 page_addr + PAGE_SIZE, 1, res,
						 &drained_for_retry, NULL,
						 &page_next);
			/* Not tried again: an error stopped the call */
			if (page_next == page_addr)
				count_outcome(res, KSM_MERGE_FAILED);
		}
		addr = next;
		*done = addr > start ? min_t(size_t, len, addr - start) : 0;
		if (err)
			break;
		cond_resched();
	}
	return err;
}

/**
 * ksm_partition_unmerge_range - break sharing of a member's pages in a range
 * @part: the partition
 * @mm: the target, referenced
 * @start: start of the range, any alignment
 * @len: length of the range
 * @done: set to the bytes of the range processed, also on error
 *
 * The pages are unmerged without part->lock, which other members' merges
 * and exits need; only forgetting the rmap items takes it.
 *
 * Return: 0 when the whole range is processed, -ENOENT if @mm is not a member
 * of @part, else why it stopped early: -ERESTARTSYS, -EINTR or -ENOMEM.
 */
int ksm_partition_unmerge_range(struct ksm_partition *part,
				struct mm_struct *mm, unsigned long start,
				size_t len, size_t *done)
{
	unsigned long addr = start & PAGE_MASK;
	unsigned long end = PAGE_ALIGN(start + len);
	struct ksm_member *member;
	unsigned long stop = addr;
	int err;

	*done = 0;
	if (mutex_lock_killable(&part->lock))
		return -EINTR;
	member = part_member(part, mm);
	mutex_unlock(&part->lock);
	if (!member)
		return -ENOENT;
	if (!len)
		return 0;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	err = ksm_unmerge_range(mm, addr, end, &stop);
	mmap_read_unlock(mm);

	if (stop > addr) {
		mutex_lock(&part->lock);
		mmap_read_lock(mm);
		/* It may have left meanwhile: then its items are gone */
		member = part_member(part, mm);
		if (member)
			member_drop_items(member, addr, stop, DROP_UNMAPPED);
		mmap_read_unlock(mm);
		mutex_unlock(&part->lock);
	}
	/* Stopped in the page of an unaligned start: nothing of it was done */
	*done = stop > start ? min_t(size_t, len, stop - start) : 0;
	return err;
}

/**
 * ksm_partition_leave - unmerge all of a member's pages and take it out
 * @part: the partition
 * @mm: the target, referenced
 *
 * Three steps, so that part->lock is held only to change the partition: the
 * member is marked leaving (nothing merges into it from then on) and its
 * candidates dropped; its pages are unmerged, walking only what is mapped;
 * its rmap items are dropped and it is out.
 *
 * Return: 0, -ENOENT if @mm is not a member of @part, or -ERESTARTSYS,
 * -EINTR or -ENOMEM, after which @mm is still a member.
 */
int ksm_partition_leave(struct ksm_partition *part, struct mm_struct *mm)
{
	struct ksm_member *member;
	unsigned long done;
	int err;

	if (mutex_lock_killable(&part->lock))
		return -EINTR;
	member = part_member(part, mm);
	if (!member) {
		mutex_unlock(&part->lock);
		return -ENOENT;
	}
	WRITE_ONCE(member->leaving, true);
	member_drop_items(member, 0, ULONG_MAX, DROP_CANDIDATES);
	mutex_unlock(&part->lock);

	/* The mm reference keeps the member: it cannot exit meanwhile */
	err = -EINTR;
	done = 0;
	if (!mmap_read_lock_killable(mm)) {
		err = ksm_unmerge_range(mm, 0, mm->task_size, &done);
		mmap_read_unlock(mm);
	}

	mutex_lock(&part->lock);
	if (err) {
		/* Still a member; the pages unmerged so far keep no item */
		if (done) {
			mmap_read_lock(mm);
			member_drop_items(member, 0, done, DROP_UNMAPPED);
			mmap_read_unlock(mm);
		}
		WRITE_ONCE(member->leaving, false);
		mutex_unlock(&part->lock);
		return err;
	}
	member_drop_all(member);
	/* mm->ksm_member changes under the mmap_lock held for writing */
	mmap_write_lock(mm);
	member_unlink(member);
	mmap_write_unlock(mm);
	mutex_unlock(&part->lock);
	member_free(member);
	return 0;
}

/**
 * ksm_partition_fork - make the child of a member a member
 * @mm: the child, not running yet
 * @oldmm: the parent, a member, write-locked
 *
 * The child maps the partition's KSM pages through the copied page tables,
 * and rmap finds them through the parent's rmap items: it must be a member,
 * or fork must fail.
 *
 * Return: 0 or -ENOMEM.
 */
int ksm_partition_fork(struct mm_struct *mm, struct mm_struct *oldmm)
{
	struct ksm_member *member;

	mm->ksm_member = NULL;
	member = member_alloc(oldmm->ksm_member->part, mm);
	if (!member)
		return -ENOMEM;
	member_link(member);
	return 0;
}

/**
 * __ksm_partition_exit - a member's mm is gone: leave its partition
 * @mm: the mm, after exit_mmap(): it maps nothing any more
 *
 * Its rmap items go; the mappings of its forked children that only they
 * found are handed over (ksm_partition_handover()).
 */
void __ksm_partition_exit(struct mm_struct *mm)
{
	struct ksm_member *member = mm->ksm_member;
	struct ksm_partition *part = member->part;

	mutex_lock(&part->lock);
	member_drop_all(member);
	member_unlink(member);
	mutex_unlock(&part->lock);
	member_free(member);
}

/**
 * ksm_partition_release_tree - the partition has no users left: free it
 * @part: the partition
 *
 * With no member, no process maps its KSM pages any more (exit leaves after
 * exit_mmap(), leave unmerges first, nobody else ever maps them), so every
 * stable node goes now. Should one still be mapped, the partition is leaked
 * rather than freed under it.
 */
void ksm_partition_release_tree(struct ksm_partition *part)
{
	struct ksm_tree *tree = &part->tree;
	int busy;

	mutex_lock(&part->lock);
	busy = remove_all_stable_nodes(tree);
	mutex_unlock(&part->lock);
	if (WARN_ONCE(busy || tree->pages_shared || tree->pages_sharing ||
		      tree->pages_unshared || tree->rmap_items ||
		      tree->stable_node_chains || tree->stable_node_dups,
		      "ksm: partition %llu torn down while its pages are mapped (busy %d shared %lu sharing %lu unshared %lu items %lu chains %lu dups %lu)\n",
		      part->id, busy, tree->pages_shared, tree->pages_sharing,
		      tree->pages_unshared, tree->rmap_items,
		      tree->stable_node_chains, tree->stable_node_dups))
		return;

	mutex_lock(&ksm_partitions_lock);
	list_del(&part->all_node);
	mutex_unlock(&ksm_partitions_lock);
	kvfree(part->candidates);
	kvfree(part->stable_filter);
	ksm_partition_free(part);
}

/**
 * ksm_partition_init_tree - set up the merge state of a new partition
 * @part: the partition
 *
 * Return: 0 or -ENOMEM.
 */
int ksm_partition_init_tree(struct ksm_partition *part)
{
	part->candidate_bits = KSM_CAND_MIN_BITS;
	part->candidates = kvcalloc(1UL << part->candidate_bits,
				    sizeof(*part->candidates),
				    GFP_KERNEL_ACCOUNT);
	if (!part->candidates)
		return -ENOMEM;
	part->stable_filter_bits = KSM_STABLE_FILTER_MIN_BITS;
	part->stable_filter = kvcalloc(BITS_TO_LONGS(1UL << part->stable_filter_bits),
				       sizeof(*part->stable_filter),
				       GFP_KERNEL_ACCOUNT);
	if (!part->stable_filter) {
		kvfree(part->candidates);
		return -ENOMEM;
	}
	get_random_bytes(&part->cand_key, sizeof(part->cand_key));
	mutex_init(&part->lock);
	part->stable_root = RB_ROOT;
	part->tree.root = &part->stable_root;
	part->tree.lock = &part->lock;
	part->tree.max_page_sharing = ksm_default_max_page_sharing();
	/* The caller sets part->flags first */
	part->tree.zero_pages = part->flags & KSM_OPEN_ZERO_PAGES;
	spin_lock_init(&part->stats_lock);
	spin_lock_init(&part->members_lock);
	INIT_LIST_HEAD(&part->members);

	mutex_lock(&ksm_partitions_lock);
	list_add_tail(&part->all_node, &ksm_partitions);
	mutex_unlock(&ksm_partitions_lock);
	return 0;
}

/**
 * ksm_partition_get_stats - a snapshot of a partition's counters
 * @part: the partition
 * @stats: filled in completely but for @stats->size
 *
 * The counters are read without part->lock: each is exact, their
 * combination only as of a moment in a change.
 */
void ksm_partition_get_stats(struct ksm_partition *part,
			     struct ksm_partition_stats *stats)
{
	struct ksm_partition_activity activity;
	struct ksm_tree *tree = &part->tree;
	struct ksm_member *member;
	long zero_pages = 0;

	memset(stats, 0, sizeof(*stats));
	stats->flags = part->flags & KSM_OPEN_ZERO_PAGES;
	stats->id = part->id;
	stats->pages_shared = READ_ONCE(tree->pages_shared);
	stats->pages_sharing = READ_ONCE(tree->pages_sharing);
	stats->pages_unshared = READ_ONCE(tree->pages_unshared);
	stats->rmap_items = READ_ONCE(tree->rmap_items);
	stats->stable_node_chains = READ_ONCE(tree->stable_node_chains);
	stats->stable_node_dups = READ_ONCE(tree->stable_node_dups);

	/* A member's KSM zero pages are all of its partition (see join) */
	spin_lock(&part->members_lock);
	stats->members = part->nr_members;
	list_for_each_entry(member, &part->members, node)
		zero_pages += mm_ksm_zero_pages(member->mm);
	spin_unlock(&part->members_lock);
	stats->ksm_zero_pages = max(zero_pages, 0L);

	/* As general_profit_show() */
	stats->general_profit = (stats->pages_sharing + stats->ksm_zero_pages) *
				PAGE_SIZE - stats->rmap_items *
				sizeof(struct ksm_rmap_item);

	spin_lock(&part->stats_lock);
	activity = part->activity;
	spin_unlock(&part->stats_lock);
	stats->merge_calls = activity.merge_calls;
	stats->unmerge_calls = activity.unmerge_calls;
	stats->leave_calls = activity.leave_calls;
	stats->pages_scanned = activity.merged.pages_scanned;
	stats->pages_merged = activity.merged.pages_merged;
	stats->zero_pages_merged = activity.merged.zero_pages_merged;
	stats->pages_failed = activity.merged.pages_failed;
	stats->pages_absent = activity.merged.pages_absent;
	stats->pages_skipped = activity.merged.pages_skipped;
	stats->merge_time_ns = activity.merge_time_ns;
	stats->unmerge_time_ns = activity.unmerge_time_ns;
}

/* run=2: unmerge one member's pages and forget its rmap items */
static int unmerge_member(struct ksm_member *member)
{
	struct mm_struct *mm = member->mm;
	unsigned long done;
	int err;

	if (!mmget_not_zero(mm))
		return 0;	/* exiting: __ksm_partition_exit() cleans up */
	mmap_read_lock(mm);
	err = ksm_unmerge_range(mm, 0, mm->task_size, &done);
	if (done)
		member_drop_items(member, 0, done, DROP_UNMAPPED);
	mmap_read_unlock(mm);
	/* The last reference would exit the member under part->lock */
	mmput_async(mm);
	return err;
}

/**
 * ksm_partitions_unmerge_all - unmerge every partition's pages (run=2)
 *
 * Members stay members; ksm_merge() fails while run is 2.
 *
 * Return: 0, or -ERESTARTSYS or -ENOMEM.
 */
int ksm_partitions_unmerge_all(void)
{
	struct ksm_partition *part;
	struct ksm_member *member;
	LIST_HEAD(done);
	int err = 0;

	mutex_lock(&ksm_partitions_lock);
	list_for_each_entry(part, &ksm_partitions, all_node) {
		mutex_lock(&part->lock);
		/* Members are removed under part->lock, added under the spinlock */
		for (;;) {
			spin_lock(&part->members_lock);
			member = list_first_entry_or_null(&part->members,
							  struct ksm_member,
							  node);
			if (member)
				list_move_tail(&member->node, &done);
			spin_unlock(&part->members_lock);
			if (!member)
				break;
			err = unmerge_member(member);
			if (err)
				break;
		}
		spin_lock(&part->members_lock);
		list_splice_init(&done, &part->members);
		spin_unlock(&part->members_lock);
		if (!err)
			remove_all_stable_nodes(&part->tree);
		mutex_unlock(&part->lock);
		if (err)
			break;
	}
	mutex_unlock(&ksm_partitions_lock);
	return err;
}

#ifdef CONFIG_MEMORY_HOTREMOVE
/**
 * ksm_partitions_check_stable_tree - memory went offline: prune the nodes
 * @start_pfn: first pfn of the range
 * @end_pfn: end of the range
 *
 * As ksm_check_stable_tree() for global KSM. Partitions may keep merging
 * meanwhile: their own lock suffices.
 */
void ksm_partitions_check_stable_tree(unsigned long start_pfn,
				      unsigned long end_pfn)
{
	struct ksm_partition *part;

	mutex_lock(&ksm_partitions_lock);
	list_for_each_entry(part, &ksm_partitions, all_node) {
		mutex_lock(&part->lock);
		ksm_check_stable_tree(&part->tree, start_pfn, end_pfn);
		mutex_unlock(&part->lock);
	}
	mutex_unlock(&ksm_partitions_lock);
}
#endif /* CONFIG_MEMORY_HOTREMOVE */

/* /proc/ksm_partitions: every partition, under ksm_partitions_lock */
void *ksm_partitions_seq_start(struct seq_file *m, loff_t *pos)
{
	mutex_lock(&ksm_partitions_lock);
	return seq_list_start_head(&ksm_partitions, *pos);
}

void *ksm_partitions_seq_next(struct seq_file *m, void *v, loff_t *pos)
{
	return seq_list_next(v, &ksm_partitions, pos);
}

void ksm_partitions_seq_stop(struct seq_file *m, void *v)
{
	mutex_unlock(&ksm_partitions_lock);
}

/* The partition of an iterator position, NULL for the header's */
struct ksm_partition *ksm_partitions_seq_entry(void *v)
{
	if (v == &ksm_partitions)
		return NULL;
	return list_entry(v, struct ksm_partition, all_node);
}

/**
 * ksm_partitions_total - the sums of every partition's counters
 * @total: set to the sums of the gauges, and the number of partitions in
 *	its @id field
 */
void ksm_partitions_total(struct ksm_partition_stats *total)
{
	struct ksm_partition_stats stats;
	struct ksm_partition *part;

	memset(total, 0, sizeof(*total));
	mutex_lock(&ksm_partitions_lock);
	list_for_each_entry(part, &ksm_partitions, all_node) {
		ksm_partition_get_stats(part, &stats);
		total->id++;
		total->members += stats.members;
		total->pages_shared += stats.pages_shared;
		total->pages_sharing += stats.pages_sharing;
		total->pages_unshared += stats.pages_unshared;
		total->ksm_zero_pages += stats.ksm_zero_pages;
		total->rmap_items += stats.rmap_items;
		total->general_profit += stats.general_profit;
	}
	mutex_unlock(&ksm_partitions_lock);
}

/**
 * ksm_partitions_zero_pages - KSM zero pages that partitions placed
 *
 * Return: their number, for global KSM's counter to leave them out.
 */
unsigned long ksm_partitions_zero_pages(void)
{
	struct ksm_partition_stats total;

	ksm_partitions_total(&total);
	return total.ksm_zero_pages;
}
