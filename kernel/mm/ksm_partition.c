// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM partitions: the partition object, its names and the system calls.
 *
 * A partition is a KSM security domain: pages merge only with pages of the
 * same partition. It is reached through a file descriptor, which is the
 * capability to merge into it; a named partition can be opened again by name
 * in the IPC namespace it was created in, with POSIX-IPC-like permissions.
 * Open files and member mms hold it; the last one to go frees it. Only its
 * holders and members see it; the administrator sees all of them in
 * /proc/ksm_partitions.
 *
 * The merging itself is done by mm/ksm_partition_merge.c, on mm/ksm.c's
 * machinery.
 */

#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/ctype.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hash.h>
#include <linux/ipc_namespace.h>
#include <linux/jhash.h>
#include <linux/kobject.h>
#include <linux/ksm.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/nsproxy.h>
#include <linux/pid.h>
#include <linux/proc_fs.h>
#include <linux/ptrace.h>
#include <linux/random.h>
#include <linux/rhashtable.h>
#include <linux/sched/cputime.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/siphash.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/swap.h>
#include <linux/syscalls.h>
#include <linux/sysfs.h>
#include <linux/uio.h>
#include <linux/user_namespace.h>
#include <trace/events/ksm.h>

#include "ksm_partition.h"

#define KSM_OPEN_FLAGS	(KSM_OPEN_CREATE | KSM_OPEN_EXCL | KSM_OPEN_CLOEXEC | \
			 KSM_OPEN_ZERO_PAGES)

/*
 * Named partitions of all IPC namespaces, by (namespace, name). Lookups and
 * changes are serialised by ksm_names_lock; the table only makes a lookup
 * cost the same with a million names as with one.
 */
struct ksm_name_key {
	struct ipc_namespace *ns;
	const char *name;
};

static u32 ksm_name_hash(const struct ksm_name_key *key, u32 seed)
{
	return jhash(key->name, strlen(key->name),
		     seed ^ hash_ptr(key->ns, 32));
}

static u32 ksm_name_hashfn(const void *data, u32 len, u32 seed)
{
	return ksm_name_hash(data, seed);
}

static u32 ksm_name_obj_hashfn(const void *data, u32 len, u32 seed)
{
	const struct ksm_partition *part = data;
	struct ksm_name_key key = { .ns = part->ipc_ns, .name = part->name };

	return ksm_name_hash(&key, seed);
}

static int ksm_name_obj_cmpfn(struct rhashtable_compare_arg *arg,
			      const void *obj)
{
	const struct ksm_name_key *key = arg->key;
	const struct ksm_partition *part = obj;

	return part->ipc_ns != key->ns || strcmp(part->name, key->name);
}

static const struct rhashtable_params ksm_name_params = {
	.head_offset = offsetof(struct ksm_partition, name_node),
	.hashfn = ksm_name_hashfn,
	.obj_hashfn = ksm_name_obj_hashfn,
	.obj_cmpfn = ksm_name_obj_cmpfn,
	.automatic_shrinking = true,
};

static struct rhashtable ksm_names;
static DEFINE_MUTEX(ksm_names_lock);

/*
 * /sys/kernel/mm/ksm/partitions/enabled: 0 refuses new partitions and
 * merges (EPERM), for an administrator who wants no KSM at all; unmerging,
 * leaving and statistics keep working.
 */
static bool ksm_partitions_enabled __read_mostly = true;

/**
 * ksm_partitions_may_merge - whether ksm_merge() may merge now
 *
 * Not when disabled, nor while run is 2. ksm_partition_merge_range() asks
 * again under part->lock for every page: run=2 sets run before it unmerges
 * each partition under that lock, so no merge in flight redoes its work.
 *
 * Return: true if merging is allowed.
 */
bool ksm_partitions_may_merge(void)
{
	return READ_ONCE(ksm_partitions_enabled) && !ksm_unmerging();
}

/*
 * Ids are unique for the boot without telling how many partitions others
 * created: a counter through a keyed 64-bit permutation (a Feistel network
 * with SipHash rounds).
 */
static siphash_key_t ksm_id_key;
static atomic64_t ksm_id_counter;

