// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM partitions: the merge engine.
 *
 * A partition is a tree of its own for KSM's machinery. Its stable tree holds
 * stable nodes, stable node chains and rmap items exactly like global KSM's,
 * and its pages carry the same folio->mapping encoding, so rmap walks,
 * migration, swap, compaction and memory failure treat them as any KSM page.
 * What differs is how pages get there: a caller asks to merge ranges now
 * (no ksmd, no two-scan volatility wait: the caller says the memory is
 * stable), and pages without a duplicate yet wait in a candidate table that
 * persists across calls. The table is hashed by checksum rather than ordered
 * by content like the unstable tree, because candidates are not
 * write-protected and may change after insertion; a stale one costs a miss
 * and is dropped when met, it never misleads a search.
 *
 * This file is included by mm/ksm.c: it drives the same static machinery as
 * ksmd (stable_tree_search(), try_to_merge_two_pages(), ...).
 *
 * Locking: part->lock serialises a partition's trees, its candidates and the
 * rmap items of its members. It nests outside mmap_lock, as ksm_thread_mutex
 * does for ksmd, and inside ksm_thread_mutex (run=2). part->members_lock
 * protects the member list alone, so that fork, which holds mmap_lock, can
 * join a child without part->lock. mm->ksm_member changes under the mm's
 * mmap_lock held for writing, or at exit.
 */

#define KSM_CAND_MIN_BITS	6

/* Every partition, for run=2 */
static LIST_HEAD(ksm_partitions);
static DEFINE_MUTEX(ksm_partitions_lock);

static struct hlist_head *cand_bucket(struct ksm_partition *part, u32 checksum)
{
	return &part->candidates[hash_32(checksum, part->candidate_bits)];
}

/* Keep chains short: double the table at two candidates per bucket. */
static void cand_grow(struct ksm_partition *part)
{
	unsigned int bits = part->candidate_bits + 1;
	struct ksm_rmap_item *rmap_item;
	struct hlist_head *table;
	struct hlist_node *tmp;
	unsigned long i;

	table = kvcalloc(1UL << bits, sizeof(*table),
			 GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!table)
		return;		/* longer chains are still correct */

	for (i = 0; i < (1UL << part->candidate_bits); i++) {
		hlist_for_each_entry_safe(rmap_item, tmp, &part->candidates[i],
					  cand_node) {
			hlist_del(&rmap_item->cand_node);
			hlist_add_head(&rmap_item->cand_node,
				       &table[hash_32(rmap_item->oldchecksum,
						      bits)]);
		}
	}
	kvfree(part->candidates);
	part->candidates = table;
	part->candidate_bits = bits;
}

static void cand_add(struct ksm_partition *part,
		     struct ksm_rmap_item *rmap_item)
{
	hlist_add_head(&rmap_item->cand_node,
		       cand_bucket(part, rmap_item->oldchecksum));
	rmap_item->address |= UNSTABLE_FLAG;
	part->pages_unshared++;
	if (part->pages_unshared > (2UL << part->candidate_bits))
		cand_grow(part);
}

/*
 * cand_search - find a candidate with the content of @page
 *
 * Candidates met whose page is gone or was written since it was added are
 * dropped. On success, *@tree_pagep is the candidate's page, referenced.
 */
static struct ksm_rmap_item *cand_search(struct ksm_partition *part,
					 struct ksm_rmap_item *rmap_item,
					 struct page *page,
					 struct page **tree_pagep)
{
	u32 checksum = rmap_item->oldchecksum;
	struct ksm_rmap_item *cand;
	struct hlist_node *tmp;

