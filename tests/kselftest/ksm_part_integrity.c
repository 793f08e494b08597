// SPDX-License-Identifier: GPL-2.0
/*
 * Review 2026-12, F3 and F6: merging must not lose data or the tracking
 * bits other mm features keep in the page table entry.
 *
 * F3 (lazyfree_ksm_page_partition, lazyfree_ksm_page_ksmd): a KSM page whose
 * last mapper MADV_FREE'd it (clean, lazyfree) gets a new mapper by a merge
 * (a partition's ksm_merge; ksmd for global KSM); after reclaim
 * (memory.reclaim of the cgroup the processes live in) the new mapper must
 * still read its data. Before the fix reclaim discards the lazyfree folio for
 * every mapper: the page reads as zeros.
 *
 * F6 (uffd_wp_survives_merge, soft_dirty_survives_merge): a merge must keep
 * uffd-wp (pagemap bit 57; a write traps to the monitor) and soft-dirty
 * (pagemap bit 55) of the page whose PTE it replaces, or not merge a uffd-wp
 * page at all. Before the fix replace_page() builds a fresh PTE.
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"

/* A fixture only for a longer timeout (the harness default is 30 s). */
FIXTURE(long_run) {};
FIXTURE_SETUP(long_run) {}
FIXTURE_TEARDOWN(long_run) {}

static bool content_is(const char *p, int c)
{
	size_t i;

	for (i = 0; i < psize(); i++)
		if (p[i] != (char)c)
			return false;
	return true;
}

/* pglazyfreed of the cgroup (memory.stat), else of the system; -1 if neither has it. */
static long long lazyfreed(const char *cg)
{
	long long v = cgroup_stat(cg, "memory.stat", "pglazyfreed");

	return v >= 0 ? v : vmstat_counter("pglazyfreed");
}

/* Reclaim the cgroup until pglazyfreed moves (or 20 rounds); returns its increase. */
static long long reclaim_cgroup(const char *cg)
{
	long long lazy0 = lazyfreed(cg), lazy = lazy0;
	char file[PATH_MAX + 64];
	int i;

	snprintf(file, sizeof(file), "%s/memory.reclaim", cg);
	for (i = 0; i < 20 && lazy == lazy0; i++) {
		write_string_path(file, "256M");
		sleep_ms(50);
		lazy = lazyfreed(cg);
	}
	return lazy0 < 0 ? -1 : lazy - lazy0;
}

struct f3_shm {
	uintptr_t addr;
	int err, merged, bad;
	struct ksm_merge_result res;
};

TEST_F_TIMEOUT(long_run, lazyfree_ksm_page_partition, 120)
{
	struct f3_shm *shm = map_shared(sizeof(*shm));
	char cg[PATH_MAX], why[256];
	int to[2], from[2], st;
	long long freed;
	bool enabled;
	pid_t pid;

	ASSERT_NE(NULL, shm);
	if (test_cgroup_create(cg, sizeof(cg), "f3", &enabled, why, sizeof(why)))
		SKIP(return, "%s", why);
	ASSERT_EQ(0, pipe2(to, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(from, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		size_t ps = psize();
		char *a;
		int fd;

		/* In the cgroup before any page is allocated: reclaim finds them */
		CHILD_CHECK(test_cgroup_enter(cg, 0) == 0);
		fd = sys_ksm_open(NULL, 0, 0);
		CHILD_CHECK(fd >= 0);
		a = map_anon(3);
		CHILD_CHECK(a);
		memset(a, 0x77, 3 * ps);
		CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, a, 2 * ps, &shm->res) ==
			    2 * (ssize_t)ps);
		CHILD_CHECK(shm->res.pages_merged == 1);
		/* K only at a, then lazyfree */
		CHILD_CHECK(unmerge_range(fd, KSM_PIDFD_SELF, a + ps, ps) == (ssize_t)ps);
		CHILD_CHECK(madvise(a, ps, MADV_FREE) == 0);
		CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, a + 2 * ps, ps, &shm->res) ==
			    (ssize_t)ps);
		shm->merged = shm->res.pages_merged;
		put_byte(from[1], 'r');
		get_byte(to[0]);
		shm->bad = !content_is(a + 2 * ps, 0x77);
		if (shm->bad)
			fprintf(stderr, "# a[2P] reads %#x after reclaim (expected 0x77)\n",
				(unsigned char)a[2 * ps]);
		_exit(0);
	}
	ASSERT_EQ('r', get_byte(from[0]));
	TH_LOG("merge of a+2P onto the lazyfree KSM page: pages_merged %d", shm->merged);
	freed = reclaim_cgroup(cg);
	TH_LOG("pglazyfreed +%lld after memory.reclaim", freed);
	put_byte(to[1], 'k');
	st = wait_status(pid);
	test_cgroup_remove(cg, enabled);
	ASSERT_EQ(0, st);
	EXPECT_EQ(0, shm->bad)
		TH_LOG("F3: data lost: the lazyfree KSM page was discarded for the new mapper");
}