static u64 ksm_partition_new_id(void)
{
	u64 id;

	do {
		u64 n = atomic64_inc_return(&ksm_id_counter);
		u32 left = n >> 32, right = n;
		int round;

		for (round = 0; round < 4; round++) {
			u32 f = siphash_2u32(right, round, &ksm_id_key);

			swap(left, right);
			right ^= f;
		}
		id = (u64)left << 32 | right;
	} while (!id);
	return id;
}

/**
 * ksm_partition_get - take a reference for an open file or a member
 * @part: the partition, already referenced by the caller
 */
void ksm_partition_get(struct ksm_partition *part)
{
	refcount_inc(&part->users);
}

/**
 * ksm_partition_put - drop a reference of an open file or a member
 * @part: the partition
 *
 * The last one takes the name away and frees the partition: with no member
 * left, no process maps its KSM pages any more.
 */
void ksm_partition_put(struct ksm_partition *part)
{
	if (!refcount_dec_and_mutex_lock(&part->users, &ksm_names_lock))
		return;
	if (part->name)
		rhashtable_remove_fast(&ksm_names, &part->name_node,
				       ksm_name_params);
	mutex_unlock(&ksm_names_lock);
	ksm_partition_release_tree(part);
}

/**
 * ksm_partition_free - free a partition without users and stable nodes
 * @part: the partition
 */
void ksm_partition_free(struct ksm_partition *part)
{
	if (part->ipc_ns)
		put_ipc_ns(part->ipc_ns);
	kfree(part->name);
	kfree(part);
}

/* A new partition with one reference; it owns @name */
static struct ksm_partition *ksm_partition_alloc(char *name,
						 unsigned int flags,
						 umode_t mode)
{
	struct ksm_partition *part;

	part = kzalloc(sizeof(*part), GFP_KERNEL_ACCOUNT);
	if (!part) {
		kfree(name);
		return ERR_PTR(-ENOMEM);
	}
	part->name = name;
	part->flags = flags & KSM_OPEN_ZERO_PAGES;
	if (ksm_partition_init_tree(part)) {
		kfree(name);
		kfree(part);
		return ERR_PTR(-ENOMEM);
	}
	part->id = ksm_partition_new_id();
	if (name)
		part->ipc_ns = get_ipc_ns(current->nsproxy->ipc_ns);
	part->uid = current_fsuid();
	part->gid = current_fsgid();
	part->mode = mode;
	refcount_set(&part->users, 1);
	return part;
}

/* Names are printable anywhere without escaping, and never "." or ".." */
static bool ksm_name_valid(const char *name)
{
	const char *c;

	if (!*name || *name == '.')
		return false;
	/* isalnum() would take Latin-1 letters */
	for (c = name; *c; c++)
		if (!isascii(*c) || (!isalnum(*c) && !strchr("._:@-", *c)))
			return false;
	return true;
}

static char *ksm_name_from_user(const char __user *uname)
{
	long len = strnlen_user(uname, KSM_NAME_MAX + 1);
	char *name;

	if (len <= 0)
		return ERR_PTR(-EFAULT);
	if (len > KSM_NAME_MAX + 1)
		return ERR_PTR(-ENAMETOOLONG);
	name = kmalloc(len, GFP_KERNEL_ACCOUNT);
	if (!name)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(name, uname, len)) {
		kfree(name);
		return ERR_PTR(-EFAULT);
	}
	name[len - 1] = '\0';	/* whatever a racing writer did */
	if (!ksm_name_valid(name)) {
		kfree(name);
		return ERR_PTR(-EINVAL);
	}
	return name;
}

/* Read and write permission, as ipcperms() grants them */
static int ksm_partition_may_open(struct ksm_partition *part)
{
	umode_t granted = part->mode;

	if (uid_eq(current_fsuid(), part->uid))
		granted >>= 6;
	else if (in_group_p(part->gid))
		granted >>= 3;
	if ((granted & 06) == 06)
		return 0;
	if (ns_capable(part->ipc_ns->user_ns, CAP_IPC_OWNER))
		return 0;
	return -EACCES;
}

