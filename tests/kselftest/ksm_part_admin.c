// SPDX-License-Identifier: GPL-2.0
/*
 * Review 2026-12, F8, F10, L4 and the syscall numbers (issue 15): the
 * admin's control over partitions, tenant privacy, and open by name that
 * cannot land a creator in another user's partition.
 *
 * F8 (create_never_joins_another_users_partition): uid 1000 creates "name"
 * 0666; uid 1001's ksm_open(name, CREATE, 0600) must fail with EEXIST (not
 * silently return uid 1000's partition); uid 1001 may still open it
 * explicitly (no CREATE); uid 1000's CREATE on its own partition succeeds.
 *
 * F10: /sys/kernel/mm/ksm/partitions/enabled switches partitions off (new
 * fds and merges EPERM; unmerge, leave and the stats keep working) and on;
 * run=2 also refuses merges; an unprivileged user holding partition pages
 * does not make max_page_sharing unsettable; /sys/kernel/mm/ksm/pages_shared
 * and pages_sharing are global KSM's again, the partitions' totals are in
 * root-only files under partitions/.
 *
 * L4: no per-partition directory under partitions/; /proc/ksm_partitions
 * (root only) lists every partition with its fdinfo values; unprivileged
 * users can read neither it nor the totals; ids are not consecutive.
 *
 * syscall_numbers: 472..475, after mainline's 463..471 (6.13 .. 7.0).
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <pthread.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"

#define PARTS_DIR KSM_SYSFS "partitions/"
#define NOBODY 65534

struct shm {
	int fd_ok, err;
	int ret[4], errs[4];
	long long owner_uid;
	long long id[4];
};

/* ------------------------------------------------------------------ */
/* Syscall numbers                                                      */

TEST(syscall_numbers)
{
	EXPECT_EQ(472, __NR_ksm_open);
	EXPECT_EQ(473, __NR_ksm_merge);
	EXPECT_EQ(474, __NR_ksm_unmerge);
	EXPECT_EQ(475, __NR_ksm_leave);
}

/* ------------------------------------------------------------------ */
/* F8                                                                   */

/* "ksm_owner:\tUID GID" of fd in pid's fdinfo: the uid, -1 if absent. */
static long long fdinfo_owner(pid_t pid, int fd)
{
	return part_fdinfo(pid, fd, "ksm_owner");
}

