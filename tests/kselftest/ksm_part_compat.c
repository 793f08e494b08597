// SPDX-License-Identifier: GPL-2.0
/*
 * Review 2026-12, F1 and L8: a compat (32-bit) task must not bound the
 * teardown of a member's rmap items by its own TASK_SIZE.
 *
 * F1 (last_mmput_by_compat_task): a 64-bit member M holds 256 candidates
 * above 4 GiB and exits while a 32-bit helper holds M's mm (compat
 * process_madvise(MADV_COLD) over a 64 MiB populated region of M, in a
 * loop), so that the helper's mmput() is the last one and M's teardown
 * (ksm_partition_exit) runs in a compat task. Once M is reaped and gone from
 * the partition, the partition must hold no rmap item and no candidate:
 * before the fix the 256 items above the compat TASK_SIZE leak, still
 * linked, with a dangling mm. The test stops at the first leak (the next
 * ksm_merge into that partition would be the use-after-free) and parks the
 * partition fd in a process that outlives the test, so that the leaked
 * items are never torn down (that would WARN) before the VM powers off.
 *
 * L8 (run2_written_by_compat_task): `echo 2 > /sys/kernel/mm/ksm/run` written
 * by a 32-bit process must drop every rmap item of every member, also those
 * above 4 GiB; the member stays a member. Control: the same write by this
 * 64-bit process does.
 *
 * The helper is tests/kselftest/helpers/ksm_compat32_helper.c, built
 * -m32 -static into ../kselftest-helpers/ next to this program's directory
 * (or named by $KSM_COMPAT32_HELPER). Without compat support in the kernel
 * (CONFIG_IA32_EMULATION) both tests SKIP.
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <libgen.h>

#include "kselftest_harness.h"

/* A fixture only for a longer timeout (the harness default is 30 s). */
FIXTURE(long_run) {};
FIXTURE_SETUP(long_run) {}
FIXTURE_TEARDOWN(long_run) {}

#define NITEMS 256			/* distinct pages above 4 GiB */
#define LOW_ADDR 0x40000000UL		/* the region the compat helper names */
#define LOW_LEN (64UL << 20)
#define F1_ITERATIONS 60

static char helper_path[512];

/* The helper's path and whether it runs (0), or why not in why[]. */
static int find_helper(char *why, size_t len)
{
	char exe[PATH_MAX], *dir;
	ssize_t n;
	int st;
	pid_t pid;

	if (getenv("KSM_COMPAT32_HELPER")) {
		snprintf(helper_path, sizeof(helper_path), "%s", getenv("KSM_COMPAT32_HELPER"));
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0) {
			snprintf(why, len, "readlink /proc/self/exe: %s", strerror(errno));
			return -1;
		}
		exe[n] = 0;
		dir = dirname(exe);
		snprintf(helper_path, sizeof(helper_path),
			 "%s/../kselftest-helpers/ksm_compat32_helper", dir);
	}
	if (access(helper_path, X_OK)) {
		snprintf(why, len, "32-bit helper %s missing (make kselftests builds it)",
			 helper_path);
		return -1;
	}
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		execl(helper_path, helper_path, "probe", (char *)NULL);
		_exit(errno == ENOEXEC ? 100 : 101);
	}
	st = wait_status(pid);
	if (st == 100) {
		snprintf(why, len,
			 "the kernel runs no 32-bit programs (CONFIG_IA32_EMULATION off): exec of %s gives ENOEXEC",
			 helper_path);
		return -1;
	}
	if (st != 0) {
		snprintf(why, len, "32-bit helper %s probe failed (status %d)", helper_path, st);
		return -1;
	}
	return 0;
}

/*
 * Child M: NITEMS distinct pages at the default (above 4 GiB) mmap base
 * merged as candidates into fd, plus a populated LOW_LEN region at LOW_ADDR
 * for the compat helper. Writes 'r' (or 'e' on error) on wfd, exits on a
 * byte from rfd.
 */