/*
 * The named partition, referenced; created if asked and not found. A caller
 * that asks to create never ends up in a partition someone else created:
 * it gets EEXIST instead, and opens that one only by asking to (no CREATE).
 */
static struct ksm_partition *ksm_partition_open(char *name,
						unsigned int flags,
						umode_t mode)
{
	struct ksm_name_key key = {
		.ns = current->nsproxy->ipc_ns,
		.name = name,
	};
	struct ksm_partition *part;
	int err = 0;

	mutex_lock(&ksm_names_lock);
	part = rhashtable_lookup_fast(&ksm_names, &key, ksm_name_params);
	if (part) {
		bool foreign = !uid_eq(current_fsuid(), part->uid);

		if ((flags & KSM_OPEN_EXCL) ||
		    ((flags & KSM_OPEN_CREATE) && foreign))
			err = -EEXIST;
		else
			err = ksm_partition_may_open(part);
		if (!err)
			ksm_partition_get(part);
		kfree(name);
	} else if (!(flags & KSM_OPEN_CREATE)) {
		err = -ENOENT;
		kfree(name);
	} else if (!READ_ONCE(ksm_partitions_enabled)) {
		err = -EPERM;
		kfree(name);
	} else {
		part = ksm_partition_alloc(name, flags, mode);
		if (IS_ERR(part))
			err = PTR_ERR(part);
		else
			err = rhashtable_insert_fast(&ksm_names,
						     &part->name_node,
						     ksm_name_params);
		if (err && !IS_ERR(part)) {
			mutex_unlock(&ksm_names_lock);
			ksm_partition_release_tree(part);
			return ERR_PTR(err);
		}
	}
	mutex_unlock(&ksm_names_lock);
	return err ? ERR_PTR(err) : part;
}

/**
 * ksm_partition_init - set up the names and ids of partitions
 *
 * Called by ksm_init() whether or not there is a sysfs or a /proc.
 *
 * Return: 0 or -ENOMEM.
 */
int __init ksm_partition_init(void)
{
	get_random_bytes(&ksm_id_key, sizeof(ksm_id_key));
	return rhashtable_init(&ksm_names, &ksm_name_params);
}

/*
 * The statistics: the fields of struct ksm_partition_stats, named once for
 * the fdinfo lines ("ksm_" + name).
 */
struct ksm_stat_field {
	const char *name;
	size_t offset;
};

#define KSM_STAT_FIELD(_name) \
	{ __stringify(_name), offsetof(struct ksm_partition_stats, _name) }

static const struct ksm_stat_field ksm_stat_fields[] = {
	KSM_STAT_FIELD(members),
	KSM_STAT_FIELD(pages_shared),
	KSM_STAT_FIELD(pages_sharing),
	KSM_STAT_FIELD(pages_unshared),
	KSM_STAT_FIELD(ksm_zero_pages),
	KSM_STAT_FIELD(rmap_items),
	KSM_STAT_FIELD(stable_node_chains),
	KSM_STAT_FIELD(stable_node_dups),
	KSM_STAT_FIELD(general_profit),
	KSM_STAT_FIELD(merge_calls),
	KSM_STAT_FIELD(unmerge_calls),
	KSM_STAT_FIELD(leave_calls),
	KSM_STAT_FIELD(pages_scanned),
	KSM_STAT_FIELD(pages_merged),
	KSM_STAT_FIELD(zero_pages_merged),
	KSM_STAT_FIELD(pages_failed),
	KSM_STAT_FIELD(pages_absent),
	KSM_STAT_FIELD(pages_skipped),
	KSM_STAT_FIELD(merge_time_ns),
	KSM_STAT_FIELD(unmerge_time_ns),
};

static void ksm_stat_print(struct seq_file *m, const struct ksm_stat_field *f,
			   const struct ksm_partition_stats *stats)
{
	u64 value = *(const u64 *)((const char *)stats + f->offset);

	seq_printf(m, "%s%s:\t", str_has_prefix(f->name, "ksm_") ? "" : "ksm_",
		   f->name);
	if (!strcmp(f->name, "general_profit"))
		seq_printf(m, "%lld\n", (s64)value);
	else
		seq_printf(m, "%llu\n", value);
}

