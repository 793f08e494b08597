// SPDX-License-Identifier: GPL-2.0
/*
 * ksmpart lifecycle: membership through fork, exec and exit, partition
 * lifetime (fds, members, in-flight SCM_RIGHTS), fd passing, concurrency
 * (closing the fd during a merge, racing joins, a target killed during a
 * merge, name churn) and teardown leaving no KSM metadata behind.
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>

#include "kselftest_harness.h"

#define EXEC_HELPER_ARG "--ksmpart-exec-helper"

/*
 * The exec target of life_exec_leaves: this binary again, run with
 * EXEC_HELPER_ARG WFD RFD PARTITION_FD. Runs before the harness' main (glibc
 * passes argc/argv to constructors). Reports 'N' if the new mm is not a
 * member (MADV_MERGEABLE works), 'M' if it is, then on 'j' joins through the
 * inherited partition fd and reports 'J' (or 'F'), and exits on EOF.
 */
static void __attribute__((constructor)) exec_helper(int argc, char **argv)
{
	int wfd, rfd, pfd, m;
	char c;

	if (argc < 5 || strcmp(argv[1], EXEC_HELPER_ARG))
		return;
	wfd = atoi(argv[2]);
	rfd = atoi(argv[3]);
	pfd = atoi(argv[4]);
	m = self_is_member_of_any();
	c = m == 0 ? 'N' : m == 1 ? 'M' : 'E';
	if (write(wfd, &c, 1) != 1)
		_exit(2);
	if (read(rfd, &c, 1) == 1 && c == 'j') {
		c = join_partition(pfd, KSM_PIDFD_SELF, NULL) == 0 ? 'J' : 'F';
		if (write(wfd, &c, 1) != 1)
			_exit(3);
		while (read(rfd, &c, 1) == 1)
			;
	}
	_exit(0);
}

/* Pages all equal to one seed. */
static char *map_same(size_t n, uint64_t seed)
{
	char *p = map_anon(n);
	size_t i;

	if (!p)
		return NULL;
	for (i = 0; i < n; i++)
		fill_page(p + i * psize(), seed);
	return p;
}

static bool all_have_seed(const char *p, size_t n, uint64_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!page_has_seed(p + i * psize(), seed))
			return false;
	return true;
}

struct xfer {
	char *addr;
	ssize_t ret;
	int err;
	struct ksm_merge_result res;
	int q[4];
};

FIXTURE(slow) {};
FIXTURE_SETUP(slow) {}
FIXTURE_TEARDOWN(slow) {}

/* ------------------------------------------------------------------ */
/* fork, exec, exit                                                    */

/*
 * A forked child of a member is a member: global KSM calls fail in it, the
 * parent can unmerge the child's range through the fd (only possible for a
 * member), and the child can leave.
 */
TEST(fork_child_is_member)
{
	struct xfer *x = map_shared(sizeof(*x));
	char *buf = map_same(8, 0x40000);
	int fd, pidfd, i, j;
	uint64_t k, pfn[8];
	struct chan ch;
	pid_t pid;

	ASSERT_NE(NULL, x);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), NULL));
	k = self_pfn(buf);
	ASSERT_EQ(8, pages_on_frame(0, buf, 8, k));
	EXPECT_KSM(k);

	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *scratch = map_anon(1);

		chan_child_side(&ch);
		CHILD_CHECK(scratch);
		errno = 0;
		x->q[0] = madvise(scratch, psize(), MADV_MERGEABLE) ? errno : 0;
		errno = 0;
		x->q[1] = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) ? errno : 0;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'r') == 0);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'l');
		CHILD_CHECK(all_have_seed(buf, 8, 0x40000));
		x->q[2] = sys_ksm_leave(fd, KSM_PIDFD_SELF, 0) ? errno : 0;
		x->q[3] = madvise(scratch, psize(), MADV_MERGEABLE) ? errno : 0;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'd') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('r', get_byte(ch.to_parent[0]));
	EXPECT_EQ(EBUSY, x->q[0]) TH_LOG("MADV_MERGEABLE in a forked member");
	EXPECT_EQ(EBUSY, x->q[1]) TH_LOG("PR_SET_MEMORY_MERGE in a forked member");
	pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, pidfd);
	EXPECT_EQ(1, is_member(fd, pidfd));
	/* The child inherited the mappings of the KSM page. */
	EXPECT_EQ(8, pages_on_frame(pid, buf, 8, k));

	/* Unmerging the child's range gives the child private copies only. */
	EXPECT_EQ((ssize_t)(8 * psize()), unmerge_range(fd, pidfd, buf, 8 * psize()));
	ASSERT_EQ(0, pids_pfns(pid, buf, 8, pfn));
	for (i = 0; i < 8; i++) {
		EXPECT_NE(k, pfn[i]);
		for (j = 0; j < i; j++)
			EXPECT_NE(pfn[j], pfn[i]);
	}
	EXPECT_EQ(8, pages_on_frame(0, buf, 8, k));
	EXPECT_EQ(8, ksm_merging_pages(0));

	ASSERT_EQ(0, put_byte(ch.to_child[1], 'l'));
	ASSERT_EQ('d', get_byte(ch.to_parent[0]));
	EXPECT_EQ(0, x->q[2]) TH_LOG("the child's ksm_leave: %s", strerror(x->q[2]));
	EXPECT_EQ(0, x->q[3]) TH_LOG("MADV_MERGEABLE after leaving: %s", strerror(x->q[3]));
	EXPECT_EQ(0, is_member(fd, pidfd));
	EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	close(pidfd);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 8 * psize());
	munmap(x, sizeof(*x));
}

