// SPDX-License-Identifier: GPL-2.0-only
/*
 * KSM partitions: the partition object, its names and the system calls.
 *
 * A partition is a KSM security domain: pages merge only with pages of the
 * same partition. It is reached through a file descriptor, which is the
 * capability to merge into it; a named partition can be opened again by name
 * in the IPC namespace it was created in, with POSIX-IPC-like permissions.
 * Open files and member mms hold it; the last one to go takes the name away.
 *
 * The merging itself is done by mm/ksm_partition_merge.c, part of mm/ksm.c.
 */

#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/ctype.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/ipc_namespace.h>
#include <linux/ksm.h>
#include <linux/mm.h>
#include <linux/nsproxy.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/swap.h>
#include <linux/syscalls.h>
#include <linux/uio.h>
#include <linux/user_namespace.h>

#include "ksm_partition.h"

#define KSM_OPEN_FLAGS	(KSM_OPEN_CREATE | KSM_OPEN_EXCL | KSM_OPEN_CLOEXEC)

/* Named partitions of all IPC namespaces: few, and only ksm_open() looks */
static LIST_HEAD(ksm_names);
static DEFINE_MUTEX(ksm_names_lock);
static atomic64_t ksm_partition_ids;

static const struct file_operations ksm_partition_fops;

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
 * The last one takes the name away at once; the partition is freed when no
 * page maps its stable nodes any more.
 */