	hlist_for_each_entry_safe(cand, tmp, cand_bucket(part, checksum),
				  cand_node) {
		struct page *tree_page;

		if (cand->oldchecksum != checksum)
			continue;
		tree_page = get_mergeable_page(cand);
		if (!tree_page) {
			remove_rmap_item_from_tree(cand);
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
		if (calc_checksum(tree_page) != checksum)
			remove_rmap_item_from_tree(cand);
		put_page(tree_page);
	}
	return NULL;
}

enum ksm_page_result {
	KSM_PAGE_MERGED,
	KSM_PAGE_ZERO,
	KSM_PAGE_SHARED,
	KSM_PAGE_UNSHARED,
	KSM_PAGE_FAILED,
	KSM_PAGE_NOMEM,		/* stops the call with -ENOMEM, not counted */
};

/*
 * Map the zero page in place of @page, which looked zero-filled: replace_page()
 * marks the PTE so that unmerging finds it, and counts it in ksm_zero_pages.
 */
static enum ksm_page_result merge_zero_page(struct ksm_rmap_item *rmap_item,
					    struct page *page)
{
	unsigned long addr = rmap_item->address & PAGE_MASK;
	struct mm_struct *mm = rmap_item->mm;
	struct vm_area_struct *vma;
	int err = -EFAULT;

	mmap_read_lock(mm);
	vma = find_mergeable_vma(mm, addr, true);
	if (vma)
		err = try_to_merge_one_page(vma, page, ZERO_PAGE(addr));
	mmap_read_unlock(mm);
	return err ? KSM_PAGE_FAILED : KSM_PAGE_ZERO;
}

/**
 * merge_one_page - merge a member's page with its duplicate in the partition
 * @part: the partition, locked
 * @page: the page, referenced
 * @rmap_item: the member's rmap item for the page's address
 *
 * The synchronous counterpart of cmp_and_merge_page(): no volatility check,
 * the candidate table instead of the unstable tree, and a KSM page of another
 * tree is never touched. In a KSM_OPEN_ZERO_PAGES partition a zero-filled
 * page is replaced by the zero page and keeps no rmap item.
 *
 * Return: what became of the page.
 */
static enum ksm_page_result merge_one_page(struct ksm_partition *part,
					   struct page *page,
					   struct ksm_rmap_item *rmap_item)
{
	struct ksm_rmap_item *tree_rmap_item;
	struct ksm_stable_node *stable_node;
	struct page *tree_page = NULL;
	u32 checksum = 0;
	bool bypass = false;
	bool retried = false;
	struct page *kpage;
	bool split;

	stable_node = page_stable_node(page);
	if (stable_node) {
		if (stable_node_part(stable_node) != part)
			return KSM_PAGE_FAILED;
		if (rmap_item->head == stable_node)
			return KSM_PAGE_SHARED;
		/* A KSM fork may go over the sharing limit */
		if (!is_page_sharing_candidate(stable_node))
			bypass = true;
	}
again:
	remove_rmap_item_from_tree(rmap_item);

	/* Before the tree: a zero page never gets there */
	if (!stable_node && (part->flags & KSM_OPEN_ZERO_PAGES)) {
		checksum = calc_checksum(page);
		if (checksum == zero_checksum)
			return merge_zero_page(rmap_item, page);
	}

	kpage = stable_tree_search(part, page);
	if (kpage) {
		int err;

		if (PTR_ERR(kpage) == -EBUSY)
			return KSM_PAGE_FAILED;
		err = try_to_merge_with_ksm_page(rmap_item, page, kpage);
		if (!err) {
			lock_page(kpage);
			stable_tree_append(rmap_item, page_stable_node(kpage),
					   bypass);
			unlock_page(kpage);
		}
		put_page(kpage);
		if (err)
			return KSM_PAGE_FAILED;
		return stable_node ? KSM_PAGE_SHARED : KSM_PAGE_MERGED;
	}
	if (stable_node)
		return KSM_PAGE_FAILED;

	rmap_item->oldchecksum = checksum ?: calc_checksum(page);
	tree_rmap_item = cand_search(part, rmap_item, page, &tree_page);
	if (!tree_rmap_item) {
		cand_add(part, rmap_item);
		return KSM_PAGE_UNSHARED;
	}

