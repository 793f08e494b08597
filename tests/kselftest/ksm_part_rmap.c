// SPDX-License-Identifier: GPL-2.0
/*
 * Review 2026-12, F4: every mapping of a partition KSM page must stay
 * reachable through rmap, so that migration, reclaim and memory failure
 * work on it.
 *
 * forked_child_after_parent_step (variants unmerge, leave, exit, control):
 * member P merges two pages of 0x33 into one KSM page and forks C, which
 * never touches them. Then P unmerges both pages, leaves or exits (control:
 * nothing). move_pages(C, MPOL_MF_MOVE_ALL) to the other node must migrate
 * C's pages: new frame, on the target node, content intact. Before the fix
 * C's mappings have no rmap item once P's are gone: not migrated.
 *
 * swapped_merged_page_stays_tracked: P's merged page is swapped out (a pipe
 * holds a reference from vmsplice, so it stays in the swap cache) and
 * ksm_merge runs over it while it is swapped; touched again, if it is a KSM
 * page it must be counted in ksm_merging_pages and migrate.
 *
 * memory_failure_reaches_forked_child: members D and C map P's KSM page (C
 * forked, untouched; D has its own rmap item); P unmerges; D injects a
 * memory failure on the page (MADV_HWPOISON, vm.memory_failure_early_kill=1):
 * C must get SIGBUS. Runs last: it poisons a page for the rest of the boot.
 *
 * KSM pages are recognised by /proc/PID/smaps "KSM:" of one-page VMAs.
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <fcntl.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"

/* A fixture only for a longer timeout (the harness default is 30 s). */
FIXTURE(long_run) {};
FIXTURE_SETUP(long_run) {}
FIXTURE_TEARDOWN(long_run) {}

#define MPOL_MF_MOVE_ALL_ _BITUL(2)
#define MPOL_MF_MOVE_ _BITUL(1)
#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif
#define NPG 2

struct shm {
	uintptr_t addr;
	pid_t c_pid, d_pid;
	int err;
	struct ksm_merge_result res;
	int c_sigbus, c_si_code;
	int d_sigbus;
};

static struct shm *g_shm;

static bool content_is(const char *p, int c)
{
	size_t i;

	for (i = 0; i < psize(); i++)
		if (p[i] != (char)c)
			return false;
	return true;
}

/* Read a page of pid at addr through /proc/pid/mem and compare with byte c. */
static bool remote_content_is(pid_t pid, const void *addr, int c)
{
	char path[64], *buf = malloc(psize());
	bool ok = false;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && buf && pread(fd, buf, psize(), (uintptr_t)addr) == (ssize_t)psize())
		ok = content_is(buf, c);
	if (fd >= 0)
		close(fd);
	free(buf);
	return ok;
}

static void c_sigbus(int sig, siginfo_t *si, void *uc)
{
	KSM_WRITE_ONCE(g_shm->c_sigbus, 1);
	KSM_WRITE_ONCE(g_shm->c_si_code, si->si_code);
}

static void d_sigbus(int sig, siginfo_t *si, void *uc)
{
	KSM_WRITE_ONCE(g_shm->d_sigbus, 1);
}

/* A child that only waits (and records SIGBUS); it never touches its pages. */
static pid_t fork_waiter(void)
{
	struct sigaction sa = { .sa_sigaction = c_sigbus, .sa_flags = SA_SIGINFO };
	pid_t c = fork();

	if (c)
		return c;
	sigaction(SIGBUS, &sa, NULL);
	for (;;)
		pause();
}

/*
 * Move the NPG isolated pages at p of pid to the node other than the one
 * they are on; report whether all moved (frames changed, node right).
 */