TEST(create_never_joins_another_users_partition)
{
	struct shm *shm = map_shared(sizeof(*shm));
	int to_a[2], from_a[2], st;
	char name[64];
	pid_t a, b;

	ASSERT_NE(NULL, shm);
	unique_name(name, sizeof(name), "f8");
	ASSERT_EQ(0, pipe2(to_a, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(from_a, O_CLOEXEC));
	a = fork();
	ASSERT_LE(0, a);
	if (!a) {
		int fd, fd2;

		close(to_a[1]);
		close(from_a[0]);
		CHILD_CHECK(drop_privileges(1000, 1000) == 0);
		fd = sys_ksm_open(name, KSM_OPEN_CREATE, 0666);
		CHILD_CHECK(fd >= 0);
		shm->id[0] = part_fdinfo(0, fd, "ksm_id");
		put_byte(from_a[1], 'r');
		get_byte(to_a[0]);
		/* Its own partition: CREATE finds it */
		fd2 = sys_ksm_open(name, KSM_OPEN_CREATE, 0600);
		shm->ret[3] = fd2;
		shm->errs[3] = errno;
		if (fd2 >= 0)
			shm->id[3] = part_fdinfo(0, fd2, "ksm_id");
		put_byte(from_a[1], 'd');
		get_byte(to_a[0]);
		_exit(0);
	}
	ASSERT_EQ('r', get_byte(from_a[0]));
	b = fork();
	ASSERT_LE(0, b);
	if (!b) {
		int fd;

		close(to_a[1]);
		CHILD_CHECK(drop_privileges(1001, 1001) == 0);
		fd = sys_ksm_open(name, KSM_OPEN_CREATE, 0600);
		shm->ret[0] = fd;
		shm->errs[0] = errno;
		if (fd >= 0) {
			shm->owner_uid = fdinfo_owner(0, fd);
			shm->id[1] = part_fdinfo(0, fd, "ksm_id");
			close(fd);
		}
		fd = sys_ksm_open(name, 0, 0);
		shm->ret[1] = fd;
		shm->errs[1] = errno;
		if (fd >= 0)
			shm->id[2] = part_fdinfo(0, fd, "ksm_id");
		_exit(0);
	}
	st = wait_status(b);
	put_byte(to_a[1], 'g');
	ASSERT_EQ('d', get_byte(from_a[0]));
	close(to_a[1]);
	wait_status(a);
	ASSERT_EQ(0, st);
	TH_LOG("uid 1001 ksm_open(name, CREATE, 0600): %s%s (owner uid %lld, id %lld;"
	       " uid 1000's is %lld)",
	       shm->ret[0] >= 0 ? "succeeded" : "failed: ",
	       shm->ret[0] >= 0 ? "" : strerror(shm->errs[0]), shm->owner_uid, shm->id[1],
	       shm->id[0]);
	EXPECT_EQ(-1, shm->ret[0]) TH_LOG("F8: CREATE returned another user's partition");
	if (shm->ret[0] < 0)
		EXPECT_EQ(EEXIST, shm->errs[0]);
	EXPECT_LE(0, shm->ret[1]) TH_LOG("uid 1001 explicit open: %s", strerror(shm->errs[1]));
	EXPECT_EQ(shm->id[0], shm->id[2]);
	EXPECT_LE(0, shm->ret[3])
		TH_LOG("uid 1000 CREATE on its own partition: %s", strerror(shm->errs[3]));
	EXPECT_EQ(shm->id[0], shm->id[3]);
}

/* ------------------------------------------------------------------ */
/* F10                                                                  */

static int write_sysfs_errno(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return errno;
	n = write(fd, v, strlen(v));
	close(fd);
	return n == (ssize_t)strlen(v) ? 0 : errno;
}

TEST(enabled_switch)
{
	struct ksm_partition_stats stats = { 0 };
	struct ksm_merge_result res;
	char name[64], *buf;
	int fd, fd2, e;
	long old;

	old = read_long_path(PARTS_DIR "enabled");
	ASSERT_LE(0, old) TH_LOG("F10: no runtime switch %senabled (%s)", PARTS_DIR,
				 strerror(errno));
	buf = map_anon(3);
	ASSERT_NE(NULL, buf);
	memset(buf, 0x44, 3 * psize());
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, merge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize(), &res));
	ASSERT_EQ(1, res.pages_merged);

	ASSERT_EQ(0, write_sysfs_errno(PARTS_DIR "enabled", "0"));
	fd2 = sys_ksm_open(NULL, 0, 0);
	e = errno;
	EXPECT_EQ(-1, fd2);
	EXPECT_EQ(EPERM, e);
	if (fd2 >= 0)
		close(fd2);
	fd2 = sys_ksm_open(unique_name(name, sizeof(name), "f10"), KSM_OPEN_CREATE, 0600);
	e = errno;
	EXPECT_EQ(-1, fd2);
	EXPECT_EQ(EPERM, e);
	if (fd2 >= 0)
		close(fd2);
	EXPECT_EQ(-1, merge_range(fd, KSM_PIDFD_SELF, buf + 2 * psize(), psize(), NULL));
	EXPECT_EQ(EPERM, errno);
	/* What undoes merging keeps working */
	EXPECT_EQ(0, ioctl(fd, KSM_IOC_GET_STATS, &stats));
	EXPECT_EQ(psize(), unmerge_range(fd, KSM_PIDFD_SELF, buf, psize()));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));

	ASSERT_EQ(0, write_sysfs_errno(PARTS_DIR "enabled", "1"));
	fd2 = sys_ksm_open(NULL, 0, 0);
	EXPECT_LE(0, fd2);
	EXPECT_LE(0, merge_range(fd, KSM_PIDFD_SELF, buf, psize(), NULL));
	if (fd2 >= 0)
		close(fd2);
	close(fd);
	write_long_path(PARTS_DIR "enabled", old);
}