/*
 * ksm_leave in a forked child unmerges the KSM pages it inherited (it has no
 * merge history of its own): afterwards no page of the child maps the
 * partition's KSM page (isolation guarantee) and the parent keeps it.
 */
TEST(leave_unmerges_inherited_mappings)
{
	char *buf = map_same(8, 0x41000);
	uint64_t k;
	pid_t pid;
	int fd;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), NULL));
	k = self_pfn(buf);
	ASSERT_EQ(8, pages_on_frame(0, buf, 8, k));
	EXPECT_KSM(k);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		CHILD_CHECK(pages_on_frame(0, buf, 8, k) == 8);
		CHILD_CHECK(sys_ksm_leave(fd, KSM_PIDFD_SELF, 0) == 0);
		CHILD_CHECK(pages_on_frame(0, buf, 8, k) == 0);
		CHILD_CHECK(ksm_merging_pages(0) == 0);
		CHILD_CHECK(all_have_seed(buf, 8, 0x41000));
		CHILD_CHECK(self_is_member_of_any() == 0);
		_exit(0);
	}
	EXPECT_EQ(0, wait_status(pid));
	EXPECT_EQ(8, pages_on_frame(0, buf, 8, k));
	EXPECT_TRUE(all_have_seed(buf, 8, 0x41000));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 8 * psize());
}

/* Membership is that of the moment of fork: a child forked before the join is not a member. */
TEST(fork_before_join_not_member)
{
	struct chan ch;
	int fd, pidfd;
	pid_t pid;

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		chan_child_side(&ch);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'q');
		CHILD_CHECK(self_is_member_of_any() == 0);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, NULL));
	pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, pidfd);
	EXPECT_EQ(0, is_member(fd, pidfd));
	ASSERT_EQ(0, put_byte(ch.to_child[1], 'q'));
	EXPECT_EQ(0, wait_status(pid));
	chan_parent_close(&ch);
	close(pidfd);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
}

/* exec replaces the mm: the new program is not a member; it may join again. */
TEST(exec_leaves)
{
	char *buf = map_same(4, 0x42000);
	char a[16], b[16], c[16];
	int fd, pidfd, res[2], hold[2], go[2];
	uint64_t k;
	pid_t pid;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);	/* no CLOEXEC: the helper uses it */
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	k = self_pfn(buf);
	ASSERT_EQ(0, pipe(res));
	ASSERT_EQ(0, pipe(hold));
	ASSERT_EQ(0, pipe2(go, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(res[0]);
		close(hold[1]);
		close(go[1]);
		CHILD_CHECK(get_byte(go[0]) == 'x');
		snprintf(a, sizeof(a), "%d", res[1]);
		snprintf(b, sizeof(b), "%d", hold[0]);
		snprintf(c, sizeof(c), "%d", fd);
		execl("/proc/self/exe", "ksm_part_life", EXEC_HELPER_ARG, a, b, c, (char *)NULL);
		_exit(120);
	}
	close(res[1]);
	close(hold[0]);
	close(go[0]);
	pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, pidfd);
	/* A member before the exec (forked from one) ... */
	EXPECT_EQ(1, is_member(fd, pidfd));
	ASSERT_EQ(0, put_byte(go[1], 'x'));
	/* ... not after it. */
	EXPECT_EQ('N', get_byte(res[0]));
	EXPECT_EQ(0, is_member(fd, pidfd));
	errno = 0;
	EXPECT_EQ(-1, sys_ksm_leave(fd, pidfd, 0));
	EXPECT_EQ(ENOENT, errno);
	/* The inherited fd works in the new program. */
	ASSERT_EQ(0, put_byte(hold[1], 'j'));
	EXPECT_EQ('J', get_byte(res[0]));
	EXPECT_EQ(1, is_member(fd, pidfd));
	close(hold[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(res[0]);
	close(go[1]);
	close(pidfd);
	/* Our own sharing is untouched. */
	EXPECT_EQ(4, pages_on_frame(0, buf, 4, k));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 4 * psize());
}