	kpage = try_to_merge_two_pages(rmap_item, page, tree_rmap_item,
				       tree_page);
	/* Both in one THP: our references made the split fail, see below */
	split = PageTransCompound(page) &&
		compound_head(page) == compound_head(tree_page);
	put_page(tree_page);
	if (kpage) {
		lock_page(kpage);
		stable_node = stable_tree_insert(part, page_folio(kpage));
		if (stable_node) {
			stable_tree_append(tree_rmap_item, stable_node, false);
			stable_tree_append(rmap_item, stable_node, false);
		}
		unlock_page(kpage);
		if (!stable_node) {
			/* Its only failure is allocating the node */
			break_cow(tree_rmap_item);
			break_cow(rmap_item);
			return KSM_PAGE_NOMEM;
		}
		return KSM_PAGE_MERGED;
	}

	/* Unlike ksmd we will not come back: split now and try once more */
	if (split && !retried && trylock_page(page)) {
		retried = !split_huge_page(page);
		unlock_page(page);
		if (retried)
			goto again;
	}
	return KSM_PAGE_FAILED;
}

/* The member's rmap item for @addr, allocated if it has none yet */
static struct ksm_rmap_item *member_item(struct ksm_member *member,
					 unsigned long addr)
{
	struct ksm_rmap_item *rmap_item;
	int err;

	rmap_item = xa_load(&member->items, addr >> PAGE_SHIFT);
	if (rmap_item)
		return rmap_item;

	rmap_item = kmem_cache_zalloc(rmap_item_cache, GFP_KERNEL |
				      __GFP_NORETRY | __GFP_NOWARN);
	if (!rmap_item)
		return ERR_PTR(-ENOMEM);
	rmap_item->mm = member->mm;
	rmap_item->address = addr | PARTITION_FLAG;
	err = xa_err(xa_store(&member->items, addr >> PAGE_SHIFT, rmap_item,
			      GFP_KERNEL));
	if (err) {
		kmem_cache_free(rmap_item_cache, rmap_item);
		return ERR_PTR(err);
	}
	member->part->rmap_items++;
	member->mm->ksm_rmap_items++;
	return rmap_item;
}

static void member_drop_item(struct ksm_member *member,
			     struct ksm_rmap_item *rmap_item)
{
	xa_erase(&member->items, rmap_item->address >> PAGE_SHIFT);
	remove_rmap_item_from_tree(rmap_item);
	free_rmap_item(rmap_item);
}

/* Forget the member's rmap items for [@start, @end) */
static void member_drop_items(struct ksm_member *member, unsigned long start,
			      unsigned long end)
{
	struct ksm_rmap_item *rmap_item;
	unsigned long index;

	xa_for_each_range(&member->items, index, rmap_item,
			  start >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT)
		member_drop_item(member, rmap_item);
}

/*
 * @mm's membership if it is one of @part, else NULL. Under part->lock the
 * answer holds: members of @part only go away under it, and others' structs
 * are freed after an RCU grace period.
 */
static struct ksm_member *part_member(struct ksm_partition *part,
				      struct mm_struct *mm)
{
	struct ksm_member *member;

	lockdep_assert_held(&part->lock);
	rcu_read_lock();
	member = READ_ONCE(mm->ksm_member);
	if (member && READ_ONCE(member->part) != part)
		member = NULL;
	rcu_read_unlock();
	return member;
}

/* Leave the partition: the caller has unmerged the pages if need be */
static void member_unlink(struct ksm_member *member)
{
	struct ksm_partition *part = member->part;

	lockdep_assert_held(&part->lock);
	member_drop_items(member, 0, TASK_SIZE);
	xa_destroy(&member->items);

	spin_lock(&part->members_lock);
	list_del(&member->node);
	part->nr_members--;
	spin_unlock(&part->members_lock);
	WRITE_ONCE(member->mm->ksm_member, NULL);
}

static struct ksm_member *member_alloc(struct ksm_partition *part,
				       struct mm_struct *mm)
{
	struct ksm_member *member;