/* Global KSM: X and Y merge by ksmd, Y goes, X MADV_FREEs, ksmd merges Z onto it. */
TEST_F_TIMEOUT(long_run, lazyfree_ksm_page_ksmd, 300)
{
	struct f3_shm *sx = map_shared(sizeof(*sx)), *sz = map_shared(sizeof(*sz));
	int tx[2], fx[2], tz[2], fz[2], st;
	char cg[PATH_MAX], why[256];
	struct ksm_knobs knobs;
	long long freed;
	double end;
	bool enabled;
	pid_t x, y, z;

	ASSERT_TRUE(sx && sz);
	if (test_cgroup_create(cg, sizeof(cg), "f3g", &enabled, why, sizeof(why)))
		SKIP(return, "%s", why);
	ksm_knobs_save(&knobs);
	ASSERT_EQ(0, ksmd_go_fast());
	ASSERT_EQ(0, pipe2(tx, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(fx, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(tz, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(fz, O_CLOEXEC));

	/* X and Y: one isolated page of 0x78 each, MADV_MERGEABLE */
	x = fork();
	ASSERT_LE(0, x);
	if (!x) {
		char *p;

		close(tx[1]);
		close(fx[0]);
		CHILD_CHECK(test_cgroup_enter(cg, 0) == 0);
		p = map_isolated(1);
		CHILD_CHECK(p);
		memset(p, 0x78, psize());
		CHILD_CHECK(madvise(p, psize(), MADV_MERGEABLE) == 0);
		sx->addr = (uintptr_t)p;
		put_byte(fx[1], 'r');
		get_byte(tx[0]);	/* 'f': MADV_FREE */
		sx->err = madvise(p, psize(), MADV_FREE);
		put_byte(fx[1], 'd');
		get_byte(tx[0]);	/* EOF */
		_exit(0);
	}
	ASSERT_EQ('r', get_byte(fx[0]));
	y = fork();
	ASSERT_LE(0, y);
	if (!y) {
		char *p;

		CHILD_CHECK(test_cgroup_enter(cg, 0) == 0);
		p = map_isolated(1);
		CHILD_CHECK(p);
		memset(p, 0x78, psize());
		CHILD_CHECK(madvise(p, psize(), MADV_MERGEABLE) == 0);
		for (;;)
			pause();
	}
	for (end = now_sec() + 120; now_sec() < end; sleep_ms(50))
		if (page_is_ksm(x, (void *)sx->addr))
			break;
	ASSERT_TRUE(page_is_ksm(x, (void *)sx->addr)) TH_LOG("setup: ksmd did not merge X and Y");
	kill(y, SIGKILL);
	waitpid(y, NULL, 0);
	ASSERT_EQ(0, put_byte(tx[1], 'f'));
	ASSERT_EQ('d', get_byte(fx[0]));
	ASSERT_EQ(0, sx->err);

	/* Z: same content, merged onto the lazyfree KSM page by ksmd */
	z = fork();
	ASSERT_LE(0, z);
	if (!z) {
		char *p;

		CHILD_CHECK(test_cgroup_enter(cg, 0) == 0);
		p = map_isolated(1);
		CHILD_CHECK(p);
		memset(p, 0x78, psize());
		CHILD_CHECK(madvise(p, psize(), MADV_MERGEABLE) == 0);
		sz->addr = (uintptr_t)p;
		put_byte(fz[1], 'r');
		get_byte(tz[0]);
		sz->bad = !content_is(p, 0x78);
		_exit(0);
	}
	ASSERT_EQ('r', get_byte(fz[0]));
	for (end = now_sec() + 120; now_sec() < end; sleep_ms(50))
		if (pid_pfn(z, (void *)sz->addr) == pid_pfn(x, (void *)sx->addr))
			break;
	TH_LOG("Z maps X's lazyfree KSM page: %d",
	       pid_pfn(z, (void *)sz->addr) == pid_pfn(x, (void *)sx->addr));
	ksm_sysfs_write("run", 0);
	freed = reclaim_cgroup(cg);
	TH_LOG("pglazyfreed +%lld after memory.reclaim", freed);
	put_byte(tz[1], 'k');
	st = wait_status(z);
	close(tx[1]);
	waitpid(x, NULL, 0);
	ksm_knobs_restore(&knobs);
	test_cgroup_remove(cg, enabled);
	ASSERT_EQ(0, st);
	EXPECT_EQ(0, sz->bad)
		TH_LOG("F3 (global KSM): data lost for the process merged onto a lazyfree page");
}

/* ------------------------------------------------------------------ */
/* F6: uffd-wp                                                          */

struct writer {
	char *p;
	int done;
};

static void *write_page(void *arg)
{
	struct writer *w = arg;

	w->p[0] = 0x42;
	KSM_WRITE_ONCE(w->done, 1);
	return NULL;
}

TEST_F_TIMEOUT(long_run, uffd_wp_survives_merge, 60)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	struct uffdio_register reg = { 0 };
	struct uffdio_writeprotect wp = { 0 };
	struct ksm_merge_result res;
	struct writer w = { 0 };
	struct uffd_msg msg;
	struct pollfd pfd;
	bool bit57, trapped = false, merged0;
	pthread_t th;
	int uffd, fd, pm;
	char *buf;

	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		SKIP(return, "userfaultfd: %s", strerror(errno));
	if (ioctl(uffd, UFFDIO_API, &api))
		SKIP(return, "UFFD_FEATURE_PAGEFAULT_FLAG_WP: %s", strerror(errno));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	buf = map_isolated(2);
	ASSERT_NE(NULL, buf);
	memset(ISO(buf, 0), 0x21, psize());
	memset(ISO(buf, 1), 0x21, psize());
	reg.range.start = (uintptr_t)ISO(buf, 0);
	reg.range.len = psize();
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));
	wp.range = reg.range;
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_WRITEPROTECT, &wp));
	pm = pagemap_open(0);
	ASSERT_LE(0, pm);
	ASSERT_TRUE(pagemap_entry(pm, ISO(buf, 0)) & PM_UFFD_WP);

	/* Page 0 is scanned first: the candidate whose PTE the merge replaces */
	ASSERT_LE(0, merge_range(fd, KSM_PIDFD_SELF, buf, ISO_LEN(2), &res));
	res_print("merge", &res);
	bit57 = pagemap_entry(pm, ISO(buf, 0)) & PM_UFFD_WP;
	merged0 = page_is_ksm(0, ISO(buf, 0));
	w.p = ISO(buf, 0);
	ASSERT_EQ(0, pthread_create(&th, NULL, write_page, &w));
	pfd.fd = uffd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 3000) == 1 && read(uffd, &msg, sizeof(msg)) == sizeof(msg) &&
	    msg.event == UFFD_EVENT_PAGEFAULT &&
	    (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) {
		trapped = !KSM_READ_ONCE(w.done);
		wp.mode = 0;	/* resolve: unprotect and wake the writer */
		ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
	}
	pthread_join(th, NULL);
	TH_LOG("after the merge: page 0 KSM %d, pagemap uffd-wp %d; the write %s the monitor",
	       merged0, bit57, trapped ? "trapped to" : "did not reach");
	EXPECT_TRUE(bit57) TH_LOG("F6: the merge dropped uffd-wp from the PTE");
	EXPECT_TRUE(trapped || !merged0)
		TH_LOG("F6: a write to a uffd-wp page was missed by the monitor");
	EXPECT_EQ(0x42, ISO(buf, 0)[0]);
	close(pm);
	close(uffd);
	close(fd);
	munmap(buf, ISO_LEN(2));
}