/*
 * A named partition held only by a member (all fds closed) stays findable;
 * once the member has exited and been reaped, the name is gone.
 */
TEST(exit_leaves_named_partition_removed)
{
	struct chan ch;
	char name[64];
	int fd, fd2, pidfd;
	pid_t pid;

	unique_name(name, sizeof(name), "exit");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf = map_same(4, 0x43000);

		chan_child_side(&ch);
		CHILD_CHECK(cbuf);
		CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, cbuf, 4 * psize(), NULL) ==
			    (ssize_t)(4 * psize()));
		close(fd);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'm') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('m', get_byte(ch.to_parent[0]));
	pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, pidfd);
	close(fd);

	/* Only the member holds it now: still findable, and it is the same partition. */
	fd2 = sys_ksm_open(name, 0, 0);
	ASSERT_LE(0, fd2) TH_LOG("a partition with a member vanished: %s", strerror(errno));
	EXPECT_EQ(1, is_member(fd2, pidfd));
	close(fd2);

	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	/* exit_mm() ran before the zombie became reapable: no member left. */
	errno = 0;
	EXPECT_EQ(-1, sys_ksm_open(name, 0, 0));
	EXPECT_EQ(ENOENT, errno);
	close(ch.to_parent[0]);
	close(pidfd);
}

/* Membership keeps a named partition alive with all fds closed; leaving drops it. */
TEST(named_partition_findable_while_member)
{
	char *buf = map_same(4, 0x44000);
	char name[64];
	uint64_t k;
	int fd;

	ASSERT_NE(NULL, buf);
	unique_name(name, sizeof(name), "member");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	k = self_pfn(buf);
	close(fd);
	EXPECT_EQ(4, pages_on_frame(0, buf, 4, k));
	EXPECT_EQ(1, self_is_member_of_any());

	fd = sys_ksm_open(name, 0, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(0, pages_on_frame(0, buf, 4, k));
	close(fd);
	errno = 0;
	EXPECT_EQ(-1, sys_ksm_open(name, 0, 0));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_TRUE(all_have_seed(buf, 4, 0x44000));
	munmap(buf, 4 * psize());
}

/* An anonymous partition lives on through its member after the last close. */
TEST(anonymous_partition_lives_while_member)
{
	char *buf = map_same(4, 0x45000);
	uint64_t k;
	int fd;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	k = self_pfn(buf);
	close(fd);
	EXPECT_EQ(4, pages_on_frame(0, buf, 4, k));
	EXPECT_KSM(k);
	EXPECT_EQ(4, ksm_merging_pages(0));
	EXPECT_EQ(1, self_is_member_of_any());
	/* Writing still COWs correctly. */
	buf[5] ^= 1;
	EXPECT_NE(k, self_pfn(buf));
	buf[5] ^= 1;
	EXPECT_TRUE(all_have_seed(buf, 4, 0x45000));
	EXPECT_EQ(3, pages_on_frame(0, buf, 4, k));
	munmap(buf, 4 * psize());
}

/* A member exiting leaves the other members' sharing intact. */
TEST(member_exit_keeps_others_sharing)
{
	char *buf = map_same(4, 0x46000);
	uint64_t k;
	pid_t pid;
	int fd;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	k = self_pfn(buf);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf = map_same(4, 0x46000);
		struct ksm_merge_result res;

		CHILD_CHECK(cbuf);
		CHILD_CHECK(merge_range(fd, KSM_PIDFD_SELF, cbuf, 4 * psize(), &res) ==
			    (ssize_t)(4 * psize()));
		CHILD_CHECK(res.pages_merged == 4);
		CHILD_CHECK(pages_on_frame(0, cbuf, 4, k) == 4);
		_exit(0);
	}
	EXPECT_EQ(0, wait_status(pid));
	EXPECT_EQ(4, pages_on_frame(0, buf, 4, k));
	EXPECT_KSM(k);
	EXPECT_EQ(4, ksm_merging_pages(0));
	EXPECT_TRUE(all_have_seed(buf, 4, 0x46000));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 4 * psize());
}