/*
 * /proc/ksm_partitions (root only): every partition of the system, for the
 * administrator. A partition is otherwise seen only by who holds its fd or
 * is its member: tenants learn nothing of each other's partitions.
 */
static int ksm_partitions_show(struct seq_file *m, void *v)
{
	struct ksm_partition *part = ksm_partitions_seq_entry(v);
	struct ksm_partition_stats stats;

	if (!part) {
		seq_puts(m, "id uid gid mode flags members pages_shared pages_sharing pages_unshared ksm_zero_pages rmap_items general_profit name\n");
		return 0;
	}
	ksm_partition_get_stats(part, &stats);
	seq_printf(m, "%llu %u %u %04o %#x %llu %llu %llu %llu %llu %llu %lld",
		   part->id, from_kuid_munged(seq_user_ns(m), part->uid),
		   from_kgid_munged(seq_user_ns(m), part->gid), part->mode,
		   part->flags, stats.members, stats.pages_shared,
		   stats.pages_sharing, stats.pages_unshared,
		   stats.ksm_zero_pages, stats.rmap_items,
		   stats.general_profit);
	if (part->name)
		seq_printf(m, " %s", part->name);
	seq_putc(m, '\n');
	return 0;
}

static const struct seq_operations ksm_partitions_seq_ops = {
	.start	= ksm_partitions_seq_start,
	.next	= ksm_partitions_seq_next,
	.stop	= ksm_partitions_seq_stop,
	.show	= ksm_partitions_show,
};

/* sysfs: /sys/kernel/mm/ksm/partitions/ */
static ssize_t enabled_show(struct kobject *kobj, struct kobj_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%d\n", READ_ONCE(ksm_partitions_enabled));
}

static ssize_t enabled_store(struct kobject *kobj, struct kobj_attribute *attr,
			     const char *buf, size_t count)
{
	bool enabled;
	int err;

	err = kstrtobool(buf, &enabled);
	if (err)
		return err;
	WRITE_ONCE(ksm_partitions_enabled, enabled);
	return count;
}

static struct kobj_attribute ksm_enabled_attr = __ATTR_RW(enabled);

/* Sums over all partitions, root only: they move with every tenant's merges */
struct ksm_total_attribute {
	struct kobj_attribute attr;
	size_t offset;
};

static ssize_t ksm_total_show(struct kobject *kobj, struct kobj_attribute *attr,
			      char *buf)
{
	const struct ksm_total_attribute *ta;
	struct ksm_partition_stats total;

	ta = container_of(attr, struct ksm_total_attribute, attr);
	ksm_partitions_total(&total);
	if (ta->offset == offsetof(struct ksm_partition_stats, general_profit))
		return sysfs_emit(buf, "%lld\n", total.general_profit);
	return sysfs_emit(buf, "%llu\n",
			  *(u64 *)((char *)&total + ta->offset));
}

#define KSM_TOTAL_ATTR(_name, _field)					\
static struct ksm_total_attribute ksm_total_##_name = {			\
	.attr = {							\
		.attr = { .name = __stringify(_name), .mode = 0400 },	\
		.show = ksm_total_show,					\
	},								\
	.offset = offsetof(struct ksm_partition_stats, _field),	\
}

/* nr_partitions is carried in the sum's id field */
KSM_TOTAL_ATTR(nr_partitions, id);
KSM_TOTAL_ATTR(pages_shared, pages_shared);
KSM_TOTAL_ATTR(pages_sharing, pages_sharing);
KSM_TOTAL_ATTR(pages_unshared, pages_unshared);
KSM_TOTAL_ATTR(ksm_zero_pages, ksm_zero_pages);
KSM_TOTAL_ATTR(rmap_items, rmap_items);
KSM_TOTAL_ATTR(general_profit, general_profit);

static struct attribute *ksm_partitions_attrs[] = {
	&ksm_enabled_attr.attr,
	&ksm_total_nr_partitions.attr.attr,
	&ksm_total_pages_shared.attr.attr,
	&ksm_total_pages_sharing.attr.attr,
	&ksm_total_pages_unshared.attr.attr,
	&ksm_total_ksm_zero_pages.attr.attr,
	&ksm_total_rmap_items.attr.attr,
	&ksm_total_general_profit.attr.attr,
	NULL,
};