TEST(run_2_refuses_merges)
{
	struct ksm_knobs knobs;
	char *buf;
	int fd, e;
	ssize_t r;

	ksm_knobs_save(&knobs);
	buf = map_anon(2);
	ASSERT_NE(NULL, buf);
	memset(buf, 0x45, 2 * psize());
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ksm_sysfs_write("run", 2));
	r = merge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize(), NULL);
	e = errno;
	ksm_sysfs_write("run", 0);
	TH_LOG("ksm_merge while run=2: %zd (%s)", r, r < 0 ? strerror(e) : "merged");
	EXPECT_EQ(-1, r) TH_LOG("F10: run=2 does not stop partition merges");
	EXPECT_EQ(EPERM, e);
	EXPECT_LE(0, merge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize(), NULL));
	close(fd);
	ksm_knobs_restore(&knobs);
}

/*
 * run=2 written while a ksm_merge() runs: the call stops at its next page,
 * so that nothing it merges outlives the unmerge (the check was once made
 * only when the call started; the rest of the range was merged again).
 * 256 MiB is a merge long enough for run=2 to arrive in the middle of it
 * whatever the page size (a bigger page costs more to compare and hash).
 */
#define INFLIGHT_BYTES (256L << 20)
#define INFLIGHT_PAGES (INFLIGHT_BYTES / (long)psize())

struct inflight {
	int fd;
	char *buf;
	ssize_t ret;
	int err;
	int done;
};

static void *inflight_merge(void *arg)
{
	struct inflight *m = arg;

	m->ret = merge_range(m->fd, KSM_PIDFD_SELF, m->buf, INFLIGHT_PAGES * psize(), NULL);
	m->err = errno;
	KSM_WRITE_ONCE(m->done, 1);
	return NULL;
}

TEST(run_2_stops_merge_in_flight)
{
	struct ksm_partition_stats st = { .size = sizeof(st) };
	struct inflight m = { 0 };
	struct ksm_knobs knobs;
	pthread_t t;
	long i;

	ksm_knobs_save(&knobs);
	m.buf = map_anon(INFLIGHT_PAGES);
	ASSERT_NE(NULL, m.buf);
	/* Pairs of equal pages: every second page merges */
	for (i = 0; i < INFLIGHT_PAGES; i++)
		fill_page(m.buf + i * psize(), i / 2);
	m.fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, m.fd);
	ASSERT_EQ(0, pthread_create(&t, NULL, inflight_merge, &m));
	while (!KSM_READ_ONCE(m.done) && part_fdinfo(0, m.fd, "ksm_pages_sharing") < 64)
		usleep(10000);
	ASSERT_FALSE(KSM_READ_ONCE(m.done)) TH_LOG("the merge ended before run=2 could be written");
	fprintf(stderr, "# %lld pages sharing: writing run=2\n",
		part_fdinfo(0, m.fd, "ksm_pages_sharing"));
	ASSERT_EQ(0, ksm_sysfs_write("run", 2));
	fprintf(stderr, "# run=2 written, %lld pages sharing\n",
		part_fdinfo(0, m.fd, "ksm_pages_sharing"));
	pthread_join(t, NULL);
	ksm_sysfs_write("run", 0);
	ASSERT_EQ(0, ioctl(m.fd, KSM_IOC_GET_STATS, &st));
	TH_LOG("ksm_merge of %ld pages, run=2 written meanwhile: %zd bytes (%s);"
	       " after: pages_shared %llu pages_sharing %llu",
	       INFLIGHT_PAGES, m.ret, m.ret < 0 ? strerror(m.err) : "partial",
	       (unsigned long long)st.pages_shared, (unsigned long long)st.pages_sharing);
	EXPECT_GT((ssize_t)(INFLIGHT_PAGES * psize()), m.ret)
		TH_LOG("the call merged its whole range although run=2 was written");
	EXPECT_EQ(0, st.pages_shared);
	EXPECT_EQ(0, st.pages_sharing);
	close(m.fd);
	munmap(m.buf, INFLIGHT_PAGES * psize());
	ksm_knobs_restore(&knobs);
}