/* The parent makes a child leave through its pidfd. */
TEST(leave_other_process_by_pidfd)
{
	struct xfer *x = map_shared(sizeof(*x));
	char *buf = map_same(4, 0x47000);
	struct chan ch;
	int fd, pidfd;
	uint64_t k;
	pid_t pid;

	ASSERT_NE(NULL, x);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf = map_same(4, 0x47000);

		chan_child_side(&ch);
		CHILD_CHECK(cbuf);
		x->addr = cbuf;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'r') == 0);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'q');
		x->q[0] = self_is_member_of_any();
		CHILD_CHECK(all_have_seed(cbuf, 4, 0x47000));
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('r', get_byte(ch.to_parent[0]));
	/* The child is no member yet: pages it shares with us would not merge. */
	unshare_pages(buf, 4);
	pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, pidfd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, pidfd, x->addr, 4 * psize(), NULL));
	k = self_pfn(buf);
	ASSERT_EQ(4, pages_on_frame(pid, x->addr, 4, k));

	ASSERT_EQ(0, sys_ksm_leave(fd, pidfd, 0));
	EXPECT_EQ(0, pages_on_frame(pid, x->addr, 4, k));
	EXPECT_EQ(0, ksm_merging_pages(pid));
	EXPECT_EQ(0, is_member(fd, pidfd));
	EXPECT_EQ(4, pages_on_frame(0, buf, 4, k));
	EXPECT_EQ(4, ksm_merging_pages(0));
	ASSERT_EQ(0, put_byte(ch.to_child[1], 'q'));
	EXPECT_EQ(0, wait_status(pid));
	EXPECT_EQ(0, x->q[0]);
	chan_parent_close(&ch);
	close(pidfd);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 4 * psize());
	munmap(x, sizeof(*x));
}

/* ------------------------------------------------------------------ */
/* fd passing                                                          */

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))], d = 'f';
	struct iovec iov = { &d, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))], d;
	struct iovec iov = { &d, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/* A process that never inherited the fd gets it by SCM_RIGHTS and merges with it. */
TEST(scm_rights_passing)
{
	struct xfer *x = map_shared(sizeof(*x));
	uint64_t s[8], mine[8], theirs[8];
	struct ksm_merge_result res;
	int sv[2], fd, i;
	struct chan ch;
	char *buf;
	pid_t pid;

	ASSERT_NE(NULL, x);
	for (i = 0; i < 8; i++)
		s[i] = 0x48000 + i;
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(0, chan_open(&ch));
	/* Forked before the partition exists. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char path[64], link[128];
		char *cbuf;
		ssize_t n;
		int rfd;

		chan_child_side(&ch);
		close(sv[0]);
		rfd = recv_fd(sv[1]);
		CHILD_CHECK(rfd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", rfd);
		n = readlink(path, link, sizeof(link) - 1);
		CHILD_CHECK(n > 0);
		link[n] = 0;
		CHILD_CHECK(!strcmp(link, "anon_inode:[ksm_partition]"));
		cbuf = map_seeded(8, s);
		CHILD_CHECK(cbuf);
		x->addr = cbuf;
		x->ret = merge_range(rfd, KSM_PIDFD_SELF, cbuf, 8 * psize(), &x->res);
		x->err = errno;
		x->q[0] = is_member(rfd, KSM_PIDFD_SELF);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'm') == 0);
		get_byte(ch.to_child[0]);
		CHILD_CHECK(first_bad_page(cbuf, 8, s) == -1);
		_exit(0);
	}
	chan_parent_side(&ch);
	close(sv[1]);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	buf = map_seeded(8, s);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	EXPECT_EQ(8, res.pages_unshared);
	ASSERT_EQ(0, send_fd(sv[0], fd));
	close(fd);	/* our membership keeps the partition; the child has its own fd */

	ASSERT_EQ('m', get_byte(ch.to_parent[0]));
	ASSERT_EQ((ssize_t)(8 * psize()), x->ret) TH_LOG("merge with the passed fd: %s",
							 strerror(x->err));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, x->res.flags);
	EXPECT_EQ(8, x->res.pages_merged);
	EXPECT_EQ(1, x->q[0]);
	ASSERT_EQ(0, pids_pfns(0, buf, 8, mine));
	ASSERT_EQ(0, pids_pfns(pid, x->addr, 8, theirs));
	for (i = 0; i < 8; i++)
		EXPECT_EQ(mine[i], theirs[i]) TH_LOG("page %d", i);
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	close(sv[0]);
	EXPECT_EQ(-1, first_bad_page(buf, 8, s));
	munmap(buf, 8 * psize());
	munmap(x, sizeof(*x));
}