static const struct attribute_group ksm_partitions_group = {
	.name = "partitions",
	.attrs = ksm_partitions_attrs,
};

/**
 * ksm_partition_sysfs_init - /sys/kernel/mm/ksm/partitions, /proc/ksm_partitions
 * @ksm_kobj: /sys/kernel/mm/ksm
 *
 * Return: 0 or -ENOMEM.
 */
int __init ksm_partition_sysfs_init(struct kobject *ksm_kobj)
{
	/* Without /proc, proc_create_seq() is NULL: not a failure */
	if (IS_ENABLED(CONFIG_PROC_FS) &&
	    !proc_create_seq("ksm_partitions", 0400, NULL,
			     &ksm_partitions_seq_ops))
		return -ENOMEM;
	return sysfs_create_group(ksm_kobj, &ksm_partitions_group);
}

static int ksm_partition_release(struct inode *inode, struct file *file)
{
	ksm_partition_put(file->private_data);
	return 0;
}

static void ksm_partition_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct ksm_partition *part = file->private_data;
	struct ksm_partition_stats stats;
	size_t i;

	seq_printf(m, "ksm_id:\t%llu\n", part->id);
	if (part->name)
		seq_printf(m, "ksm_name:\t%s\n", part->name);
	seq_printf(m, "ksm_owner:\t%u %u\n",
		   from_kuid_munged(seq_user_ns(m), part->uid),
		   from_kgid_munged(seq_user_ns(m), part->gid));
	seq_printf(m, "ksm_mode:\t%04o\n", part->mode);
	seq_printf(m, "ksm_flags:\t%#x\n", part->flags);

	ksm_partition_get_stats(part, &stats);
	for (i = 0; i < ARRAY_SIZE(ksm_stat_fields); i++)
		ksm_stat_print(m, &ksm_stat_fields[i], &stats);
}

/* KSM_IOC_GET_STATS of any size from the first version on */
static long ksm_partition_ioctl(struct file *file, unsigned int cmd,
				unsigned long arg)
{
	struct ksm_partition_stats stats;
	size_t size = _IOC_SIZE(cmd);

	if (_IOC_TYPE(cmd) != KSM_IOC_MAGIC || _IOC_DIR(cmd) != _IOC_READ ||
	    _IOC_NR(cmd) != _IOC_NR(KSM_IOC_GET_STATS))
		return -ENOTTY;
	if (size < KSM_PARTITION_STATS_SIZE_VER0)
		return -EINVAL;

	ksm_partition_get_stats(file->private_data, &stats);
	stats.size = min(size, sizeof(stats));
	if (copy_to_user((void __user *)arg, &stats, stats.size))
		return -EFAULT;
	return 0;
}