TEST_F_TIMEOUT(long_run, soft_dirty_survives_merge, 60)
{
	struct ksm_merge_result res;
	int fd, pm;
	char *buf;

	buf = map_isolated(2);
	ASSERT_NE(NULL, buf);
	memset(ISO(buf, 0), 0x22, psize());
	memset(ISO(buf, 1), 0x22, psize());
	ASSERT_EQ(0, write_string_path("/proc/self/clear_refs", "4"));
	force_rewrite_byte(ISO(buf, 0));
	pm = pagemap_open(0);
	ASSERT_LE(0, pm);
	if (!(pagemap_entry(pm, ISO(buf, 0)) & PM_SOFT_DIRTY))
		SKIP(return,
		     "no soft-dirty tracking (CONFIG_MEM_SOFT_DIRTY off): pagemap bit 55 stays clear after a write");
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_LE(0, merge_range(fd, KSM_PIDFD_SELF, buf, ISO_LEN(2), &res));
	res_print("merge", &res);
	ASSERT_EQ(1, res.pages_merged);
	TH_LOG("after the merge: page 0 KSM %d, soft-dirty %d", page_is_ksm(0, ISO(buf, 0)),
	       !!(pagemap_entry(pm, ISO(buf, 0)) & PM_SOFT_DIRTY));
	EXPECT_TRUE(pagemap_entry(pm, ISO(buf, 0)) & PM_SOFT_DIRTY)
		TH_LOG("F6: the merge dropped soft-dirty: a page written since clear_refs");
	close(pm);
	close(fd);
	munmap(buf, ISO_LEN(2));
}

TEST_HARNESS_MAIN