/* An fd in flight (sent, not yet received, sender's copy closed) keeps the name. */
TEST(scm_rights_inflight_keeps_name)
{
	int sv[2], fd, fd2;
	struct chan ch;
	char name[64];
	pid_t pid;

	unique_name(name, sizeof(name), "inflight");
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int rfd;

		chan_child_side(&ch);
		close(sv[0]);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'g');
		rfd = recv_fd(sv[1]);
		CHILD_CHECK(rfd >= 0);
		CHILD_CHECK(join_partition(rfd, KSM_PIDFD_SELF, NULL) == 0);
		/* The same partition as the name. */
		{
			int nfd = sys_ksm_open(name, 0, 0);

			CHILD_CHECK(nfd >= 0);
			CHILD_CHECK(is_member(nfd, KSM_PIDFD_SELF) == 1);
			close(nfd);
		}
		CHILD_CHECK(sys_ksm_leave(rfd, KSM_PIDFD_SELF, 0) == 0);
		close(rfd);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'd') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	close(sv[1]);
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, send_fd(sv[0], fd));
	close(fd);
	/* Only the in-flight file holds it. */
	fd2 = sys_ksm_open(name, 0, 0);
	EXPECT_LE(0, fd2) TH_LOG("partition with an in-flight fd vanished: %s", strerror(errno));
	if (fd2 >= 0)
		close(fd2);
	ASSERT_EQ(0, put_byte(ch.to_child[1], 'g'));
	ASSERT_EQ('d', get_byte(ch.to_parent[0]));
	/* Received, left and closed: nothing holds it any more. */
	errno = 0;
	EXPECT_EQ(-1, sys_ksm_open(name, 0, 0));
	EXPECT_EQ(ENOENT, errno);
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	close(sv[0]);
}

/* ------------------------------------------------------------------ */
/* Concurrency                                                         */

struct bg_merge {
	int fd, pidfd;
	char *buf;
	size_t len;
	ssize_t ret;
	int err;
	struct ksm_merge_result res;
	int started, done;
};

static void *bg_merge_fn(void *p)
{
	struct bg_merge *m = p;

	__atomic_store_n(&m->started, 1, __ATOMIC_SEQ_CST);
	m->ret = merge_range(m->fd, m->pidfd, m->buf, m->len, &m->res);
	m->err = errno;
	__atomic_store_n(&m->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * Closing the partition fd in another thread while ksm_merge runs over a
 * large range: the call holds its own reference and completes normally.
 * The close is issued once the merge has visibly made progress
 * (ksm_merging_pages rising) and is at most half done.
 */
TEST_F_TIMEOUT(slow, close_fd_during_merge, 600)
{
	const size_t n = (64UL << 20) / psize();
	struct bg_merge m = { 0 };
	bool closed_mid = false;
	pthread_t th;
	long seen = 0;
	size_t i;
	int pm, bad;

	m.buf = map_anon(n);
	ASSERT_NE(NULL, m.buf);
	for (i = 0; i < n; i++)
		fill_page(m.buf + i * psize(), 0x49000 + i / 2);
	m.len = n * psize();
	m.pidfd = KSM_PIDFD_SELF;
	m.fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, m.fd);
	ASSERT_EQ(0, pthread_create(&th, NULL, bg_merge_fn, &m));
	while (!__atomic_load_n(&m.started, __ATOMIC_SEQ_CST))
		sched_yield();
	while (!__atomic_load_n(&m.done, __ATOMIC_SEQ_CST)) {
		seen = ksm_merging_pages(0);
		if (seen > 0 && seen < (long)n / 2) {
			close(m.fd);
			closed_mid = !__atomic_load_n(&m.done, __ATOMIC_SEQ_CST);
			break;
		}
		sleep_ms(2);
	}
	pthread_join(th, NULL);
	if (!closed_mid) {
		close(m.fd);
		SKIP(goto out, "the merge was over before the fd could be closed during it");
	}
	TH_LOG("closed the fd with %ld of %zu pages merged", seen, n);
	EXPECT_EQ(-1, fcntl(m.fd, F_GETFD));
	ASSERT_EQ((ssize_t)m.len, m.ret) TH_LOG("merge: %s", strerror(m.err));
	EXPECT_TRUE(res_invariants_hold(&m.res, n));
	EXPECT_EQ(n, m.res.pages_scanned);
	EXPECT_EQ(n / 2, m.res.pages_merged);
	EXPECT_EQ(n / 2, m.res.pages_unshared);
	EXPECT_EQ(n, ksm_merging_pages(0));
	/* Sample the pairs. */
	pm = pagemap_open(0);
	ASSERT_LE(0, pm);
	bad = 0;
	for (i = 0; i < n; i += 2 * 61) {
		uint64_t a = pfn_of(pm, m.buf + i * psize());
		uint64_t b = pfn_of(pm, m.buf + (i + 1) * psize());

		if (!a || a != b)
			bad++;
	}
	close(pm);
	EXPECT_EQ(0, bad);
	for (i = 0; i < n; i += 97)
		if (!page_has_seed(m.buf + i * psize(), 0x49000 + i / 2))
			break;
	EXPECT_LE(n, i);
	/* Still a member: membership does not depend on the fd. */
	EXPECT_EQ(1, self_is_member_of_any());
out:
	munmap(m.buf, m.len);
}

/* A target killed during a merge: the call stops cleanly (progress or ESRCH). */
TEST_F_TIMEOUT(slow, target_killed_during_merge, 600)
{
	const size_t n = (64UL << 20) / psize();
	struct bg_merge m = { 0 };
	struct chan ch;
	char **addr = map_shared(sizeof(char *));
	pthread_t th;
	char *own;
	pid_t pid;
	int st;

	ASSERT_NE(NULL, addr);
	m.fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, m.fd);
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf = map_anon(n);
		size_t i;

		chan_child_side(&ch);
		CHILD_CHECK(cbuf);
		for (i = 0; i < n; i++)
			fill_page(cbuf + i * psize(), 0x4a000 + i / 2);
		*addr = cbuf;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'r') == 0);
		get_byte(ch.to_child[0]);	/* killed before EOF */
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('r', get_byte(ch.to_parent[0]));
	m.pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, m.pidfd);
	m.buf = *addr;
	m.len = n * psize();
	ASSERT_EQ(0, pthread_create(&th, NULL, bg_merge_fn, &m));
	while (!__atomic_load_n(&m.started, __ATOMIC_SEQ_CST))
		sched_yield();
	while (!__atomic_load_n(&m.done, __ATOMIC_SEQ_CST) && ksm_merging_pages(pid) <= 0)
		sched_yield();
	kill(pid, SIGKILL);
	pthread_join(th, NULL);
	st = wait_status(pid);
	EXPECT_EQ(128 + SIGKILL, st);
	TH_LOG("merge of the killed target returned %zd (%s), %zu bytes asked%s", m.ret,
	       m.ret < 0 ? strerror(m.err) : "ok", m.len,
	       m.ret == (ssize_t)m.len ? " (ran to completion: the kill did not stop it)" : "");
	if (m.ret < 0) {
		EXPECT_EQ(ESRCH, m.err);
	} else {
		EXPECT_GE((ssize_t)m.len, m.ret);
		EXPECT_TRUE(res_invariants_hold(&m.res, (m.ret + psize() - 1) / psize()));
	}
	/* The partition still works. */
	own = map_same(4, 0x4b000);
	ASSERT_NE(NULL, own);
	EXPECT_EQ((ssize_t)(4 * psize()),
		  merge_range(m.fd, KSM_PIDFD_SELF, own, 4 * psize(), &m.res));
	EXPECT_EQ(3, m.res.pages_merged);
	EXPECT_EQ(0, sys_ksm_leave(m.fd, KSM_PIDFD_SELF, 0));
	chan_parent_close(&ch);
	close(m.pidfd);
	close(m.fd);
	munmap(own, 4 * psize());
}