TEST(max_page_sharing_settable_while_users_merge)
{
	struct shm *shm = map_shared(sizeof(*shm));
	int to[2], from[2], e, e2;
	long old = ksm_sysfs_read("max_page_sharing");
	pid_t pid;

	ASSERT_NE(NULL, shm);
	ASSERT_LT(0, old);
	ASSERT_EQ(0, pipe2(to, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(from, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct ksm_merge_result res;
		char *buf;
		int fd;

		close(to[1]);
		close(from[0]);
		CHILD_CHECK(drop_privileges(NOBODY, NOBODY) == 0);
		buf = map_anon(2);
		CHILD_CHECK(buf);
		memset(buf, 0x46, 2 * psize());
		fd = sys_ksm_open(NULL, 0, 0);
		CHILD_CHECK(fd >= 0);
		CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize(), &res) >= 0);
		CHILD_CHECK(res.pages_merged == 1);
		put_byte(from[1], 'r');
		get_byte(to[0]);
		_exit(0);
	}
	ASSERT_EQ('r', get_byte(from[0]));
	e = write_sysfs_errno(KSM_SYSFS "max_page_sharing", "300");
	TH_LOG("echo 300 > max_page_sharing while uid %d holds partition KSM pages: %s", NOBODY,
	       e ? strerror(e) : "ok");
	EXPECT_EQ(0, e) TH_LOG("F10: an unprivileged user blocks the admin's max_page_sharing");
	if (!e)
		EXPECT_EQ(300, ksm_sysfs_read("max_page_sharing"));
	close(to[1]);
	EXPECT_EQ(0, wait_status(pid));
	e2 = write_sysfs_errno(KSM_SYSFS "max_page_sharing", "256");
	EXPECT_EQ(0, e2);
	if (old != 256)
		ksm_sysfs_write("max_page_sharing", old);
}

static const char *const totals[] = {
	"nr_partitions", "pages_shared", "pages_sharing", "pages_unshared", "ksm_zero_pages",
	"rmap_items", "general_profit",
};

TEST(global_counters_are_global_ksm_only)
{
	long g_shared, g_sharing, p_shared, p_sharing;
	long long f_shared, f_sharing;
	struct ksm_merge_result res;
	struct stat st;
	char path[128], *buf;
	size_t i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(totals); i++) {
		snprintf(path, sizeof(path), PARTS_DIR "%s", totals[i]);
		EXPECT_EQ(0, stat(path, &st)) TH_LOG("F10: %s missing", path);
		if (!stat(path, &st))
			EXPECT_EQ(0400, st.st_mode & 07777) TH_LOG("%s mode %o", path,
								   st.st_mode & 07777);
	}
	buf = map_anon(3);
	ASSERT_NE(NULL, buf);
	memset(buf, 0x47, 3 * psize());
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	g_shared = ksm_pages_shared();
	g_sharing = ksm_pages_sharing();
	p_shared = ksm_sysfs_read("partitions/pages_shared");
	p_sharing = ksm_sysfs_read("partitions/pages_sharing");
	f_shared = part_fdinfo(0, fd, "ksm_pages_shared");
	f_sharing = part_fdinfo(0, fd, "ksm_pages_sharing");
	ASSERT_LE(0, merge_range(fd, KSM_PIDFD_SELF, buf, 3 * psize(), &res));
	ASSERT_EQ(2, res.pages_merged);
	f_shared = part_fdinfo(0, fd, "ksm_pages_shared") - f_shared;
	f_sharing = part_fdinfo(0, fd, "ksm_pages_sharing") - f_sharing;
	TH_LOG("a partition merge: fdinfo pages_shared +%lld, pages_sharing +%lld",
	       f_shared, f_sharing);
	TH_LOG("/sys/kernel/mm/ksm/pages_shared %ld -> %ld, pages_sharing %ld -> %ld",
	       g_shared, ksm_pages_shared(), g_sharing, ksm_pages_sharing());
	TH_LOG("partitions/pages_shared %ld -> %ld, pages_sharing %ld -> %ld",
	       p_shared, ksm_sysfs_read("partitions/pages_shared"), p_sharing,
	       ksm_sysfs_read("partitions/pages_sharing"));
	EXPECT_EQ(g_shared, ksm_pages_shared())
		TH_LOG("F10: global pages_shared moved with a partition");
	EXPECT_EQ(g_sharing, ksm_pages_sharing());
	EXPECT_EQ(p_shared + f_shared, ksm_sysfs_read("partitions/pages_shared"));
	EXPECT_EQ(p_sharing + f_sharing, ksm_sysfs_read("partitions/pages_sharing"));
	close(fd);
}