	member = kzalloc(sizeof(*member), GFP_KERNEL_ACCOUNT);
	if (!member)
		return NULL;
	xa_init(&member->items);
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
	WRITE_ONCE(member->mm->ksm_member, member);
}

/*
 * Drop a new member's global KSM state now rather than at ksmd's next pass,
 * so that its counters and the global ones are right at once. Its pages
 * are unmerged and its VMAs not mergeable any more.
 */
static void leave_global_ksm(struct mm_struct *mm)
{
	struct ksm_mm_slot *mm_slot;
	struct mm_slot *slot;

	mutex_lock(&ksm_thread_mutex);
	spin_lock(&ksm_mmlist_lock);
	slot = mm_slot_lookup(mm_slots_hash, mm);
	spin_unlock(&ksm_mmlist_lock);
	if (!slot)
		goto out;
	mm_slot = mm_slot_entry(slot, struct ksm_mm_slot, slot);
	remove_trailing_rmap_items(&mm_slot->rmap_list);
	if (ksm_scan.mm_slot == mm_slot) {
		/* ksmd's cursor: ksmd reaps it, finding nothing mergeable */
		ksm_scan.rmap_list = &mm_slot->rmap_list;
		goto out;
	}
	spin_lock(&ksm_mmlist_lock);
	hash_del(&slot->hash);
	list_del(&slot->mm_node);
	spin_unlock(&ksm_mmlist_lock);
	mm_slot_free(mm_slot_cache, mm_slot);
	clear_bit(MMF_VM_MERGEABLE, &mm->flags);
	mmdrop(mm);
out:
	mutex_unlock(&ksm_thread_mutex);
}

/**
 * ksm_partition_join - make @mm a member of @part unless it is one already
 * @part: the partition
 * @mm: the target, referenced
 * @joined: set to true if @mm joined now
 *
 * Joining takes the mm out of global KSM: its KSM pages are unmerged,
 * VM_MERGEABLE and MMF_VM_MERGE_ANY cleared, on whole VMAs, and its slot
 * and rmap items on ksmd's list dropped.
 *
 * Return: 0, -EBUSY if @mm is a member of another partition, -EINTR,
 * -ERESTARTSYS or -ENOMEM.
 */
int ksm_partition_join(struct ksm_partition *part, struct mm_struct *mm,
		       bool *joined)
{
	struct ksm_member *member;
	bool was_global = false;
	int err = 0;

	member = member_alloc(part, mm);
	if (!member)
		return -ENOMEM;
	if (mmap_write_lock_killable(mm)) {
		kfree(member);
		return -EINTR;
	}

	if (mm->ksm_member) {
		if (mm->ksm_member->part != part)
			err = -EBUSY;
		goto out;
	}
	if (test_bit(MMF_VM_MERGEABLE, &mm->flags)) {
		err = ksm_disable(mm);
		if (err)
			goto out;
		clear_bit(MMF_VM_MERGE_ANY, &mm->flags);
		was_global = true;
	}
	member_link(member);
	member = NULL;
	*joined = true;
out:
	mmap_write_unlock(mm);
	kfree(member);
	/* ksmd takes ksm_thread_mutex before mmap_lock */
	if (was_global)
		leave_global_ksm(mm);
	return err;
}

/*
 * The private anonymous page at @addr, referenced, or NULL; then *@ksm_zero
 * tells whether a zero page placed by KSM is mapped there.
 */
static struct page *member_page(struct vm_area_struct *vma,
				unsigned long addr, bool *ksm_zero)
{
	struct page *page = NULL;
	struct folio_walk fw;
	struct folio *folio;

	*ksm_zero = false;
	folio = folio_walk_start(&fw, vma, addr, FW_ZEROPAGE);
	if (folio) {
		if (is_zero_folio(folio)) {
			*ksm_zero = fw.level == FW_LEVEL_PTE &&
				    is_ksm_zero_pte(fw.pte);
		} else if (!folio_is_zone_device(folio) &&
			   folio_test_anon(folio)) {
			folio_get(folio);
			page = fw.page;
		}
		folio_walk_end(&fw, vma);
	}
	if (page) {
		flush_anon_page(vma, page, addr);
		flush_dcache_page(page);
	}
	return page;
}

static void count_result(struct ksm_merge_result *res,
			 enum ksm_page_result result)
{
	res->pages_scanned++;
	switch (result) {
	case KSM_PAGE_MERGED:
		res->pages_merged++;
		break;
	case KSM_PAGE_ZERO:
		res->zero_pages_merged++;
		break;
	case KSM_PAGE_SHARED:
		res->pages_already_shared++;
		break;
	case KSM_PAGE_UNSHARED:
		res->pages_unshared++;
		break;
	case KSM_PAGE_FAILED:
		res->pages_failed++;
		break;
	case KSM_PAGE_NOMEM:
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

/**
 * ksm_partition_merge_range - merge the pages touched by a range
 * @part: the partition
 * @mm: the target, a member of @part, referenced
 * @start: start of the range, any alignment
 * @len: length of the range
 * @res: counters to add to
 * @drained: whether this call drained all CPUs' LRU batches already
 * @done: set to the bytes of the range processed, also on error
 *
 * Return: 0 when the whole range is processed, else why it stopped early:
 * -ERESTARTSYS or -EINTR on a signal, -ENOMEM, -EBUSY if the target joined
 * another partition meanwhile.
 */
int ksm_partition_merge_range(struct ksm_partition *part,
			      struct mm_struct *mm, unsigned long start,
			      size_t len, struct ksm_merge_result *res,
			      bool *drained, size_t *done)
{
	unsigned long addr = start & PAGE_MASK;
	unsigned long end = PAGE_ALIGN(start + len);
	int err = 0;

	*done = 0;
	if (!len)
		return 0;

	while (addr < end) {
		struct ksm_rmap_item *rmap_item;
		struct vm_area_struct *vma;
		struct ksm_member *member;
		struct page *page = NULL;
		enum ksm_page_result result;
		unsigned long next, skipped = 0;
		bool ksm_zero = false;

		if (signal_pending(current)) {
			err = -ERESTARTSYS;
			break;
		}
		if (mmap_read_lock_killable(mm)) {
			err = -EINTR;
			break;
		}
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start > addr) {
			next = vma ? min(vma->vm_start, end) : end;
			skipped = (next - addr) >> PAGE_SHIFT;
		} else if (!vma_ksm_compatible(vma) ||
			   !vma_is_accessible(vma)) {
			next = min(vma->vm_end, end);
			skipped = (next - addr) >> PAGE_SHIFT;
		} else {
			next = addr + PAGE_SIZE;
			page = member_page(vma, addr, &ksm_zero);
		}
		mmap_read_unlock(mm);

		member = lock_member(part, mm, res);
		if (IS_ERR(member)) {
			if (page)
				put_page(page);
			err = PTR_ERR(member);
			break;
		}
		/* Counted only now: a failed lock_member() does not advance */
		res->pages_skipped += skipped;
		if (ksm_zero)
			count_result(res, KSM_PAGE_SHARED);
		else if (!page && !skipped)
			res->pages_absent++;
		if (!page) {
			/* Nothing to merge there (any more) */
			member_drop_items(member, addr, next);
			mutex_unlock(&part->lock);
			goto advance;
		}
		rmap_item = member_item(member, addr);
		if (IS_ERR(rmap_item)) {
			mutex_unlock(&part->lock);
			put_page(page);
			err = PTR_ERR(rmap_item);
			break;
		}
		result = merge_one_page(part, page, rmap_item);
		if (result == KSM_PAGE_ZERO)
			member_drop_item(member, rmap_item);
		mutex_unlock(&part->lock);
		put_page(page);
		if (result == KSM_PAGE_NOMEM) {
			err = -ENOMEM;
			break;
		}
		/*
		 * The reference of another CPU's LRU batch makes a merge fail:
		 * drain them all, once per call, and try the page again.
		 */
		if (result == KSM_PAGE_FAILED && !*drained) {
			lru_add_drain_all();
			*drained = true;
			continue;
		}
		count_result(res, result);
advance:
		addr = next;
		*done = min_t(size_t, len, addr - start);
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
	int err = 0;

	*done = 0;
	if (mutex_lock_killable(&part->lock))
		return -EINTR;
	member = part_member(part, mm);
	if (!member) {
		err = -ENOENT;
		goto out;
	}
	if (!len)
		goto out;
	if (mmap_read_lock_killable(mm)) {
		err = -EINTR;
		goto out;
	}
	while (addr < end) {
		struct vm_area_struct *vma;
		unsigned long next;

		if (signal_pending(current)) {
			err = -ERESTARTSYS;
			break;
		}
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start > addr) {
			next = vma ? min(vma->vm_start, end) : end;
		} else {
			next = addr + PAGE_SIZE;
			if (vma->anon_vma) {
				err = break_ksm(vma, addr, false);
				if (err)
					break;
			}
		}
		member_drop_items(member, addr, next);
		addr = next;
		*done = min_t(size_t, len, addr - start);
	}
	mmap_read_unlock(mm);
out:
	mutex_unlock(&part->lock);
	return err;
}

/**
 * ksm_partition_leave - unmerge all of a member's pages and take it out
 * @part: the partition
 * @mm: the target, referenced
 *
 * Return: 0, -ENOENT if @mm is not a member of @part, or -ERESTARTSYS,
 * -EINTR or -ENOMEM, after which @mm is still a member.
 */
int ksm_partition_leave(struct ksm_partition *part, struct mm_struct *mm)
{
	struct ksm_member *member;
	struct vm_area_struct *vma;
	int err = 0;

	VMA_ITERATOR(vmi, mm, 0);

	if (mutex_lock_killable(&part->lock))
		return -EINTR;
	if (mmap_write_lock_killable(mm)) {
		mutex_unlock(&part->lock);
		return -EINTR;
	}
	member = part_member(part, mm);
	if (!member) {
		err = -ENOENT;
		goto out;
	}
	for_each_vma(vmi, vma) {
		unsigned long addr;

		if (!vma->anon_vma)
			continue;
		/* Page by page: a failure keeps the counters exact */
		for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE) {
			err = unmerge_ksm_pages(vma, addr, addr + PAGE_SIZE, true);
			if (err)
				break;
		}
		member_drop_items(member, vma->vm_start, addr);
		if (err)
			goto out;
	}
	member_unlink(member);
out:
	mmap_write_unlock(mm);
	mutex_unlock(&part->lock);
	if (!err) {
		kfree_rcu(member, rcu);
		ksm_partition_put(part);
	}
	return err;
}

/**
 * ksm_partition_fork - make the child of a member a member
 * @mm: the child, not running yet
 * @oldmm: the parent, a member, write-locked
 *
 * The child maps the partition's KSM pages through the copied page tables:
 * it must be a member, or fork must fail.
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
 * ksm_partition_exit - a member's mm is torn down: leave its partition
 * @mm: the mm, whose pages are unmapped after this
 */
void ksm_partition_exit(struct mm_struct *mm)
{
	struct ksm_member *member = mm->ksm_member;
	struct ksm_partition *part = member->part;

	mutex_lock(&part->lock);
	member_unlink(member);
	mutex_unlock(&part->lock);
	kfree_rcu(member, rcu);
	ksm_partition_put(part);
}

/*
 * Free the partition's stable nodes. A page can still be mapped by an exiting
 * member, between its ksm_exit() and exit_mmap(): false if one was.
 */
static bool free_stable_nodes(struct ksm_partition *part)
{
	struct rb_node *node, *next;
	bool busy = false;

	mutex_lock(&part->lock);
	for (node = rb_first(&part->stable_tree); node; node = next) {
		next = rb_next(node);
		if (remove_stable_node_chain(rb_entry(node,
						      struct ksm_stable_node,
						      node),
					     &part->stable_tree))
			busy = true;
		cond_resched();
	}
	mutex_unlock(&part->lock);
	return !busy;
}

static void release_tree(struct ksm_partition *part)
{
	if (!free_stable_nodes(part)) {
		part->release_delay = min(part->release_delay * 2, 10UL * HZ);
		schedule_delayed_work(&part->release_work, part->release_delay);
		return;
	}
	WARN_ON_ONCE(part->pages_shared || part->pages_sharing ||
		     part->pages_unshared || part->rmap_items ||
		     part->stable_node_chains || part->stable_node_dups);

	mutex_lock(&ksm_partitions_lock);
	list_del(&part->all_node);
	mutex_unlock(&ksm_partitions_lock);
	kvfree(part->candidates);
	ksm_partition_free(part);
}

static void release_tree_work(struct work_struct *work)
{
	release_tree(container_of(to_delayed_work(work), struct ksm_partition,
				  release_work));
}

/**
 * ksm_partition_release_tree - the partition has no users left: free it
 * @part: the partition
 *
 * Its stable nodes are freed at once, or as soon as no exiting mm maps their
 * pages any more; then ksm_partition_free() is called.
 */
void ksm_partition_release_tree(struct ksm_partition *part)
{
	part->release_delay = max(HZ / 50, 1);
	release_tree(part);
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
	mutex_init(&part->lock);
	part->stable_tree = RB_ROOT;
	spin_lock_init(&part->stats_lock);
	spin_lock_init(&part->members_lock);
	INIT_LIST_HEAD(&part->members);
	INIT_DELAYED_WORK(&part->release_work, release_tree_work);

	mutex_lock(&ksm_partitions_lock);
	list_add_tail(&part->all_node, &ksm_partitions);
	mutex_unlock(&ksm_partitions_lock);
	return 0;
}

/*
 * Sum of a counter over every partition, for the system-wide values in
 * /sys/kernel/mm/ksm/. Includes partitions whose teardown waits for an
 * exiting member: their stable nodes still exist.
 */
static unsigned long ksm_partitions_sum(size_t offset)
{
	struct ksm_partition *part;
	unsigned long sum = 0;

	mutex_lock(&ksm_partitions_lock);
	list_for_each_entry(part, &ksm_partitions, all_node)
		sum += READ_ONCE(*ksm_counter(part, offset, NULL));
	mutex_unlock(&ksm_partitions_lock);
	return sum;
}

/**
 * ksm_partition_get_stats - a snapshot of a partition's counters
 * @part: the partition
 * @stats: filled in completely but for @stats->size
 *
 * The counters are read without part->lock, which a long ksm_unmerge() may
 * hold: each is exact, their combination only as of a moment in a change.
 */
void ksm_partition_get_stats(struct ksm_partition *part,
			     struct ksm_partition_stats *stats)
{
	struct ksm_partition_activity activity;
	struct ksm_member *member;
	long zero_pages = 0;