void ksm_partition_put(struct ksm_partition *part)
{
	if (!refcount_dec_and_mutex_lock(&part->users, &ksm_names_lock))
		return;
	if (!list_empty(&part->name_node))
		list_del(&part->name_node);
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
static struct ksm_partition *ksm_partition_alloc(char *name, umode_t mode)
{
	struct ksm_partition *part;

	part = kzalloc(sizeof(*part), GFP_KERNEL_ACCOUNT);
	if (!part || ksm_partition_init_tree(part)) {
		kfree(part);
		kfree(name);
		return ERR_PTR(-ENOMEM);
	}
	part->id = atomic64_inc_return(&ksm_partition_ids);
	part->name = name;
	if (name)
		part->ipc_ns = get_ipc_ns(current->nsproxy->ipc_ns);
	part->uid = current_fsuid();
	part->gid = current_fsgid();
	part->mode = mode;
	INIT_LIST_HEAD(&part->name_node);
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

static struct ksm_partition *ksm_name_lookup(struct ipc_namespace *ns,
					     const char *name)
{
	struct ksm_partition *part;

	lockdep_assert_held(&ksm_names_lock);
	list_for_each_entry(part, &ksm_names, name_node)
		if (part->ipc_ns == ns && !strcmp(part->name, name))
			return part;
	return NULL;
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

/* The named partition, referenced; created if asked and not found */
static struct ksm_partition *ksm_partition_open(char *name,
						unsigned int flags,
						umode_t mode)
{
	struct ipc_namespace *ns = current->nsproxy->ipc_ns;
	struct ksm_partition *part = NULL, *found;
	int err = 0;

	if (flags & KSM_OPEN_CREATE) {
		part = ksm_partition_alloc(name, mode);
		if (IS_ERR(part))
			return part;
		name = part->name;
	}

	mutex_lock(&ksm_names_lock);
	found = ksm_name_lookup(ns, name);
	if (found) {
		if (flags & KSM_OPEN_EXCL)
			err = -EEXIST;
		else
			err = ksm_partition_may_open(found);
		if (!err)
			ksm_partition_get(found);
	} else if (part) {
		list_add(&part->name_node, &ksm_names);
	} else {
		err = -ENOENT;
	}
	mutex_unlock(&ksm_names_lock);

	if (!part)
		kfree(name);
	else if (found || err)
		ksm_partition_put(part);
	if (err)
		return ERR_PTR(err);
	return found ?: part;
}

static int ksm_partition_release(struct inode *inode, struct file *file)
{
	ksm_partition_put(file->private_data);
	return 0;
}

static void ksm_partition_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct ksm_partition *part = file->private_data;

	seq_printf(m, "ksm_id:\t%llu\n", part->id);
	if (part->name)
		seq_printf(m, "ksm_name:\t%s\n", part->name);
	seq_printf(m, "ksm_owner:\t%u %u\n",
		   from_kuid_munged(seq_user_ns(m), part->uid),
		   from_kgid_munged(seq_user_ns(m), part->gid));
	seq_printf(m, "ksm_mode:\t%04o\n", part->mode);
	seq_printf(m, "ksm_members:\t%u\n", READ_ONCE(part->nr_members));
}

static const struct file_operations ksm_partition_fops = {
	.release	= ksm_partition_release,
	.show_fdinfo	= ksm_partition_show_fdinfo,
	.llseek		= noop_llseek,
};

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
	if (uname && (flags & KSM_OPEN_EXCL) && !(flags & KSM_OPEN_CREATE))
		return -EINVAL;

	if (uname) {
		name = ksm_name_from_user(uname);
		if (IS_ERR(name))
			return PTR_ERR(name);
		part = ksm_partition_open(name, flags, mode);
	} else {
		part = ksm_partition_alloc(NULL, 0);
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
static struct mm_struct *ksm_target_mm(int pidfd)
{
	struct task_struct *task;
	struct mm_struct *mm;
	unsigned int f_flags;

	if (pidfd == KSM_PIDFD_SELF) {
		mm = get_task_mm(current);
		return mm ?: ERR_PTR(-ESRCH);
	}
	task = pidfd_get_task(pidfd, &f_flags);
	if (IS_ERR(task))
		return ERR_CAST(task);
	mm = mm_access(task, PTRACE_MODE_ATTACH_REALCREDS);
	put_task_struct(task);
	if (!mm)
		return ERR_PTR(-ESRCH);
	if (PTR_ERR(mm) == -EACCES)
		return ERR_PTR(-EPERM);
	return mm;
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
	struct iov_iter iter;
	struct mm_struct *mm;
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

	ret = import_iovec(ITER_DEST, vec, vlen, ARRAY_SIZE(iovstack), &iov,
			   &iter);
	if (ret < 0)
		return ret;
	total_len = iov_iter_count(&iter);

	mm = ksm_target_mm(pidfd);
	if (IS_ERR(mm)) {
		ret = PTR_ERR(mm);
		goto free_iov;
	}
	ret = ksm_partition_join(part, mm, &joined);
	if (ret)
		goto put_mm;
	if (joined)
		res.flags |= KSM_MERGE_RESULT_JOINED;

	/* Pages in per-cpu LRU batches hold a reference: merging would fail */
	if (total_len)
		lru_add_drain_all();
	while (iov_iter_count(&iter)) {
		size_t done;

		ret = ksm_partition_merge_range(part, mm,
						(unsigned long)iter_iov_addr(&iter),
						iter_iov_len(&iter), &res, &done);
		iov_iter_advance(&iter, done);
		if (ret)
			break;
	}
	ret = (total_len - iov_iter_count(&iter)) ? : ret;

	if (ret >= 0 && ures) {
		res.size = min_t(u32, usize, sizeof(res));
		if (copy_to_user(ures, &res, res.size))
			ret = -EFAULT;
	}
put_mm:
	mmput(mm);
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
	struct iov_iter iter;
	struct mm_struct *mm;
	size_t total_len, done;
	ssize_t ret;

	if (flags)
		return -EINVAL;
	CLASS(fd, f)(fd);
	part = ksm_partition_of(f);
	if (!part)
		return -EBADF;

	ret = import_iovec(ITER_DEST, vec, vlen, ARRAY_SIZE(iovstack), &iov,
			   &iter);
	if (ret < 0)
		return ret;
	total_len = iov_iter_count(&iter);

	mm = ksm_target_mm(pidfd);
	if (IS_ERR(mm)) {
		ret = PTR_ERR(mm);
		goto free_iov;
	}
	/* Nothing to do still tells a non-member apart */
	if (!total_len)
		ret = ksm_partition_unmerge_range(part, mm, 0, 0, &done);
	while (iov_iter_count(&iter)) {
		ret = ksm_partition_unmerge_range(part, mm,
						  (unsigned long)iter_iov_addr(&iter),
						  iter_iov_len(&iter), &done);
		iov_iter_advance(&iter, done);
		if (ret)
			break;
	}
	ret = (total_len - iov_iter_count(&iter)) ? : ret;
	mmput(mm);
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
	struct mm_struct *mm;
	int ret;

	if (flags)
		return -EINVAL;
	CLASS(fd, f)(fd);
	part = ksm_partition_of(f);
	if (!part)
		return -EBADF;

	mm = ksm_target_mm(pidfd);
	if (IS_ERR(mm))
		return PTR_ERR(mm);
	ret = ksm_partition_leave(part, mm);
	mmput(mm);
	return ret;
}