/* Threads share the mm, hence the membership. */
static void *thread_probe(void *p)
{
	int *r = p;
	struct ksm_merge_result res;

	r[0] = self_is_member_of_any();
	r[1] = join_partition(r[2], KSM_PIDFD_SELF, &res) == 0 ? (int)res.flags : -1;
	return NULL;
}

TEST(threads_share_membership)
{
	int r[3] = { -1, -1, -1 };
	pthread_t th;
	int fd;

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, NULL));
	r[2] = fd;
	ASSERT_EQ(0, pthread_create(&th, NULL, thread_probe, r));
	pthread_join(th, NULL);
	EXPECT_EQ(1, r[0]);
	EXPECT_EQ(0, r[1]) TH_LOG("a thread of a member joined again (flags %d)", r[1]);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
}

/*
 * Concurrent merges of one range by two threads: each result is
 * consistent, content is preserved, and a final merge finds all pairs merged.
 */
TEST_F_TIMEOUT(slow, concurrent_merges_same_range, 300)
{
	struct bg_merge m[2];
	pthread_t th[2];
	int fd, round, w, k, shared;

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	for (round = 0; round < 5; round++) {
		struct ksm_merge_result res;
		char *buf = map_anon(64);

		ASSERT_NE(NULL, buf);
		for (k = 0; k < 64; k++)
			fill_page(buf + k * psize(), 0x4d000 + 64 * round + k / 2);
		for (w = 0; w < 2; w++) {
			m[w] = (struct bg_merge){ .fd = fd, .pidfd = KSM_PIDFD_SELF, .buf = buf,
						  .len = 64 * psize() };
			ASSERT_EQ(0, pthread_create(&th[w], NULL, bg_merge_fn, &m[w]));
		}
		for (w = 0; w < 2; w++) {
			pthread_join(th[w], NULL);
			EXPECT_EQ((ssize_t)(64 * psize()), m[w].ret)
				TH_LOG("%s", strerror(m[w].err));
			EXPECT_EQ(64, m[w].res.pages_scanned);
			EXPECT_TRUE(res_invariants_hold(&m[w].res, 64));
		}
		/*
		 * A pair merges in one event, counted once (for the page scanned
		 * then), by whichever call got there; a pair both calls failed
		 * to merge stays unmerged. So the merged counts add up to the
		 * pairs now on one frame.
		 */
		shared = 0;
		for (k = 0; k < 64; k += 2)
			shared += self_pfn(buf + k * psize()) == self_pfn(buf + (k + 1) * psize());
		TH_LOG("round %d: merged %llu + %llu, failed %llu + %llu, %d pairs merged", round,
		       (unsigned long long)m[0].res.pages_merged,
		       (unsigned long long)m[1].res.pages_merged,
		       (unsigned long long)m[0].res.pages_failed,
		       (unsigned long long)m[1].res.pages_failed, shared);
		EXPECT_EQ(shared, m[0].res.pages_merged + m[1].res.pages_merged);
		/* A serial call merges the rest, one merge per remaining pair. */
		EXPECT_EQ((ssize_t)(64 * psize()),
			  merge_range(fd, KSM_PIDFD_SELF, buf, 64 * psize(), &res));
		EXPECT_EQ(32 - shared, res.pages_merged) TH_LOG("round %d", round);
		EXPECT_EQ(0, res.pages_failed);
		for (k = 0; k < 64; k += 2)
			if (self_pfn(buf + k * psize()) != self_pfn(buf + (k + 1) * psize()))
				break;
		EXPECT_EQ(64, k) TH_LOG("pair %d not merged", k / 2);
		for (k = 0; k < 64; k++)
			if (!page_has_seed(buf + k * psize(), 0x4d000 + 64 * round + k / 2))
				break;
		EXPECT_EQ(64, k);
		munmap(buf, 64 * psize());
	}
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
}