static const struct file_operations ksm_partition_fops = {
	.release	= ksm_partition_release,
	.show_fdinfo	= ksm_partition_show_fdinfo,
	.unlocked_ioctl	= ksm_partition_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

/**
 * ksm_partition_id - the id of the partition @mm is a member of
 * @mm: the mm, referenced
 *
 * Return: the id, or 0 if @mm is a member of none.
 */
u64 ksm_partition_id(struct mm_struct *mm)
{
	u64 id = 0;

	/* Membership changes under mmap_lock held for writing, or at exit */
	mmap_read_lock(mm);
	if (mm->ksm_member)
		id = mm->ksm_member->part->id;
	mmap_read_unlock(mm);
	return id;
}

/*
 * A merge, unmerge or leave call on its target: who, and what to charge to
 * the partition's statistics and tracepoints when it ends.
 */
struct ksm_call {
	struct mm_struct *mm;		/* referenced */
	pid_t tgid;
	u64 start_ns;			/* wall clock, for the tracepoints */
	u64 start_cpu;			/* task_sched_runtime(), for the stats */
	unsigned long shared_before;	/* see ksm_mm_shared_pages() */
};

/* Pages of @mm sharing KSM pages or KSM zero pages: what unmerging breaks */
static unsigned long ksm_mm_shared_pages(struct mm_struct *mm)
{
	return READ_ONCE(mm->ksm_merging_pages) + mm_ksm_zero_pages(mm);
}

static u64 ksm_call_cpu_ns(const struct ksm_call *call)
{
	return task_sched_runtime(current) - call->start_cpu;
}

static u64 ksm_call_wall_ns(const struct ksm_call *call)
{
	return ktime_get_ns() - call->start_ns;
}

/* Charge a ksm_merge() call: its results and its CPU time */
static void ksm_account_merge(struct ksm_partition *part,
			      const struct ksm_merge_result *res,
			      const struct ksm_call *call)
{
	struct ksm_partition_activity *act = &part->activity;
	u64 cpu_ns = ksm_call_cpu_ns(call);

	spin_lock(&part->stats_lock);
	act->merge_calls++;
	act->merge_time_ns += cpu_ns;
	act->merged.pages_scanned += res->pages_scanned;
	act->merged.pages_merged += res->pages_merged;
	act->merged.pages_already_shared += res->pages_already_shared;
	act->merged.zero_pages_merged += res->zero_pages_merged;
	act->merged.pages_unshared += res->pages_unshared;
	act->merged.pages_failed += res->pages_failed;
	act->merged.pages_absent += res->pages_absent;
	act->merged.pages_skipped += res->pages_skipped;
	spin_unlock(&part->stats_lock);
}

/* Charge a ksm_unmerge() or ksm_leave() call (@calls) and its CPU time */
static void ksm_account_unmerge(struct ksm_partition *part, u64 *calls,
				const struct ksm_call *call)
{
	u64 cpu_ns = ksm_call_cpu_ns(call);

	spin_lock(&part->stats_lock);
	(*calls)++;
	part->activity.unmerge_time_ns += cpu_ns;
	spin_unlock(&part->stats_lock);
}

/**
 * sys_ksm_open - open or create a partition
 * @uname: name, or NULL for a new anonymous partition
 * @flags: KSM_OPEN_* flags
 * @mode: permission bits of a partition created by name
 *
 * Return: a new file descriptor of the partition, or a negative errno.
 */
SYSCALL_DEFINE3(ksm_open, const char __user *, uname, unsigned int, flags,
		umode_t, mode)
{
	struct ksm_partition *part;
	struct file *file;
	char *name;
	int fd;

	if (flags & ~KSM_OPEN_FLAGS)
		return -EINVAL;
	if (mode & ~0666)
		return -EINVAL;
	if (mode && !(uname && (flags & KSM_OPEN_CREATE)))
		return -EINVAL;
	if (uname && (flags & (KSM_OPEN_EXCL | KSM_OPEN_ZERO_PAGES)) &&
	    !(flags & KSM_OPEN_CREATE))
		return -EINVAL;

	if (uname) {
		name = ksm_name_from_user(uname);
		if (IS_ERR(name))
			return PTR_ERR(name);
		part = ksm_partition_open(name, flags, mode);
	} else {
		if (!READ_ONCE(ksm_partitions_enabled))
			return -EPERM;
		part = ksm_partition_alloc(NULL, flags, 0);
	}
	if (IS_ERR(part))
		return PTR_ERR(part);

	fd = get_unused_fd_flags(O_RDWR |
				 (flags & KSM_OPEN_CLOEXEC ? O_CLOEXEC : 0));
	if (fd < 0)
		goto err_put;
	file = anon_inode_getfile("[ksm_partition]", &ksm_partition_fops, part,
				  O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		fd = PTR_ERR(file);
		goto err_put;
	}
	fd_install(fd, file);
	return fd;

err_put:
	ksm_partition_put(part);
	return fd;
}

/*
 * The mm to operate on, referenced. Another process's needs ptrace attach
 * rights: a merge result tells whether it holds a page equal to one of ours.
 */
static struct mm_struct *ksm_target_mm(int pidfd, pid_t *tgid)
{
	struct task_struct *task;
	struct mm_struct *mm;
	unsigned int f_flags;

	if (pidfd == KSM_PIDFD_SELF) {
		*tgid = current->tgid;
		mm = get_task_mm(current);
		return mm ?: ERR_PTR(-ESRCH);
	}
	task = pidfd_get_task(pidfd, &f_flags);
	if (IS_ERR(task))
		return ERR_CAST(task);
	*tgid = task->tgid;
	mm = mm_access(task, PTRACE_MODE_ATTACH_REALCREDS);
	put_task_struct(task);
	if (!mm)
		return ERR_PTR(-ESRCH);
	if (PTR_ERR(mm) == -EACCES)
		return ERR_PTR(-EPERM);
	return mm;
}

/* Start a call on the process @pidfd names; ksm_call_end() ends it */
static int ksm_call_begin(struct ksm_call *call, int pidfd)
{
	call->mm = ksm_target_mm(pidfd, &call->tgid);
	if (IS_ERR(call->mm))
		return PTR_ERR(call->mm);
	call->start_ns = ktime_get_ns();
	call->start_cpu = task_sched_runtime(current);
	call->shared_before = ksm_mm_shared_pages(call->mm);
	return 0;
}

static void ksm_call_end(struct ksm_call *call)
{
	mmput(call->mm);
}

static struct ksm_partition *ksm_partition_of(struct fd f)
{
	if (fd_empty(f) || fd_file(f)->f_op != &ksm_partition_fops)
		return NULL;
	return fd_file(f)->private_data;
}

/**
 * sys_ksm_merge - merge identical pages of ranges within a partition
 * @fd: partition
 * @pidfd: target process, or KSM_PIDFD_SELF
 * @vec: ranges of the target's address space
 * @vlen: number of ranges
 * @ures: where to report counters, or NULL
 * @flags: must be 0
 *
 * The target joins the partition if it is a member of none.
 *
 * Return: bytes of @vec processed, or a negative errno if none were.
 */
SYSCALL_DEFINE6(ksm_merge, int, fd, int, pidfd,
		const struct iovec __user *, vec, size_t, vlen,
		struct ksm_merge_result __user *, ures, unsigned int, flags)
{
	struct iovec iovstack[UIO_FASTIOV];
	struct iovec *iov = iovstack;
	struct ksm_merge_result res = {};
	struct ksm_partition *part;
	struct ksm_call call;
	struct iov_iter iter;
	bool joined = false;
	size_t total_len;
	u32 usize = 0;
	ssize_t ret;

	if (flags)
		return -EINVAL;
	if (ures) {
		if (get_user(usize, &ures->size))
			return -EFAULT;
		if (usize < KSM_MERGE_RESULT_SIZE_VER0)
			return -EINVAL;
	}
	CLASS(fd, f)(fd);
	part = ksm_partition_of(f);
	if (!part)
		return -EBADF;
	/* Disabled, or run=2 unmerging everything: nothing merges now */
	if (!ksm_partitions_may_merge())
		return -EPERM;

	/* import_iovec() takes an unsigned int: 2^32 + 1 must not read as 1 */
	if (vlen > UIO_MAXIOV)
		return -EINVAL;
	ret = import_iovec(ITER_DEST, vec, vlen, ARRAY_SIZE(iovstack), &iov,
			   &iter);
	if (ret < 0)
		return ret;
	total_len = iov_iter_count(&iter);

	ret = ksm_call_begin(&call, pidfd);
	if (ret)
		goto free_iov;
	ret = ksm_partition_join(part, call.mm, &joined);
	if (ret)
		goto end;
	if (joined)
		res.flags |= KSM_MERGE_RESULT_JOINED;

	/*
	 * Pages in per-cpu LRU batches hold a reference: merging would fail.
	 * This CPU's batch now; all CPUs' only if a page fails (see there).
	 */
	if (total_len)
		lru_add_drain();
	while (iov_iter_count(&iter)) {
		size_t done;

		ret = ksm_partition_merge_range(part, call.mm,
						(unsigned long)iter_iov_addr(&iter),
						iter_iov_len(&iter), &res, &done);
		iov_iter_advance(&iter, done);
		if (ret)
			break;
	}
	ret = (total_len - iov_iter_count(&iter)) ? : ret;
	ksm_account_merge(part, &res, &call);
	trace_ksm_partition_merge(part->id, call.tgid, res.pages_scanned,
				  res.pages_merged + res.zero_pages_merged,
				  ksm_call_wall_ns(&call), ret);

	if (ret >= 0 && ures) {
		res.size = min_t(u32, usize, sizeof(res));
		if (copy_to_user(ures, &res, res.size))
			ret = -EFAULT;
	}
end:
	ksm_call_end(&call);
free_iov:
	kfree(iov);
	return ret;
}

/**
 * sys_ksm_unmerge - break sharing of a member's pages in ranges
 * @fd: partition
 * @pidfd: target process, a member of the partition, or KSM_PIDFD_SELF
 * @vec: ranges of the target's address space
 * @vlen: number of ranges
 * @flags: must be 0
 *
 * Return: bytes of @vec processed, or a negative errno if none were.
 */
SYSCALL_DEFINE5(ksm_unmerge, int, fd, int, pidfd,
		const struct iovec __user *, vec, size_t, vlen,
		unsigned int, flags)
{
	struct iovec iovstack[UIO_FASTIOV];
	struct iovec *iov = iovstack;
	struct ksm_partition *part;
	size_t total_len, done;
	struct ksm_call call;
	struct iov_iter iter;
	ssize_t ret;

	if (flags)
		return -EINVAL;
	CLASS(fd, f)(fd);
	part = ksm_partition_of(f);
	if (!part)
		return -EBADF;

	/* import_iovec() takes an unsigned int: 2^32 + 1 must not read as 1 */
	if (vlen > UIO_MAXIOV)
		return -EINVAL;
	ret = import_iovec(ITER_DEST, vec, vlen, ARRAY_SIZE(iovstack), &iov,
			   &iter);
	if (ret < 0)
		return ret;
	total_len = iov_iter_count(&iter);

	ret = ksm_call_begin(&call, pidfd);
	if (ret)
		goto free_iov;
	/* Nothing to do still tells a non-member apart */
	if (!total_len)
		ret = ksm_partition_unmerge_range(part, call.mm, 0, 0, &done);
	while (iov_iter_count(&iter)) {
		ret = ksm_partition_unmerge_range(part, call.mm,
						  (unsigned long)iter_iov_addr(&iter),
						  iter_iov_len(&iter), &done);
		iov_iter_advance(&iter, done);
		if (ret)
			break;
	}
	ret = (total_len - iov_iter_count(&iter)) ? : ret;
	if (ret != -ENOENT) {
		ksm_account_unmerge(part, &part->activity.unmerge_calls,
				    &call);
		trace_ksm_partition_unmerge(part->id, call.tgid,
					    call.shared_before -
					    ksm_mm_shared_pages(call.mm),
					    ksm_call_wall_ns(&call), ret);
	}
	ksm_call_end(&call);
free_iov:
	kfree(iov);
	return ret;
}

/**
 * sys_ksm_leave - unmerge all of a member's pages and take it out
 * @fd: partition
 * @pidfd: target process, a member of the partition, or KSM_PIDFD_SELF
 * @flags: must be 0
 *
 * Return: 0 or a negative errno.
 */
SYSCALL_DEFINE3(ksm_leave, int, fd, int, pidfd, unsigned int, flags)
{
	struct ksm_partition *part;
	struct ksm_call call;
	int ret;

	if (flags)
		return -EINVAL;
	CLASS(fd, f)(fd);
	part = ksm_partition_of(f);
	if (!part)
		return -EBADF;

	ret = ksm_call_begin(&call, pidfd);
	if (ret)
		return ret;
	ret = ksm_partition_leave(part, call.mm);
	if (!ret) {
		ksm_account_unmerge(part, &part->activity.leave_calls, &call);
		trace_ksm_partition_leave(part->id, call.tgid,
					  call.shared_before -
					  ksm_mm_shared_pages(call.mm),
					  ksm_call_wall_ns(&call), ret);
	}
	ksm_call_end(&call);
	return ret;
}