static void member_child(int fd, int rfd, int wfd, uint64_t seed0)
{
	struct ksm_merge_result res;
	char *hi, *lo;
	size_t i;

	hi = map_anon(NITEMS);
	if (!hi || (uintptr_t)hi < (1ULL << 32)) {
		put_byte(wfd, 'e');
		_exit(1);
	}
	for (i = 0; i < NITEMS; i++)
		fill_page(hi + i * psize(), seed0 + i);
	if (merge_range(fd, KSM_PIDFD_SELF, hi, NITEMS * psize(), &res) !=
	    (ssize_t)(NITEMS * psize()) || res.pages_unshared != NITEMS) {
		res_print("member merge", &res);
		put_byte(wfd, 'e');
		_exit(2);
	}
	lo = mmap((void *)LOW_ADDR, LOW_LEN, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (lo != (void *)LOW_ADDR) {
		put_byte(wfd, 'e');
		_exit(3);
	}
	madvise(lo, LOW_LEN, MADV_NOHUGEPAGE);
	memset(lo, 0x3c, LOW_LEN);
	put_byte(wfd, 'r');
	get_byte(rfd);
	_exit(0);
}

/* Start the helper with argv; its stdout goes to out_fd (or ours if < 0). */
static pid_t start_helper(char *const argv[], int out_fd)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	if (out_fd >= 0)
		dup2(out_fd, 1);
	execv(helper_path, argv);
	_exit(127);
}

/* Wait until the partition has no member left; false after 5 s. */
static bool members_gone(int fd)
{
	double end = now_sec() + 5;

	while (now_sec() < end) {
		if (part_fdinfo(0, fd, "ksm_members") == 0)
			return true;
		sleep_ms(10);
	}
	return false;
}

/*
 * Keep fd open in a process that outlives the test (until the VM powers
 * off), so that the leaked rmap items are never torn down or searched.
 */
static void park_fd(int fd)
{
	pid_t pid = fork();
	int i, null;

	if (pid) {
		if (pid > 0)
			waitpid(pid, NULL, 0);
		return;
	}
	setsid();
	if (fork())
		_exit(0);
	/* No stdio: a reader of the test's output must see EOF. */
	for (i = 0; i < 1024; i++)
		if (i != fd)
			close(i);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	for (;;)
		pause();
}

TEST_F_TIMEOUT(long_run, last_mmput_by_compat_task, 600)
{
	char why[1024], out[128], addr[32], len[32], secs[16], pidbuf[16];
	char *const argv[] = { "ksm_compat32_helper", "madvise", pidbuf, addr, len, secs, NULL };
	int it, leaked_at = -1, held = 0;
	double t0 = now_sec();

	if (find_helper(why, sizeof(why)))
		SKIP(return, "%.900s", why);

	for (it = 1; it <= F1_ITERATIONS && now_sec() - t0 < 300; it++) {
		int to_m[2], from_m[2], hout[2];
		long long items, unshared, members;
		pid_t m, h;
		int fd, c;
		ssize_t n;

		fd = sys_ksm_open(NULL, KSM_OPEN_CLOEXEC, 0);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, pipe2(to_m, O_CLOEXEC));
		ASSERT_EQ(0, pipe2(from_m, O_CLOEXEC));
		ASSERT_EQ(0, pipe2(hout, O_CLOEXEC));

		m = fork();
		ASSERT_LE(0, m);
		if (!m) {
			close(to_m[1]);
			close(from_m[0]);
			member_child(fd, to_m[0], from_m[1], (uint64_t)it << 20);
		}
		close(to_m[0]);
		close(from_m[1]);
		c = get_byte(from_m[0]);
		ASSERT_EQ('r', c) TH_LOG("member setup failed, status %d", wait_status(m));
		ASSERT_EQ(NITEMS, part_fdinfo(0, fd, "ksm_rmap_items"));

		snprintf(pidbuf, sizeof(pidbuf), "%d", m);
		snprintf(addr, sizeof(addr), "%#lx", LOW_ADDR);
		snprintf(len, sizeof(len), "%lu", LOW_LEN);
		snprintf(secs, sizeof(secs), "%d", 60);
		h = start_helper(argv, hout[1]);
		ASSERT_LE(0, h);
		close(hout[1]);
		/* Let the helper get going; vary the moment M exits. */
		sleep_ms(30 + (it * 37) % 120);
		put_byte(to_m[1], 'x');
		ASSERT_EQ(0, wait_status(m));
		ASSERT_EQ(0, wait_status(h));
		n = read(hout[0], out, sizeof(out) - 1);
		out[n > 0 ? n : 0] = 0;
		close(hout[0]);
		close(to_m[1]);
		close(from_m[0]);

		ASSERT_TRUE(members_gone(fd));
		items = part_fdinfo(0, fd, "ksm_rmap_items");
		unshared = part_fdinfo(0, fd, "ksm_pages_unshared");
		members = part_fdinfo(0, fd, "ksm_members");
		if (items || unshared) {
			leaked_at = it;
			TH_LOG("iteration %d: M reaped, partition: ksm_members %lld",
			       it, members);
			TH_LOG("ksm_rmap_items %lld ksm_pages_unshared %lld (helper: %s)",
			       items, unshared, strtok(out, "\n") ?: "");
			park_fd(fd);
			close(fd);
			break;
		}
		held += strtol(out + (strncmp(out, "calls ", 6) ? 0 : 6), NULL, 10);
		close(fd);
	}
	TH_LOG("%d iterations in %.1f s (%d compat process_madvise calls without a leak)",
	       it - (leaked_at < 0), now_sec() - t0, held);
	ASSERT_EQ(-1, leaked_at)
		TH_LOG("F1: items above 4 GiB leaked, compat task dropped the mm (iteration %d)",
		       leaked_at);
}