static bool migrate_all(struct __test_metadata *_metadata, pid_t pid, char *p, int flags)
{
	uint64_t before[NPG], after[NPG];
	void *pages[NPG];
	int nodes[NPG], status[NPG], i, from, to;
	bool ok = true;
	long r;

	from = page_node_of(pid, ISO(p, 0));
	if (from < 0) {
		TH_LOG("node of pid %d's page: %s", pid, strerror(-from));
		return false;
	}
	to = from ? 0 : 1;
	for (i = 0; i < NPG; i++) {
		pages[i] = ISO(p, i);
		nodes[i] = to;
		status[i] = -1;
		before[i] = pid_pfn(pid, pages[i]);
	}
	r = sys_move_pages(pid, NPG, pages, nodes, status, flags);
	for (i = 0; i < NPG; i++) {
		after[i] = pid_pfn(pid, pages[i]);
		TH_LOG("pid %d page %d: node %d -> %d: move_pages %ld status %d, now node %d",
		       pid, i, from, to, r, status[i], page_node_of(pid, pages[i]));
		TH_LOG("  frame %#llx -> %#llx",
		       (unsigned long long)before[i], (unsigned long long)after[i]);
		/* Both pages map one KSM folio: the second one's status may be -EBUSY */
		if (page_node_of(pid, pages[i]) != to || after[i] == before[i])
			ok = false;
	}
	return ok;
}

/* ------------------------------------------------------------------ */

enum step { STEP_NONE, STEP_UNMERGE, STEP_LEAVE, STEP_EXIT };

FIXTURE(forked) {
	struct shm *shm;
	int fd;
	pid_t p;
	int to_p[2], from_p[2];
};

FIXTURE_VARIANT(forked) {
	enum step step;
};

FIXTURE_VARIANT_ADD(forked, parent_unmerges) { .step = STEP_UNMERGE };
FIXTURE_VARIANT_ADD(forked, parent_leaves) { .step = STEP_LEAVE };
FIXTURE_VARIANT_ADD(forked, parent_exits) { .step = STEP_EXIT };
FIXTURE_VARIANT_ADD(forked, control_parent_keeps_merging) { .step = STEP_NONE };

FIXTURE_SETUP(forked)
{
	g_shm = map_shared(sizeof(*self->shm));
	self->shm = g_shm;
	ASSERT_NE(NULL, self->shm);
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	self->fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, pipe2(self->to_p, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(self->from_p, O_CLOEXEC));
	self->p = fork();
	ASSERT_LE(0, self->p);
	if (!self->p) {
		char *buf = map_isolated(NPG);
		int i, cmd;

		close(self->to_p[1]);
		close(self->from_p[0]);
		CHILD_CHECK(buf);
		for (i = 0; i < NPG; i++)
			memset(ISO(buf, i), 0x33, psize());
		self->shm->addr = (uintptr_t)buf;
		CHILD_CHECK(merge_range(self->fd, KSM_PIDFD_SELF, buf, ISO_LEN(NPG),
					&self->shm->res) >= 0);
		self->shm->c_pid = fork_waiter();
		put_byte(self->from_p[1], 'r');
		while ((cmd = get_byte(self->to_p[0])) >= 0) {
			if (cmd == 'u')
				self->shm->err = unmerge_range(self->fd, KSM_PIDFD_SELF, buf,
							       ISO_LEN(NPG)) < 0 ? errno : 0;
			if (cmd == 'l')
				self->shm->err = sys_ksm_leave(self->fd, KSM_PIDFD_SELF, 0) ?
						 errno : 0;
			if (cmd == 'x')
				_exit(0);
			put_byte(self->from_p[1], 'd');
		}
		_exit(0);
	}
	ASSERT_EQ('r', get_byte(self->from_p[0]));
}