struct join_race {
	pthread_barrier_t *bar;
	int fd, pidfd;
	ssize_t ret;
	int err;
	struct ksm_merge_result res;
};

static void *join_race_fn(void *p)
{
	struct join_race *j = p;

	pthread_barrier_wait(j->bar);
	j->ret = join_partition(j->fd, j->pidfd, &j->res);
	j->err = errno;
	return NULL;
}

/* Two partitions racing to join one non-member: exactly one wins, the other gets EBUSY. */
TEST(concurrent_join_exclusive)
{
	struct join_race j[2];
	pthread_barrier_t bar;
	pthread_t th[2];
	int fd[2], iter, w;
	struct chan ch;
	pid_t pid;

	fd[0] = sys_ksm_open(NULL, 0, 0);
	fd[1] = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd[0]);
	ASSERT_LE(0, fd[1]);
	for (iter = 0; iter < 10; iter++) {
		int pidfd;

		ASSERT_EQ(0, chan_open(&ch));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			chan_child_side(&ch);
			get_byte(ch.to_child[0]);
			_exit(0);
		}
		chan_parent_side(&ch);
		pidfd = sys_pidfd_open(pid, 0);
		ASSERT_LE(0, pidfd);
		ASSERT_EQ(0, pthread_barrier_init(&bar, NULL, 2));
		for (w = 0; w < 2; w++) {
			j[w] = (struct join_race){ .bar = &bar, .fd = fd[w], .pidfd = pidfd };
			ASSERT_EQ(0, pthread_create(&th[w], NULL, join_race_fn, &j[w]));
		}
		for (w = 0; w < 2; w++)
			pthread_join(th[w], NULL);
		pthread_barrier_destroy(&bar);
		ASSERT_TRUE((j[0].ret == 0) != (j[1].ret == 0))
			TH_LOG("iteration %d: results %zd/%zd", iter, j[0].ret, j[1].ret);
		w = j[0].ret == 0 ? 0 : 1;
		EXPECT_EQ(KSM_MERGE_RESULT_JOINED, j[w].res.flags);
		EXPECT_EQ(EBUSY, j[!w].err);
		EXPECT_EQ(1, is_member(fd[w], pidfd));
		EXPECT_EQ(0, is_member(fd[!w], pidfd));
		close(ch.to_child[1]);
		EXPECT_EQ(0, wait_status(pid));
		close(ch.to_parent[0]);
		close(pidfd);
	}
	close(fd[0]);
	close(fd[1]);
}

struct churn {
	const char *name;
	bool create;
	int iterations;
	int bad;
};

static void *churn_fn(void *p)
{
	struct churn *c = p;
	int i, fd;

	for (i = 0; i < c->iterations; i++) {
		errno = 0;
		fd = sys_ksm_open(c->name, c->create ? KSM_OPEN_CREATE : 0, c->create ? 0600 : 0);
		if (fd >= 0)
			close(fd);
		else if (c->create || errno != ENOENT)
			c->bad++;
	}
	return NULL;
}