TEST_F_TIMEOUT(long_run, run2_written_by_compat_task, 120)
{
	struct ksm_knobs knobs;
	static char *const argv[] = { "ksm_compat32_helper", "write", KSM_SYSFS "run", "2", NULL };
	int to_m[2], from_m[2], fd, pidfd, c, st;
	char why[1024];
	long long items;
	pid_t m, h;

	if (find_helper(why, sizeof(why)))
		SKIP(return, "%.900s", why);
	ksm_knobs_save(&knobs);

	fd = sys_ksm_open(NULL, KSM_OPEN_CLOEXEC, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe2(to_m, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(from_m, O_CLOEXEC));
	m = fork();
	ASSERT_LE(0, m);
	if (!m) {
		close(to_m[1]);
		close(from_m[0]);
		member_child(fd, to_m[0], from_m[1], 1ULL << 40);
	}
	close(to_m[0]);
	close(from_m[1]);
	c = get_byte(from_m[0]);
	ASSERT_EQ('r', c);
	pidfd = sys_pidfd_open(m, 0);
	ASSERT_LE(0, pidfd);
	ASSERT_EQ(NITEMS, part_fdinfo(0, fd, "ksm_rmap_items"));

	h = start_helper(argv, -1);
	ASSERT_LE(0, h);
	st = wait_status(h);
	items = part_fdinfo(0, fd, "ksm_rmap_items");
	TH_LOG("after run=2 by a 32-bit process: ksm_rmap_items %lld ksm_pages_unshared %lld",
	       items, part_fdinfo(0, fd, "ksm_pages_unshared"));
	TH_LOG("still a member: %d", is_member(fd, pidfd));
	ksm_sysfs_write("run", 0);
	EXPECT_EQ(0, st);
	EXPECT_EQ(1, is_member(fd, pidfd));
	EXPECT_EQ(0, items) TH_LOG("L8: run=2 by a compat task left the items above 4 GiB");

	/* Control: the 64-bit writer drops them (whatever is left). */
	ASSERT_EQ(0, ksm_sysfs_write("run", 2));
	EXPECT_EQ(0, part_fdinfo(0, fd, "ksm_rmap_items"));
	EXPECT_EQ(1, is_member(fd, pidfd));

	put_byte(to_m[1], 'x');
	EXPECT_EQ(0, wait_status(m));
	close(pidfd);
	close(fd);
	ksm_knobs_restore(&knobs);
}

TEST_HARNESS_MAIN