FIXTURE_TEARDOWN(forked)
{
	if (self->shm->c_pid > 0) {
		kill(self->shm->c_pid, SIGKILL);
		waitpid(self->shm->c_pid, NULL, 0);
	}
	close(self->to_p[1]);
	waitpid(self->p, NULL, 0);
	close(self->fd);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_F(forked, child_pages_migrate_after_parent_step)
{
	char *buf = (char *)self->shm->addr;
	pid_t c = self->shm->c_pid;

	if (!numa_node_online(1))
		SKIP(return, "one NUMA node only (the VM boots with numa=fake=2)");
	res_print("P's merge", &self->shm->res);
	ASSERT_EQ(1, self->shm->res.pages_merged);
	ASSERT_TRUE(page_is_ksm(c, ISO(buf, 0)));

	switch (variant->step) {
	case STEP_UNMERGE:
		ASSERT_EQ(0, put_byte(self->to_p[1], 'u'));
		ASSERT_EQ('d', get_byte(self->from_p[0]));
		ASSERT_EQ(0, self->shm->err);
		break;
	case STEP_LEAVE:
		ASSERT_EQ(0, put_byte(self->to_p[1], 'l'));
		ASSERT_EQ('d', get_byte(self->from_p[0]));
		ASSERT_EQ(0, self->shm->err);
		break;
	case STEP_EXIT:
		ASSERT_EQ(0, put_byte(self->to_p[1], 'x'));
		ASSERT_EQ(0, wait_status(self->p));
		self->p = -1;
		break;
	case STEP_NONE:
		break;
	}
	TH_LOG("C's pages are KSM: %d %d", page_is_ksm(c, ISO(buf, 0)),
	       page_is_ksm(c, ISO(buf, 1)));
	EXPECT_TRUE(migrate_all(_metadata, c, buf, MPOL_MF_MOVE_ALL_))
		TH_LOG("F4: the forked child's mappings of the KSM page did not migrate");
	EXPECT_TRUE(remote_content_is(c, ISO(buf, 0), 0x33));
	EXPECT_TRUE(remote_content_is(c, ISO(buf, 1), 0x33));
}

/* ------------------------------------------------------------------ */

TEST_F_TIMEOUT(long_run, swapped_merged_page_stays_tracked, 120)
{
	struct ksm_merge_result res;
	struct iovec iov;
	int fd, made, pm, pipefd[2];
	char why[256], *buf;
	bool ksm;

	made = swap_on_zram(why, sizeof(why));
	if (made < 0)
		SKIP(return, "%s", why);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	buf = map_isolated(NPG);
	ASSERT_NE(NULL, buf);
	memset(ISO(buf, 0), 0x34, psize());
	memset(ISO(buf, 1), 0x34, psize());
	ASSERT_LE(0, merge_range(fd, KSM_PIDFD_SELF, buf, ISO_LEN(NPG), &res));
	ASSERT_EQ(1, res.pages_merged);
	/* The KSM page mapped once (MADV_PAGEOUT leaves shared pages alone) */
	ASSERT_EQ(psize(), unmerge_range(fd, KSM_PIDFD_SELF, ISO(buf, 1), psize()));
	ASSERT_TRUE(page_is_ksm(0, ISO(buf, 0)));
	ASSERT_EQ(1, ksm_stat(0, "ksm_merging_pages"));

	/* A pipe keeps a reference: swapped out, it stays in the swap cache */
	iov.iov_base = ISO(buf, 0);
	iov.iov_len = psize();
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_EQ(psize(), vmsplice(pipefd[1], &iov, 1, 0));
	ASSERT_EQ(0, madvise(ISO(buf, 0), psize(), MADV_PAGEOUT));
	pm = pagemap_open(0);
	ASSERT_LE(0, pm);
	ASSERT_TRUE(pagemap_entry(pm, ISO(buf, 0)) & PM_SWAP)
		TH_LOG("setup: the merged page was not swapped out");
	/* Merge over it while it is swapped out, then touch it */
	ASSERT_LE(0, merge_range(fd, KSM_PIDFD_SELF, ISO(buf, 0), psize(), &res));
	res_print("merge of the swapped-out page", &res);
	ASSERT_TRUE(content_is(ISO(buf, 0), 0x34));
	close(pipefd[0]);
	close(pipefd[1]);
	close(pm);
	ksm = page_is_ksm(0, ISO(buf, 0));
	TH_LOG("after swap-in: KSM page %d, ksm_merging_pages %ld, partition pages_shared %lld",
	       ksm, ksm_stat(0, "ksm_merging_pages"), part_fdinfo(0, fd, "ksm_pages_shared"));
	if (ksm) {
		EXPECT_EQ(1, ksm_stat(0, "ksm_merging_pages"))
			TH_LOG("F4: a mapped KSM page without an rmap item");
		if (numa_node_online(1)) {
			void *page = ISO(buf, 0);
			int from = page_node_of(0, page), to = from ? 0 : 1, status = -1;
			uint64_t pfn = self_pfn(page);
			long r = sys_move_pages(0, 1, &page, &to, &status, MPOL_MF_MOVE_);

			TH_LOG("move_pages node %d -> %d: %ld status %d, frame %#llx -> %#llx",
			       from, to, r, status, (unsigned long long)pfn,
			       (unsigned long long)self_pfn(page));
			EXPECT_EQ(to, page_node_of(0, page))
				TH_LOG("F4: the KSM page did not migrate");
			EXPECT_NE(pfn, self_pfn(page));
		}
	}
	EXPECT_TRUE(content_is(ISO(buf, 0), 0x34));
	close(fd);
	munmap(buf, ISO_LEN(NPG));
	swap_on_zram_undo(made);
}

/* ------------------------------------------------------------------ */

TEST_F_TIMEOUT(long_run, memory_failure_reaches_forked_child, 120)
{
	struct shm *shm = g_shm = map_shared(sizeof(*shm));
	int to_p[2], from_p[2], d_p[2], fd, i, cmd;
	long early;
	char *buf;
	pid_t p;

	ASSERT_NE(NULL, shm);
	early = read_long_path("/proc/sys/vm/memory_failure_early_kill");
	if (early < 0)
		SKIP(return, "no vm.memory_failure_early_kill (CONFIG_MEMORY_FAILURE)");
	ASSERT_EQ(0, write_long_path("/proc/sys/vm/memory_failure_early_kill", 1));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe2(to_p, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(from_p, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(d_p, O_CLOEXEC));
	p = fork();
	ASSERT_LE(0, p);
	if (!p) {
		buf = map_isolated(NPG);
		CHILD_CHECK(buf);
		for (i = 0; i < NPG; i++)
			memset(ISO(buf, i), 0x35, psize());
		shm->addr = (uintptr_t)buf;
		CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, buf, ISO_LEN(NPG), &shm->res) >= 0);
		shm->c_pid = fork_waiter();
		/* Only the parent stores the pid: shm is shared with D */
		p = fork();
		CHILD_CHECK(p >= 0);
		if (p)
			shm->d_pid = p;
		if (!p) {
			/* D: own rmap item for the page, then the injection on command */
			struct sigaction sa = { .sa_sigaction = d_sigbus, .sa_flags = SA_SIGINFO };

			sigaction(SIGBUS, &sa, NULL);
			CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, buf, ISO_LEN(NPG), NULL) >= 0);
			put_byte(d_p[1], 'D');
			while ((cmd = get_byte(to_p[0])) >= 0)
				if (cmd == 'h') {
					shm->err = madvise(ISO(buf, 0), psize(), MADV_HWPOISON) ?
						   errno : 0;
					put_byte(from_p[1], 'd');
				}
			_exit(0);
		}
		/* P: unmerge its own mappings and wait for the end */
		CHILD_CHECK(get_byte(d_p[0]) == 'D');
		CHILD_CHECK(unmerge_range(fd, KSM_PIDFD_SELF, buf, ISO_LEN(NPG)) >= 0);
		put_byte(from_p[1], 'r');
		for (;;)
			pause();
	}
	ASSERT_EQ('r', get_byte(from_p[0]));
	buf = (char *)shm->addr;
	ASSERT_TRUE(page_is_ksm(shm->c_pid, ISO(buf, 0)));
	ASSERT_TRUE(page_is_ksm(shm->d_pid, ISO(buf, 0)));
	ASSERT_EQ(pid_pfn(shm->c_pid, ISO(buf, 0)), pid_pfn(shm->d_pid, ISO(buf, 0)));
	ASSERT_EQ(0, put_byte(to_p[1], 'h'));
	ASSERT_EQ('d', get_byte(from_p[0]));
	if (shm->err == EPERM || shm->err == EINVAL)
		SKIP(goto out, "MADV_HWPOISON: %s", strerror(shm->err));
	sleep_ms(1000);
	TH_LOG("MADV_HWPOISON by D: %s; D got SIGBUS %d; C got SIGBUS %d (si_code %d)",
	       shm->err ? strerror(shm->err) : "ok", KSM_READ_ONCE(shm->d_sigbus),
	       KSM_READ_ONCE(shm->c_sigbus), KSM_READ_ONCE(shm->c_si_code));
	EXPECT_TRUE(KSM_READ_ONCE(shm->c_sigbus))
		TH_LOG("F4: memory failure did not reach the forked child mapping the KSM page");
out:
	kill(shm->c_pid, SIGKILL);
	kill(shm->d_pid, SIGKILL);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	/* C and D are P's children: reaped by init */
	close(fd);
	write_long_path("/proc/sys/vm/memory_failure_early_kill", early);
}

TEST_HARNESS_MAIN