/* ------------------------------------------------------------------ */
/* L4                                                                   */

TEST(no_per_partition_directories)
{
	struct dirent *de;
	int fd1, fd2, dirs = 0;
	char name[64];
	DIR *d;

	fd1 = sys_ksm_open(unique_name(name, sizeof(name), "l4"), KSM_OPEN_CREATE, 0600);
	fd2 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd1);
	ASSERT_LE(0, fd2);
	d = opendir(PARTS_DIR);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			dirs++;
	closedir(d);
	TH_LOG("%d directories in %s with 2 partitions open", dirs, PARTS_DIR);
	EXPECT_EQ(0, dirs) TH_LOG("L4: per-partition directories visible to everyone");
	close(fd1);
	close(fd2);
}

TEST(unprivileged_cannot_list)
{
	struct shm *shm = map_shared(sizeof(*shm));
	int fd, st;
	pid_t pid;

	ASSERT_NE(NULL, shm);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		int f;

		CHILD_CHECK(drop_privileges(NOBODY, NOBODY) == 0);
		f = open("/proc/ksm_partitions", O_RDONLY);
		shm->ret[0] = f;
		shm->errs[0] = errno;
		f = open(PARTS_DIR "pages_shared", O_RDONLY);
		shm->ret[1] = f;
		shm->errs[1] = errno;
		f = open(PARTS_DIR "pages_sharing", O_RDONLY);
		shm->ret[2] = f;
		shm->errs[2] = errno;
		_exit(0);
	}
	st = wait_status(pid);
	close(fd);
	ASSERT_EQ(0, st);
	TH_LOG("as uid %d: open /proc/ksm_partitions: %s; partitions/pages_shared: %s;"
	       " pages_sharing: %s",
	       NOBODY, shm->ret[0] >= 0 ? "ok" : strerror(shm->errs[0]),
	       shm->ret[1] >= 0 ? "ok" : strerror(shm->errs[1]),
	       shm->ret[2] >= 0 ? "ok" : strerror(shm->errs[2]));
	EXPECT_EQ(-1, shm->ret[0]);
	EXPECT_EQ(EACCES, shm->errs[0])
		TH_LOG("L4: /proc/ksm_partitions not root-only (or missing)");
	EXPECT_EQ(-1, shm->ret[1]);
	EXPECT_EQ(EACCES, shm->errs[1]);
	EXPECT_EQ(-1, shm->ret[2]);
	EXPECT_EQ(EACCES, shm->errs[2]);
}

/* The /proc/ksm_partitions line of partition id into f[] (13 fields); 0 or -1. */
static int proc_partition_line(long long id, char f[13][300], int *nf)
{
	char line[1024];
	FILE *p = fopen("/proc/ksm_partitions", "re");
	int first = 1;

	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		char *tok, *save = NULL;
		int n = 0;

		if (first) {	/* header */
			first = 0;
			continue;
		}
		for (tok = strtok_r(line, " \t\n", &save); tok && n < 13;
		     tok = strtok_r(NULL, " \t\n", &save))
			snprintf(f[n++], 300, "%s", tok);
		if (n >= 12 && (long long)strtoull(f[0], NULL, 10) == id) {
			*nf = n;
			fclose(p);
			return 0;
		}
	}
	fclose(p);
	return -1;
}