	memset(stats, 0, sizeof(*stats));
	stats->flags = part->flags & KSM_OPEN_ZERO_PAGES;
	stats->id = part->id;
	stats->pages_shared = READ_ONCE(part->pages_shared);
	stats->pages_sharing = READ_ONCE(part->pages_sharing);
	stats->pages_unshared = READ_ONCE(part->pages_unshared);
	stats->rmap_items = READ_ONCE(part->rmap_items);
	stats->stable_node_chains = READ_ONCE(part->stable_node_chains);
	stats->stable_node_dups = READ_ONCE(part->stable_node_dups);

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
	struct vm_area_struct *vma;
	int err = 0;

	VMA_ITERATOR(vmi, mm, 0);

	if (!mmget_not_zero(mm))
		return 0;	/* exiting: ksm_partition_exit() cleans up */
	mmap_read_lock(mm);
	for_each_vma(vmi, vma) {
		if (!vma->anon_vma)
			continue;
		err = unmerge_ksm_pages(vma, vma->vm_start, vma->vm_end, false);
		if (err)
			break;
	}
	if (!err)
		member_drop_items(member, 0, TASK_SIZE);
	mmap_read_unlock(mm);
	/* The last reference would exit the member under part->lock */
	mmput_async(mm);
	return err;
}

/**
 * ksm_partitions_unmerge_all - unmerge every partition's pages (run=2)
 *
 * Members stay members; later ksm_merge() calls merge again.
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
		mutex_unlock(&part->lock);
		if (err)
			break;
		free_stable_nodes(part);
	}
	mutex_unlock(&ksm_partitions_lock);
	return err;
}