/* Open/close churn on one name: CREATE always succeeds, plain opens find it or ENOENT. */
TEST(name_churn_threads)
{
	struct churn c[6];
	pthread_t th[6];
	char name[64];
	int i;

	unique_name(name, sizeof(name), "churn");
	for (i = 0; i < 6; i++) {
		c[i] = (struct churn){ name, i < 4, 300, 0 };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, churn_fn, &c[i]));
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(0, c[i].bad) TH_LOG("thread %d (%s)", i, c[i].create ? "create" : "open");
	}
	errno = 0;
	EXPECT_EQ(-1, sys_ksm_open(name, 0, 0));
	EXPECT_EQ(ENOENT, errno);
}

/* ------------------------------------------------------------------ */
/* Teardown frees every object                                         */

#define NPARTS 200

/*
 * 200 partitions, each with one member that merges 2 pairs and 4 unique
 * pages (stable nodes and rmap items), torn down in three orders (leave
 * then exit; exit as a member after closing the fd; exit holding the fd),
 * with the parent's fd closed before or after. Afterwards the objects in the
 * ksm_rmap_item / ksm_stable_node caches return to the baseline.
 */
TEST_F_TIMEOUT(slow, many_partitions_no_slab_leak, 600)
{
	static const char *const caches[] = { "ksm_rmap_item", "ksm_stable_node" };
	const long tolerance = 32;
	int fds[NPARTS], done[2], release[2], i;
	long base, peak, now = -1;
	pid_t pids[NPARTS];
	char why[160];
	bool merged;
	double end;

	base = slab_objects(caches, 2, &merged, why, sizeof(why));
	if (base < 0)
		SKIP(return, "%s", why);
	TH_LOG("baseline %ld objects%s", base,
	       merged ? " (caches shared with other slab users)" : "");

	ASSERT_EQ(0, pipe(done));
	ASSERT_EQ(0, pipe(release));
	for (i = 0; i < NPARTS; i++) {
		fds[i] = sys_ksm_open(NULL, KSM_OPEN_CLOEXEC, 0);
		ASSERT_LE(0, fds[i]);
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			uint64_t s[8] = { 1, 1, 2, 2, 3, 4, 5, 6 };
			struct ksm_merge_result res;
			char *buf;
			int k;

			close(done[0]);
			close(release[1]);
			/* Hold no other partition than our own. */
			for (k = 0; k < i; k++)
				close(fds[k]);
			for (k = 0; k < 8; k++)
				s[k] += 0x4c000 + 16 * i;
			buf = map_seeded(8, s);
			CHILD_CHECK(buf);
			CHILD_CHECK(merge_range(fds[i], KSM_PIDFD_SELF, buf, 8 * psize(), &res) ==
				    (ssize_t)(8 * psize()));
			CHILD_CHECK(res.pages_merged == 2 && res.pages_unshared == 6);
			if (i % 3 == 1)
				close(fds[i]);
			CHILD_CHECK(put_byte(done[1], 'm') == 0);
			get_byte(release[0]);	/* EOF: tear down */
			if (i % 3 == 0)
				CHILD_CHECK(sys_ksm_leave(fds[i], KSM_PIDFD_SELF, 0) == 0);
			_exit(0);
		}
	}
	close(done[1]);
	close(release[0]);
	for (i = 0; i < NPARTS; i++)
		ASSERT_EQ('m', get_byte(done[0]));

	peak = slab_objects(caches, 2, &merged, why, sizeof(why));
	TH_LOG("with %d partitions alive: %ld objects", NPARTS, peak);
	/* At least the 8 rmap items per member must show, or we measure nothing. */
	EXPECT_LE(base + NPARTS * 8, peak)
		TH_LOG("partition metadata does not show in %s/%s", caches[0], caches[1]);

	/* Half of the parent's fds go before the members, half after. */
	for (i = 0; i < NPARTS; i += 2)
		close(fds[i]);
	close(release[1]);
	for (i = 0; i < NPARTS; i++)
		EXPECT_EQ(0, wait_status(pids[i]));
	for (i = 1; i < NPARTS; i += 2)
		close(fds[i]);
	close(done[0]);

	end = now_sec() + 10;
	do {
		now = slab_objects(caches, 2, &merged, why, sizeof(why));
		if (now <= base + tolerance)
			break;
		sleep_ms(200);
	} while (now_sec() < end);
	TH_LOG("after teardown: %ld objects (baseline %ld)", now, base);
	EXPECT_GE(base + tolerance, now) TH_LOG("%ld KSM objects not freed", now - base);
}

TEST_HARNESS_MAIN