/* The fdinfo value text of key (e.g. "ksm_mode") of our fd into out. */
static void fdinfo_text(int fd, const char *key, char *out, size_t len)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	FILE *f;

	out[0] = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			snprintf(out, len, "%s", line + klen + 1 + strspn(line + klen + 1, " \t"));
			out[strcspn(out, "\n")] = 0;
			break;
		}
	fclose(f);
}

#define NKEYS 7

TEST(proc_ksm_partitions_lists_fdinfo_values)
{
	int mismatches = 0;
	static const char *const keys[NKEYS] = {
		"ksm_members", "ksm_pages_shared", "ksm_pages_sharing", "ksm_pages_unshared",
		"ksm_zero_pages", "ksm_rmap_items", "ksm_general_profit",
	};
	char f[13][300], v[700], name[64], owner[64];
	int fds[2], i, k, nf;
	char *buf;

	buf = map_anon(4);
	ASSERT_NE(NULL, buf);
	memset(buf, 0x48, 3 * psize());
	fill_page(buf + 3 * psize(), 0x48);
	unique_name(name, sizeof(name), "l4p");
	fds[0] = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_ZERO_PAGES, 0600);
	fds[1] = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fds[0]);
	ASSERT_LE(0, fds[1]);
	ASSERT_LE(0, merge_range(fds[0], KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	for (i = 0; i < 2; i++) {
		long long id = part_fdinfo(0, fds[i], "ksm_id");

		ASSERT_EQ(0, proc_partition_line(id, f, &nf))
			TH_LOG("L4: partition %lld not in /proc/ksm_partitions", id);
		fdinfo_text(fds[i], "ksm_owner", owner, sizeof(owner));
		snprintf(v, sizeof(v), "%s %s", f[1], f[2]);
		EXPECT_STREQ(owner, v);
		fdinfo_text(fds[i], "ksm_mode", v, sizeof(v));
		EXPECT_STREQ(v, f[3]);
		fdinfo_text(fds[i], "ksm_flags", v, sizeof(v));
		EXPECT_EQ(strtoul(v, NULL, 0), strtoul(f[4], NULL, 0));
		EXPECT_EQ(0, strncmp(f[4], "0x", 2) && strcmp(f[4], "0"))
			TH_LOG("flags %s not hex", f[4]);
		for (k = 0; k < NKEYS; k++) {
			long long want = part_fdinfo(0, fds[i], keys[k]);
			long long got = strtoll(f[5 + k], NULL, 10);

			if (want != got)
				mismatches++;
			TH_LOG("%s: fdinfo %lld, /proc/ksm_partitions %lld", keys[k], want, got);
		}
		if (i == 0) {
			EXPECT_EQ(13, nf);
			EXPECT_STREQ(name, f[12]);
		} else {
			EXPECT_EQ(12, nf) TH_LOG("an anonymous partition has no name field");
		}
	}
	EXPECT_EQ(0, mismatches);
	close(fds[0]);
	close(fds[1]);
}

TEST(ids_not_consecutive)
{
	long long id[8];
	int i, fd[8], consecutive = 0;

	for (i = 0; i < 8; i++) {
		fd[i] = sys_ksm_open(NULL, 0, 0);
		ASSERT_LE(0, fd[i]);
		id[i] = part_fdinfo(0, fd[i], "ksm_id");
	}
	for (i = 1; i < 8; i++)
		if (id[i] - id[i - 1] == 1 || id[i - 1] - id[i] == 1)
			consecutive++;
	TH_LOG("ids of 8 partitions opened back to back: %lld %lld %lld %lld %lld %lld %lld %lld",
	       id[0], id[1], id[2], id[3], id[4], id[5], id[6], id[7]);
	EXPECT_EQ(0, consecutive) TH_LOG("L4: ids reveal the creation rate of other tenants");
	for (i = 0; i < 8; i++)
		close(fd[i]);
}

TEST_HARNESS_MAIN
