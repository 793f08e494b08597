// SPDX-License-Identifier: GPL-2.0
/*
 * ksmpart isolation matrix: identical pages held by two processes (or two
 * ranges) in every placement pair - same partition, different partitions,
 * partition vs global KSM (madvise and prctl, ksmd running fast), partition
 * vs no KSM, before/after leave, parent/child across fork, after exec - must
 * share a frame exactly when they should, checked in both directions through
 * /proc/PID/pagemap. Then the adversarial cases: a member joining a second
 * partition, re-enabling global KSM, merging another user's process, opening
 * another user's partition by name, and what a user namespace grants.
 *
 * Every process under test is a "peer": a forked child (or the exec'ed
 * image of one) holding NPG pages - NCROSS "cross" pages whose content the
 * peers of a cell have in common, and a pair of equal "intra" pages of its
 * own, which must merge whenever the peer is in a merging domain (the
 * positive control of every isolated cell). Peers obey commands over a pipe
 * and answer with a report (membership, content check, PFNs from their own
 * pagemap). The test process (root, never a member) orchestrates, merges
 * peers through pidfds, and reads PFNs itself too.
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <sched.h>
#include <linux/capability.h>
#include <stddef.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"

#define NPG 6		/* pages per peer */
#define NCROSS 4	/* pages 0..3: cross content; 4 and 5: the intra pair */
#define UNPRIV_UID 65534
#define OTHER_UID 65533
#define EXEC_PEER_ARG "--ksm-isolation-exec-peer"

/* ------------------------------------------------------------------ */
/* Cell accounting, shared by the forked test processes                */

struct cell_counts {
	int must_share, must_not_share, behaviour, failed;
};

static struct cell_counts *cells;
static pid_t main_pid;

static void __attribute__((constructor)) cells_init(void)
{
	main_pid = getpid();
	cells = mmap(NULL, sizeof(*cells), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cells == MAP_FAILED)
		cells = NULL;
}

static void __attribute__((destructor)) cells_summary(void)
{
	if (getpid() != main_pid || !cells)
		return;
	printf("# isolation matrix: %d cells checked, %d failed\n"
	       "# isolation matrix: %d must-share, %d must-not-share, %d errno/behaviour\n",
	       cells->must_share + cells->must_not_share + cells->behaviour, cells->failed,
	       cells->must_share, cells->must_not_share, cells->behaviour);
}

/* ------------------------------------------------------------------ */
/* Peers                                                               */

enum peer_op {
	OP_REPORT = 'r',	/* report only */
	OP_MERGE = 'm',		/* ksm_merge(fd, SELF, own buffer) */
	OP_JOIN = 'j',		/* ksm_merge(fd, SELF, vlen 0) */
	OP_LEAVE = 'l',		/* ksm_leave(fd, SELF) */
	OP_MADV = 'g',		/* madvise(MADV_MERGEABLE) on own buffer */
	OP_UNMERGEABLE = 'u',	/* madvise(MADV_UNMERGEABLE) on own buffer */
	OP_PRCTL_ON = 'p',	/* PR_SET_MEMORY_MERGE 1 */
	OP_PRCTL_OFF = 'o',	/* PR_SET_MEMORY_MERGE 0 */
	OP_PRCTL_GET = 'q',	/* PR_GET_MEMORY_MERGE */
	OP_OTHER = 'O',		/* act on process target through fd, see enum other */
	OP_OPEN = 'n',		/* ksm_open(name or NULL, flags, mode) */
	OP_FORK = 'f',		/* fork; the child becomes the peer of the spare channel */
	OP_EXEC = 'x',		/* exec /proc/self/exe as a fresh peer */
	OP_USERNS = 'U',	/* unshare(CLONE_NEWUSER), map uid 0 to ours */
	OP_NEWIPC = 'I',	/* unshare(CLONE_NEWIPC) */
	OP_INITIAL = 'i',	/* (reply only) first report of a new peer */
};

enum other { OTHER_JOIN, OTHER_MERGE, OTHER_UNMERGE, OTHER_LEAVE };

struct cmd {
	int op;
	int fd;
	int how;		/* OP_OTHER: enum other */
	pid_t target;		/* OP_OTHER */
	uintptr_t taddr;	/* OP_OTHER: target's buffer */
	unsigned int flags;	/* OP_OPEN */
	unsigned int mode;	/* OP_OPEN */
	char name[64];		/* OP_OPEN, "" for NULL */
};

struct reply {
	int op;
	int err;
	long ret;
	pid_t pid;
	uid_t uid;
	long part_id;		/* ksm_stat "ksm_partition": 0 non-member, -1 unreadable */
	int bad;		/* first bad page (100 + i: inherited buffer), -1 if intact */
	long merging;		/* ksm_merging_pages */
	uintptr_t addr;		/* own buffer */
	uintptr_t inh;		/* buffer inherited across fork, 0 if none */
	uint64_t pfn[NPG];	/* from its own pagemap (0 unless root) */
	struct ksm_merge_result res;
};

struct peer_state {
	int rfd, wfd, spare_rfd, spare_wfd;
	char *buf, *inh;
	uint64_t seeds[NPG], inh_seeds[NPG];
};

static void peer_map(struct peer_state *s, uint64_t cross0, uint64_t intra)
{
	int i;

	for (i = 0; i < NCROSS; i++)
		s->seeds[i] = cross0 + i;
	for (i = NCROSS; i < NPG; i++)
		s->seeds[i] = intra;
	s->buf = map_seeded(NPG, s->seeds);
	if (!s->buf)
		_exit(90);
}

static void peer_send(struct peer_state *s, struct reply *r, int op)
{
	long bad;

	r->op = op;
	r->pid = getpid();
	r->uid = getuid();
	r->part_id = ksm_stat(0, "ksm_partition");
	bad = first_bad_page(s->buf, NPG, s->seeds);
	if (bad < 0 && s->inh) {
		bad = first_bad_page(s->inh, NPG, s->inh_seeds);
		if (bad >= 0)
			bad += 100;
	}
	r->bad = bad;
	r->merging = ksm_merging_pages(0);
	r->addr = (uintptr_t)s->buf;
	r->inh = (uintptr_t)s->inh;
	pids_pfns(0, s->buf, NPG, r->pfn);
	if (write(s->wfd, r, sizeof(*r)) != sizeof(*r))
		_exit(91);
}

/* Effective CAP_SYS_PTRACE, CAP_IPC_OWNER and CAP_SYS_ADMIN (in the current user namespace)? */
static bool has_caps_in_ns(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return false;
	return (data[0].effective & (1U << CAP_SYS_PTRACE)) &&
	       (data[0].effective & (1U << CAP_IPC_OWNER)) &&
	       (data[0].effective & (1U << CAP_SYS_ADMIN));
}

static long peer_other(const struct cmd *c, int *err)
{
	int pidfd = sys_pidfd_open(c->target, 0);
	long r = -1;

	if (pidfd < 0) {
		*err = errno;
		return -1;
	}
	errno = 0;
	switch (c->how) {
	case OTHER_JOIN:
		r = join_partition(c->fd, pidfd, NULL);
		break;
	case OTHER_MERGE:
		r = merge_range(c->fd, pidfd, (void *)c->taddr, NPG * psize(), NULL);
		break;
	case OTHER_UNMERGE:
		r = unmerge_range(c->fd, pidfd, (void *)c->taddr, NPG * psize());
		break;
	case OTHER_LEAVE:
		r = sys_ksm_leave(c->fd, pidfd, 0);
		break;
	}
	*err = errno;
	close(pidfd);
	return r;
}

static void peer_exec(struct peer_state *s)
{
	char a[5][24];

	snprintf(a[0], sizeof(a[0]), "%d", s->rfd);
	snprintf(a[1], sizeof(a[1]), "%d", s->wfd);
	/* Same cross content, a new intra seed: the new image maps fresh pages. */
	snprintf(a[2], sizeof(a[2]), "%llu", (unsigned long long)s->seeds[0]);
	snprintf(a[3], sizeof(a[3]), "%llu", (unsigned long long)s->seeds[NCROSS] + 0x20);
	execl("/proc/self/exe", "ksm_part_isolation", EXEC_PEER_ARG, a[0], a[1], a[2], a[3],
	      (char *)NULL);
}

/* The command loop of a peer; never returns. */
static __noreturn void peer_loop(struct peer_state *s, int first_op)
{
	struct reply r;
	struct cmd c;
	FILE *f;

	memset(&r, 0, sizeof(r));
	peer_send(s, &r, first_op);
	while (read(s->rfd, &c, sizeof(c)) == sizeof(c)) {
		memset(&r, 0, sizeof(r));
		errno = 0;
		switch (c.op) {
		case OP_REPORT:
			break;
		case OP_MERGE:
			r.ret = merge_range(c.fd, KSM_PIDFD_SELF, s->buf, NPG * psize(), &r.res);
			break;
		case OP_JOIN:
			r.ret = join_partition(c.fd, KSM_PIDFD_SELF, &r.res);
			break;
		case OP_LEAVE:
			r.ret = sys_ksm_leave(c.fd, KSM_PIDFD_SELF, 0);
			break;
		case OP_MADV:
			r.ret = madvise(s->buf, NPG * psize(), MADV_MERGEABLE);
			break;
		case OP_UNMERGEABLE:
			r.ret = madvise(s->buf, NPG * psize(), MADV_UNMERGEABLE);
			break;
		case OP_PRCTL_ON:
			r.ret = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0);
			break;
		case OP_PRCTL_OFF:
			r.ret = prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0);
			break;
		case OP_PRCTL_GET:
			r.ret = prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0);
			break;
		case OP_OTHER:
			r.ret = peer_other(&c, &r.err);
			errno = r.err;
			break;
		case OP_OPEN:
			r.ret = sys_ksm_open(c.name[0] ? c.name : NULL, c.flags, c.mode);
			break;
		case OP_FORK:
			r.ret = fork();
			if (r.ret == 0) {
				close(s->rfd);
				close(s->wfd);
				s->rfd = s->spare_rfd;
				s->wfd = s->spare_wfd;
				s->spare_rfd = -1;
				s->spare_wfd = -1;
				s->inh = s->buf;
				memcpy(s->inh_seeds, s->seeds, sizeof(s->seeds));
				peer_map(s, s->seeds[0], s->seeds[NCROSS] + 0x10);
				memset(&r, 0, sizeof(r));
				peer_send(s, &r, OP_INITIAL);
				continue;
			}
			if (r.ret > 0) {
				close(s->spare_rfd);
				close(s->spare_wfd);
				s->spare_rfd = -1;
				s->spare_wfd = -1;
			}
			break;
		case OP_EXEC:
			peer_exec(s);
			r.ret = -1;	/* only on failure */
			break;
		case OP_USERNS:
			r.ret = unshare(CLONE_NEWUSER);
			if (r.ret)
				break;
			/*
			 * Map uid 0 to ours, best effort (it fails with EACCES after
			 * leaving the VM's chroot): the capabilities in the new
			 * namespace, which are what matters here, come with unshare.
			 */
			f = fopen("/proc/self/uid_map", "we");
			if (f) {
				fprintf(f, "0 %d 1\n", UNPRIV_UID);
				fclose(f);
			}
			if (!has_caps_in_ns()) {
				r.ret = -1;
				errno = ENOTSUP;
			}
			break;
		case OP_NEWIPC:
			r.ret = unshare(CLONE_NEWIPC);
			break;
		default:
			r.ret = -1;
			errno = EINVAL;
		}
		r.err = r.ret < 0 ? errno : 0;
		peer_send(s, &r, c.op);
	}
	while (wait(NULL) > 0)
		;
	_exit(0);
}

/* The image exec'ed by OP_EXEC: a fresh peer on the same channel. */
static void __attribute__((constructor)) exec_peer(int argc, char **argv)
{
	struct peer_state s = { .spare_rfd = -1, .spare_wfd = -1 };

	if (argc < 6 || strcmp(argv[1], EXEC_PEER_ARG))
		return;
	s.rfd = atoi(argv[2]);
	s.wfd = atoi(argv[3]);
	peer_map(&s, strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0));
	peer_loop(&s, OP_INITIAL);
}

/*
 * The test VM runs everything in a chroot, where unshare(CLONE_NEWUSER) is
 * EPERM. Before dropping privileges, a peer for the user namespace test
 * leaves the chroot of its own fs_struct (it shares it with nobody): chroot
 * into a subdirectory while the working directory stays outside, climb to
 * the real root, chroot there. /proc stays usable (init mounted it before
 * chrooting). Outside a chroot this ends where it started.
 */
static bool spawn_leaves_chroot;

static void leave_chroot(void)
{
	char dir[] = "/tmp/ksm-iso-XXXXXX";
	int tmp = open("/tmp", O_DIRECTORY | O_CLOEXEC), i;

	if (tmp < 0 || !mkdtemp(dir) || chdir("/") || chroot(dir))
		return;
	unlinkat(tmp, dir + 5, AT_REMOVEDIR);
	close(tmp);
	for (i = 0; i < 64; i++)
		if (chdir(".."))
			return;
	if (chroot("."))
		return;
	if (chdir("/"))
		return;
}

/* The orchestrator's handle on a peer. */
struct peer {
	pid_t pid;
	int pidfd;
	int wfd, rfd;		/* command / reply pipe ends */
	int spare_w, spare_r;	/* the spare channel, for a forked child */
	uid_t uid;
	struct reply r;
	char name[24];
};

/*
 * The test's ends of every peer's pipes (and its pidfds): a new peer closes
 * them, or a peer would never see EOF while a later one holds its command pipe.
 */
static int orch_fds[64];

static void orch_fd_add(int fd)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(orch_fds); i++)
		if (!orch_fds[i]) {
			orch_fds[i] = fd + 1;
			return;
		}
}

static void orch_fd_close(int fd)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(orch_fds); i++)
		if (orch_fds[i] == fd + 1)
			orch_fds[i] = 0;
	close(fd);
}

static void orch_fds_close_all(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(orch_fds); i++)
		if (orch_fds[i]) {
			close(orch_fds[i] - 1);
			orch_fds[i] = 0;
		}
}

static int peer_read(struct peer *p)
{
	ssize_t n;

	do
		n = read(p->rfd, &p->r, sizeof(p->r));
	while (n < 0 && errno == EINTR);
	return n == sizeof(p->r) ? 0 : -1;
}

/*
 * A new peer holding cross pages cross0.. and an intra pair of seed intra,
 * running as uid (0: root). With spare, a second channel is prepared for a
 * child the peer may fork later (OP_FORK); peer_adopt() takes it.
 */
static int peer_spawn(struct peer *p, const char *name, uint64_t cross0, uint64_t intra,
		      uid_t uid, struct peer *spare)
{
	struct chan ch, sp;
	pid_t pid;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->uid = uid;
	p->spare_w = -1;
	p->spare_r = -1;
	if (chan_open(&ch) || (spare && chan_open(&sp)))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct peer_state s = { .spare_rfd = -1, .spare_wfd = -1 };

		orch_fds_close_all();
		chan_child_side(&ch);
		s.rfd = ch.to_child[0];
		s.wfd = ch.to_parent[1];
		/* OP_EXEC keeps the channel */
		fcntl(s.rfd, F_SETFD, 0);
		fcntl(s.wfd, F_SETFD, 0);
		if (spare) {
			chan_child_side(&sp);
			s.spare_rfd = sp.to_child[0];
			s.spare_wfd = sp.to_parent[1];
		}
		if (spawn_leaves_chroot)
			leave_chroot();
		if (uid && drop_privileges(uid, uid))
			_exit(92);
		peer_map(&s, cross0, intra);
		peer_loop(&s, OP_INITIAL);
	}
	chan_parent_side(&ch);
	p->pid = pid;
	p->wfd = ch.to_child[1];
	p->rfd = ch.to_parent[0];
	if (spare) {
		chan_parent_side(&sp);
		p->spare_w = sp.to_child[1];
		p->spare_r = sp.to_parent[0];
	}
	p->pidfd = sys_pidfd_open(pid, 0);
	orch_fd_add(p->wfd);
	orch_fd_add(p->rfd);
	if (spare) {
		orch_fd_add(p->spare_w);
		orch_fd_add(p->spare_r);
	}
	if (p->pidfd < 0 || peer_read(p) || p->r.op != OP_INITIAL)
		return -1;
	orch_fd_add(p->pidfd);
	return 0;
}

/* The child that parent forked through OP_FORK (ret = its pid). */
static int peer_adopt(struct peer *child, const char *name, struct peer *parent)
{
	memset(child, 0, sizeof(*child));
	snprintf(child->name, sizeof(child->name), "%s", name);
	child->uid = parent->uid;
	child->wfd = parent->spare_w;
	child->rfd = parent->spare_r;
	child->spare_w = -1;
	child->spare_r = -1;
	parent->spare_w = -1;
	parent->spare_r = -1;
	if (peer_read(child) || child->r.op != OP_INITIAL)
		return -1;
	child->pid = child->r.pid;
	child->pidfd = sys_pidfd_open(child->pid, 0);
	if (child->pidfd >= 0)
		orch_fd_add(child->pidfd);
	return child->pidfd < 0 ? -1 : 0;
}

/* Run a command; returns its result, errno set to the peer's. */
static long peer_cmd(struct peer *p, struct cmd c)
{
	if (write(p->wfd, &c, sizeof(c)) != sizeof(c) || peer_read(p) || p->r.op != c.op) {
		errno = EPIPE;
		return -2;	/* distinct from a peer's -1 */
	}
	errno = p->r.err;
	return p->r.ret;
}

static long peer_op(struct peer *p, int op, int fd)
{
	return peer_cmd(p, (struct cmd){ .op = op, .fd = fd });
}

static long peer_other_op(struct peer *p, int fd, int how, const struct peer *target)
{
	return peer_cmd(p, (struct cmd){ .op = OP_OTHER, .fd = fd, .how = how,
					 .target = target->pid, .taddr = target->r.addr });
}

static long peer_open(struct peer *p, const char *name, unsigned int flags, unsigned int mode)
{
	struct cmd c = { .op = OP_OPEN, .flags = flags, .mode = mode };

	if (name)
		snprintf(c.name, sizeof(c.name), "%s", name);
	return peer_cmd(p, c);
}

/* Close the channel and reap; the peer's exit status (0 = content was fine). */
static int peer_end(struct peer *p)
{
	int st;

	if (!p->pid)
		return 0;
	orch_fd_close(p->wfd);
	orch_fd_close(p->rfd);
	if (p->spare_w >= 0) {
		orch_fd_close(p->spare_w);
		orch_fd_close(p->spare_r);
	}
	if (p->pidfd >= 0)
		orch_fd_close(p->pidfd);
	st = waitpid(p->pid, NULL, 0) == p->pid || errno == ECHILD ? 0 : -1;
	p->pid = 0;
	return st;
}

/*
 * The peer's frames read by us (root) from /proc/PID/pagemap, after a fresh
 * report; when the peer is root, its own view must agree.
 */
static int peer_frames(struct peer *p, uint64_t f[NPG], bool *agree)
{
	if (peer_op(p, OP_REPORT, -1) != 0)
		return -1;
	if (pids_pfns(p->pid, (void *)p->r.addr, NPG, f))
		return -1;
	*agree = p->uid != 0 || !memcmp(f, p->r.pfn, sizeof(p->r.pfn));
	return 0;
}

/* The orchestrator merges all of a peer's buffer through fd, by pidfd. */
static long merge_peer(int fd, const struct peer *p)
{
	return merge_range(fd, p->pidfd, (void *)p->r.addr, NPG * psize(), NULL);
}

static bool cross_shared(const uint64_t *a, const uint64_t *b)
{
	int i;

	for (i = 0; i < NCROSS; i++)
		if (!a[i] || a[i] != b[i])
			return false;
	return true;
}

static int common_frames(const uint64_t *a, const uint64_t *b)
{
	int i, j, n = 0;

	for (i = 0; i < NPG; i++)
		for (j = 0; j < NPG; j++)
			if (a[i] && a[i] == b[j])
				n++;
	return n;
}

static bool intra_merged(const uint64_t *f)
{
	return f[NCROSS] && f[NCROSS] == f[NCROSS + 1];
}

static void frames_print(const char *who, const uint64_t *f)
{
	fprintf(stderr, "#   %-18s %#llx %#llx %#llx %#llx | %#llx %#llx\n", who,
		(unsigned long long)f[0], (unsigned long long)f[1], (unsigned long long)f[2],
		(unsigned long long)f[3], (unsigned long long)f[4], (unsigned long long)f[5]);
}

/*
 * One matrix cell: a and b hold the same cross content. They must share
 * every cross frame (share) or no frame at all (!share). Content must be
 * intact in both, and each peer's own view of its frames must be ours.
 */
static void check_cell(struct __test_metadata *_metadata, const char *cell,
		       struct peer *a, struct peer *b, bool share)
{
	uint64_t fa[NPG], fb[NPG];
	bool ok, agree_a, agree_b;
	int common;

	ASSERT_EQ(0, peer_frames(a, fa, &agree_a));
	EXPECT_EQ(-1, a->r.bad)
		TH_LOG("%s: %s's content changed (page %d)", cell, a->name, a->r.bad);
	ASSERT_EQ(0, peer_frames(b, fb, &agree_b));
	EXPECT_EQ(-1, b->r.bad)
		TH_LOG("%s: %s's content changed (page %d)", cell, b->name, b->r.bad);
	EXPECT_TRUE(agree_a && agree_b) TH_LOG("%s: a peer's own pagemap differs from ours", cell);
	common = common_frames(fa, fb);
	ok = share ? cross_shared(fa, fb) : common == 0;
	EXPECT_TRUE(ok) {
		TH_LOG("cell %s: %s and %s must %sshare frames (%d common)", cell, a->name,
		       b->name, share ? "" : "not ", common);
		frames_print(a->name, fa);
		frames_print(b->name, fb);
	}
	if (cells) {
		__sync_fetch_and_add(share ? &cells->must_share : &cells->must_not_share, 1);
		if (!ok)
			__sync_fetch_and_add(&cells->failed, 1);
	}
	fprintf(stderr, "# cell %-46s %s~%s %-10s %s\n", cell, a->name, b->name,
		share ? "share" : "isolated", ok ? "ok" : "FAILED");
}

/* An errno/behaviour cell: got (ret, err) where (want_ret, want_err) was expected. */
static void check_behaviour(struct __test_metadata *_metadata, const char *cell, long ret,
			    int err, long want_ret, int want_err)
{
	bool ok = ret == want_ret && (want_ret != -1 || err == want_err);

	EXPECT_TRUE(ok) TH_LOG("cell %s: returned %ld errno %d (%s), expected %ld errno %d (%s)",
			       cell, ret, err, strerror(err), want_ret, want_err,
			       strerror(want_err));
	if (cells) {
		__sync_fetch_and_add(&cells->behaviour, 1);
		if (!ok)
			__sync_fetch_and_add(&cells->failed, 1);
	}
	fprintf(stderr, "# cell %-46s ret %ld %-8s %s\n", cell, ret,
		ret == -1 ? strerrorname_np(err) : "", ok ? "ok" : "FAILED");
}

#define BEHAVES(cell, expr, want_ret, want_err) do { \
	long __r = (expr); \
	check_behaviour(_metadata, cell, __r, errno, want_ret, want_err); \
} while (0)

/* The intra pair of a peer is merged (it is in a merging domain) or not. */
#define EXPECT_INTRA(p, merged) do { \
	const struct peer *__p = (p); \
	uint64_t __f[NPG]; \
	ASSERT_EQ(0, pids_pfns(__p->pid, (void *)__p->r.addr, NPG, __f)); \
	EXPECT_EQ(merged, intra_merged(__f)) TH_LOG("%s: intra pair %smerged", __p->name, \
						   intra_merged(__f) ? "" : "not "); \
} while (0)

/* Seeds unique to this test process and cell. */
static uint64_t seed_base(int cell)
{
	return ((uint64_t)getpid() << 24) + ((uint64_t)cell << 12);
}

/* ------------------------------------------------------------------ */
/* ksmd                                                                */

struct ksmd_saved {
	long run, pages_to_scan, sleep_ms;
};

static void ksmd_save(struct ksmd_saved *s)
{
	s->run = ksm_sysfs_read("run");
	s->pages_to_scan = ksm_sysfs_read("pages_to_scan");
	s->sleep_ms = ksm_sysfs_read("sleep_millisecs");
}

static void ksmd_restore(const struct ksmd_saved *s)
{
	ksm_sysfs_write("run", 0);
	if (s->pages_to_scan > 0)
		ksm_sysfs_write("pages_to_scan", s->pages_to_scan);
	if (s->sleep_ms >= 0)
		ksm_sysfs_write("sleep_millisecs", s->sleep_ms);
	if (s->run > 0 && s->run != 2)
		ksm_sysfs_write("run", s->run);
}

static int ksmd_fast(void)
{
	if (ksm_sysfs_write("pages_to_scan", 10000) || ksm_sysfs_write("sleep_millisecs", 0))
		return -1;
	return ksm_sysfs_write("run", 1);
}

/* Wait for n more full scans of ksmd. */
static bool ksmd_scans(int n, double timeout)
{
	long start = ksm_sysfs_read("full_scans");
	double end = now_sec() + timeout;

	while (now_sec() < end) {
		if (ksm_sysfs_read("full_scans") >= start + n)
			return true;
		sleep_ms(10);
	}
	return false;
}

/* Global peers: each intra pair merged and, with a partner, the cross pages shared. */
static bool global_merged(struct peer *a, struct peer *b)
{
	uint64_t fa[NPG], fb[NPG];

	if (pids_pfns(a->pid, (void *)a->r.addr, NPG, fa) ||
	    pids_pfns(b->pid, (void *)b->r.addr, NPG, fb))
		return false;
	return intra_merged(fa) && intra_merged(fb) && cross_shared(fa, fb);
}

static bool wait_global_merged(struct peer *a, struct peer *b, double timeout)
{
	double end = now_sec() + timeout;

	while (now_sec() < end) {
		if (global_merged(a, b))
			return true;
		sleep_ms(10);
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* The placement matrix                                                */

enum place { PL_NONE, PL_P1, PL_P1_SELF, PL_P2, PL_P2_SELF, PL_MADV, PL_PRCTL };

static const char *const place_name[] = {
	[PL_NONE] = "none", [PL_P1] = "P1(pidfd)", [PL_P1_SELF] = "P1(self)",
	[PL_P2] = "P2(pidfd)", [PL_P2_SELF] = "P2(self)", [PL_MADV] = "global(madvise)",
	[PL_PRCTL] = "global(prctl)",
};

static bool is_global(enum place pl)
{
	return pl == PL_MADV || pl == PL_PRCTL;
}

static bool is_part(enum place pl)
{
	return pl >= PL_P1 && pl <= PL_P2_SELF;
}

FIXTURE(iso) {
	struct ksmd_saved ksmd;
};

FIXTURE_VARIANT(iso) {
	enum place a, b;
	bool share;
};

FIXTURE_VARIANT_ADD(iso, same_partition_pidfd) {
	.a = PL_P1, .b = PL_P1, .share = true,
};

FIXTURE_VARIANT_ADD(iso, same_partition_self) {
	.a = PL_P1_SELF, .b = PL_P1_SELF, .share = true,
};

FIXTURE_VARIANT_ADD(iso, same_partition_mixed) {
	.a = PL_P1_SELF, .b = PL_P1, .share = true,
};

FIXTURE_VARIANT_ADD(iso, different_partitions) {
	.a = PL_P1, .b = PL_P2, .share = false,
};

FIXTURE_VARIANT_ADD(iso, different_partitions_self) {
	.a = PL_P1_SELF, .b = PL_P2_SELF, .share = false,
};

FIXTURE_VARIANT_ADD(iso, partition_vs_no_ksm) {
	.a = PL_P1, .b = PL_NONE, .share = false,
};

FIXTURE_VARIANT_ADD(iso, partition_vs_global_madvise) {
	.a = PL_P1, .b = PL_MADV, .share = false,
};

FIXTURE_VARIANT_ADD(iso, partition_vs_global_prctl) {
	.a = PL_P1_SELF, .b = PL_PRCTL, .share = false,
};

FIXTURE_VARIANT_ADD(iso, global_madvise_first_vs_partition) {
	.a = PL_MADV, .b = PL_P2, .share = false,
};

/* Controls: without KSM nothing merges; global KSM does merge what we probe for. */
FIXTURE_VARIANT_ADD(iso, no_ksm_vs_no_ksm) {
	.a = PL_NONE, .b = PL_NONE, .share = false,
};

FIXTURE_VARIANT_ADD(iso, global_vs_global) {
	.a = PL_MADV, .b = PL_PRCTL, .share = true,
};

FIXTURE_SETUP(iso)
{
	ksmd_save(&self->ksmd);
	ASSERT_LE(0, self->ksmd.run);
}

/* In the parent, so that a timed-out test still gets ksmd back. */
FIXTURE_TEARDOWN_PARENT(iso)
{
	ksmd_restore(&self->ksmd);
}

/* Put a peer where the placement says; partition placements merge its buffer. */
static long place(struct peer *p, enum place pl, int fd1, int fd2, struct ksm_merge_result *res)
{
	int fd = (pl == PL_P1 || pl == PL_P1_SELF) ? fd1 : fd2;

	switch (pl) {
	case PL_NONE:
		return 0;
	case PL_P1:
	case PL_P2:
		return merge_range(fd, p->pidfd, (void *)p->r.addr, NPG * psize(), res);
	case PL_P1_SELF:
	case PL_P2_SELF: {
		long r = peer_op(p, OP_MERGE, fd);

		*res = p->r.res;
		return r;
	}
	case PL_MADV:
		return peer_op(p, OP_MADV, -1);
	case PL_PRCTL:
		return peer_op(p, OP_PRCTL_ON, -1);
	}
	return -1;
}

/* Pages of p mapping a KSM page, as the placement and the cell imply. */
static void expect_merging(struct __test_metadata *_metadata, struct peer *p, enum place pl,
			   bool cross_merged)
{
	long m = ksm_merging_pages(p->pid);

	if (pl == PL_NONE) {
		EXPECT_EQ(0, m) TH_LOG("%s: %ld pages merging without KSM", p->name, m);
	} else if (pl == PL_PRCTL) {	/* the whole process is mergeable: maybe more */
		EXPECT_LE(NPG, m) TH_LOG("%s: ksm_merging_pages %ld", p->name, m);
	} else {
		EXPECT_EQ(2 + (cross_merged ? NCROSS : 0), m)
			TH_LOG("%s (%s): ksm_merging_pages %ld", p->name, place_name[pl], m);
	}
}

TEST_F_TIMEOUT(iso, matrix, 120)
{
	enum place pl[3] = { variant->a, variant->b, PL_NONE };
	uint64_t base = seed_base(1), before[3][NPG];
	struct ksm_merge_result res;
	bool ksmd = is_global(pl[0]) || is_global(pl[1]);
	struct peer p[3];
	char cell[96];
	int fd1, fd2, n = 2, i;

	fd1 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd1);
	fd2 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd2);
	/*
	 * A lone global peer gets a global partner with the same cross content,
	 * so ksmd has a real reason to merge that content: if it looked at the
	 * member's pages at all, it would merge them too.
	 */
	if (is_global(pl[0]) != is_global(pl[1]))
		pl[n++] = is_global(pl[0]) ? pl[0] : pl[1];
	for (i = 0; i < n; i++) {
		char name[8] = { 'A' + i };

		ASSERT_EQ(0, peer_spawn(&p[i], name, base, base + 0x100 + i, 0, NULL));
	}
	for (i = 0; i < n; i++) {
		long r = place(&p[i], pl[i], fd1, fd2, &res);

		if (is_part(pl[i])) {
			ASSERT_EQ((long)(NPG * psize()), r) TH_LOG("placing %s: %s", p[i].name,
								   strerror(errno));
			EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
			/*
			 * The intra pair merges; the cross pages merge only with
			 * an earlier peer here.
			 */
			EXPECT_EQ(1 + (i > 0 && variant->share ? NCROSS : 0), res.pages_merged)
				res_print("placement", &res);
		} else {
			ASSERT_EQ(0, r) TH_LOG("placing %s: %s", p[i].name, strerror(errno));
		}
	}
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, pids_pfns(p[i].pid, (void *)p[i].r.addr, NPG, before[i]));

	if (ksmd) {
		int g1 = is_global(pl[0]) ? 0 : 1, g2 = n == 3 ? 2 : 1 - g1;

		ASSERT_EQ(0, ksmd_fast());
		ASSERT_TRUE(wait_global_merged(&p[g1], &p[g2], 60))
			TH_LOG("ksmd never merged the global peers' pages");
		/*
		 * Now global KSM has stable pages of the cross content: a partition
		 * merge must not find them. The intra pair is already shared, the
		 * cross pages stay candidates.
		 */
		for (i = 0; i < n; i++) {
			if (!is_part(pl[i]))
				continue;
			ASSERT_EQ((long)(NPG * psize()), place(&p[i], pl[i], fd1, fd2, &res));
			EXPECT_EQ(0, res.pages_merged) res_print("re-merge under ksmd", &res);
			EXPECT_EQ(2, res.pages_already_shared);
			EXPECT_EQ(NCROSS, res.pages_unshared);
		}
		/* And ksmd must not take the member's pages during two full scans. */
		ASSERT_TRUE(ksmd_scans(2, 60)) TH_LOG("ksmd made no 2 full scans");
		ASSERT_EQ(0, ksm_sysfs_write("run", 0));
		for (i = 0; i < n; i++) {
			uint64_t now[NPG];

			if (!is_part(pl[i]))
				continue;
			ASSERT_EQ(0, pids_pfns(p[i].pid, (void *)p[i].r.addr, NPG, now));
			EXPECT_EQ(0, memcmp(now, before[i], sizeof(now)))
				TH_LOG("a member's pages moved while ksmd ran");
		}
	}

	snprintf(cell, sizeof(cell), "%s~%s", place_name[pl[0]], place_name[pl[1]]);
	check_cell(_metadata, cell, &p[0], &p[1], variant->share);
	if (n == 3) {
		const char *other = place_name[pl[0] == pl[2] ? pl[1] : pl[0]];
		const char *partner = place_name[pl[2]];

		snprintf(cell, sizeof(cell), "%s~%s(partner)", other, partner);
		check_cell(_metadata, cell, pl[0] == pl[2] ? &p[1] : &p[0], &p[2], false);
		snprintf(cell, sizeof(cell), "%s~%s(partner)", partner, partner);
		check_cell(_metadata, cell, pl[0] == pl[2] ? &p[0] : &p[1], &p[2], true);
	}
	for (i = 0; i < n; i++) {
		bool cross = variant->share || (n == 3 && is_global(pl[i]));
		int fd = is_part(pl[i]) && (pl[i] == PL_P2 || pl[i] == PL_P2_SELF) ? fd2 : fd1;

		EXPECT_INTRA(&p[i], pl[i] != PL_NONE);
		expect_merging(_metadata, &p[i], pl[i], cross);
		EXPECT_EQ(is_part(pl[i]) ? 1 : 0, is_member(fd, p[i].pidfd));
	}
	for (i = 0; i < n; i++)
		EXPECT_EQ(0, peer_end(&p[i]));
	close(fd1);
	close(fd2);
}

static long part_stat(int fd, size_t off)
{
	struct ksm_partition_stats st;

	memset(&st, 0, sizeof(st));
	if (ioctl(fd, KSM_IOC_GET_STATS, &st))
		return -1;
	return *(const __u64 *)((const char *)&st + off);
}

#define PSTAT(fd, field) part_stat(fd, offsetof(struct ksm_partition_stats, field))

/* ------------------------------------------------------------------ */
/* Same process, two ranges                                            */

/*
 * One process, two VMAs with identical content: merged together in one call
 * or in two, they share; a range never passed to ksm_merge is left alone,
 * and MADV_MERGEABLE cannot make global KSM take it while a member.
 */
TEST(same_process_two_ranges)
{
	uint64_t s[NPG], f1[NPG], f2[NPG], f3[NPG];
	char *r1, *r2, *r3;
	struct iovec iov[2];
	struct ksm_merge_result res;
	uint64_t base = seed_base(2);
	int fd, i;

	for (i = 0; i < NPG; i++)
		s[i] = base + i;
	r1 = map_seeded(NPG, s);
	r2 = map_seeded(NPG, s);
	r3 = map_seeded(NPG, s);
	ASSERT_TRUE(r1 && r2 && r3);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);

	/* Two ranges of one call. */
	iov[0] = (struct iovec){ r1, NPG * psize() };
	iov[1] = (struct iovec){ r2, NPG * psize() };
	res_init(&res);
	ASSERT_EQ((ssize_t)(2 * NPG * psize()),
		  sys_ksm_merge(fd, KSM_PIDFD_SELF, iov, 2, &res, 0));
	EXPECT_EQ(NPG, res.pages_merged);
	EXPECT_EQ(NPG, res.pages_unshared);
	ASSERT_EQ(0, pids_pfns(0, r1, NPG, f1));
	ASSERT_EQ(0, pids_pfns(0, r2, NPG, f2));
	ASSERT_EQ(0, pids_pfns(0, r3, NPG, f3));
	/* Cross content is all NPG pages here: compare page by page. */
	for (i = 0; i < NPG; i++)
		EXPECT_EQ(f1[i], f2[i]);
	EXPECT_EQ(0, common_frames(f1, f3)) TH_LOG("a range never merged shares a frame");
	check_behaviour(_metadata, "same process: range 1~range 2, one call (share)",
			f1[0] == f2[0] && f1[NPG - 1] == f2[NPG - 1] ? 0 : -1, 0, 0, 0);
	check_behaviour(_metadata, "same process: merged~never-passed range (isolated)",
			common_frames(f1, f3) ? -1 : 0, 0, 0, 0);

	/* Global KSM cannot take the third range while a member. */
	BEHAVES("same process: member MADV_MERGEABLE on an unmerged range",
		madvise(r3, NPG * psize(), MADV_MERGEABLE), -1, EBUSY);
	EXPECT_EQ(0, vma_has_flag(0, r3, "mg"));

	/* A later call over the third range alone merges it into the same pages. */
	ASSERT_EQ((ssize_t)(NPG * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, r3, NPG * psize(), &res));
	EXPECT_EQ(NPG, res.pages_merged);
	ASSERT_EQ(0, pids_pfns(0, r3, NPG, f3));
	for (i = 0; i < NPG; i++)
		EXPECT_EQ(f1[i], f3[i]);
	check_behaviour(_metadata, "same process: range 3 merged later (share)",
			memcmp(f1, f3, sizeof(f1)) ? -1 : 0, 0, 0, 0);

	/* Three ranges on NPG KSM pages: NPG shared, 2 * NPG sharing. */
	EXPECT_EQ(3 * NPG, ksm_merging_pages(0));
	EXPECT_EQ(NPG, PSTAT(fd, pages_shared));
	EXPECT_EQ(2 * NPG, PSTAT(fd, pages_sharing));
	/*
	 * MADV_UNMERGEABLE on a member unmerges that range only, like
	 * ksm_unmerge (abi.md 3): its pages are private at once. Its rmap
	 * items, and so the counters, follow at the next call over the range
	 * (abi.md 3: madvise cannot take the partition lock).
	 */
	ASSERT_EQ(0, madvise(r2, NPG * psize(), MADV_UNMERGEABLE));
	ASSERT_EQ(0, pids_pfns(0, r2, NPG, f2));
	EXPECT_EQ(0, common_frames(f1, f2));
	ASSERT_EQ((ssize_t)(NPG * psize()), unmerge_range(fd, KSM_PIDFD_SELF, r2, NPG * psize()));
	EXPECT_EQ(2 * NPG, ksm_merging_pages(0));
	EXPECT_EQ(NPG, PSTAT(fd, pages_shared));
	EXPECT_EQ(NPG, PSTAT(fd, pages_sharing));
	ASSERT_EQ(0, pids_pfns(0, r1, NPG, f1));
	ASSERT_EQ(0, pids_pfns(0, r2, NPG, f2));
	ASSERT_EQ(0, pids_pfns(0, r3, NPG, f3));
	EXPECT_EQ(0, common_frames(f1, f2));
	EXPECT_EQ(0, memcmp(f1, f3, sizeof(f1)));
	check_behaviour(_metadata, "same process: after MADV_UNMERGEABLE (isolated)",
			common_frames(f1, f2) ? -1 : 0, 0, 0, 0);
	EXPECT_EQ(-1, first_bad_page(r1, NPG, s));
	EXPECT_EQ(-1, first_bad_page(r2, NPG, s));
	EXPECT_EQ(-1, first_bad_page(r3, NPG, s));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(r1, NPG * psize());
	munmap(r2, NPG * psize());
	munmap(r3, NPG * psize());
}

/* ------------------------------------------------------------------ */
/* Leave                                                               */

/* Sharing before leave, none after; a later join of P2 or P1 decides again. */
TEST(before_and_after_leave)
{
	uint64_t base = seed_base(3);
	struct peer a, b;
	int fd1, fd2;

	fd1 = sys_ksm_open(NULL, 0, 0);
	fd2 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd1);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, peer_spawn(&a, "A", base, base + 0x100, 0, NULL));
	ASSERT_EQ(0, peer_spawn(&b, "B", base, base + 0x101, 0, NULL));
	ASSERT_EQ((long)(NPG * psize()), peer_op(&a, OP_MERGE, fd1));
	ASSERT_EQ((long)(NPG * psize()), peer_op(&b, OP_MERGE, fd1));
	check_cell(_metadata, "P1~P1 before leave", &a, &b, true);

	/* B leaves (itself): its pages are private again, A keeps its KSM pages. */
	BEHAVES("leave: member leaves itself", peer_op(&b, OP_LEAVE, fd1), 0, 0);
	EXPECT_EQ(0, b.r.merging);
	EXPECT_EQ(0, b.r.part_id);
	check_cell(_metadata, "P1~left P1", &a, &b, false);
	EXPECT_INTRA(&b, false);
	/* A merging again finds nothing of B's: B is not a member. */
	ASSERT_EQ((long)(NPG * psize()), merge_peer(fd1, &a));
	check_cell(_metadata, "P1~left P1 after A re-merges", &a, &b, false);

	/* Left, B may join another partition: still isolated from A. */
	ASSERT_EQ((long)(NPG * psize()), merge_peer(fd2, &b));
	EXPECT_INTRA(&b, true);
	check_cell(_metadata, "P1~P2 after leaving P1", &a, &b, false);

	/* Left by pidfd, B rejoins P1: shares again. */
	BEHAVES("leave: orchestrator makes member leave by pidfd",
		sys_ksm_leave(fd2, b.pidfd, 0), 0, 0);
	ASSERT_EQ((long)(NPG * psize()), merge_peer(fd1, &b));
	check_cell(_metadata, "P1~P1 after leave and rejoin", &a, &b, true);

	/* After leaving, global KSM is allowed again (old settings are not restored). */
	ASSERT_EQ(0, peer_op(&b, OP_LEAVE, fd1));
	BEHAVES("leave: MADV_MERGEABLE after leaving", peer_op(&b, OP_MADV, -1), 0, 0);
	check_cell(_metadata, "P1~global(madvise) after leaving", &a, &b, false);

	EXPECT_EQ(0, peer_end(&a));
	EXPECT_EQ(0, peer_end(&b));
	close(fd1);
	close(fd2);
}

/* ------------------------------------------------------------------ */
/* fork                                                                */

/*
 * A child forked from a member is a member of the same partition: its own
 * new pages merge with the parent's; it cannot join P2; after leaving, its
 * pages (inherited or new) share nothing with the parent's, also when it
 * merges them into P2.
 */
TEST(parent_child_across_fork)
{
	uint64_t base = seed_base(4), fp[NPG], fi[NPG];
	struct peer par, child, other;
	int fd1, fd2;

	fd1 = sys_ksm_open(NULL, 0, 0);
	fd2 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd1);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, peer_spawn(&par, "parent", base, base + 0x100, 0, &child));
	ASSERT_EQ(0, peer_spawn(&other, "P2peer", base, base + 0x102, 0, NULL));
	ASSERT_EQ((long)(NPG * psize()), merge_peer(fd2, &other));
	ASSERT_EQ((long)(NPG * psize()), peer_op(&par, OP_MERGE, fd1));

	ASSERT_LT(0, peer_op(&par, OP_FORK, -1));
	ASSERT_EQ(0, peer_adopt(&child, "child", &par));
	EXPECT_EQ(par.r.part_id, child.r.part_id)
		TH_LOG("the child is not in the parent's partition");
	EXPECT_EQ(1, is_member(fd1, child.pidfd));
	/* Its inherited mapping is the parent's KSM pages (fork COW). */
	ASSERT_EQ(0, pids_pfns(par.pid, (void *)par.r.addr, NPG, fp));
	ASSERT_EQ(0, pids_pfns(child.pid, (void *)child.r.inh, NPG, fi));
	EXPECT_EQ(0, memcmp(fp, fi, sizeof(fp)));
	/* Its fresh pages, merged through the inherited fd, join the parent's. */
	ASSERT_EQ((long)(NPG * psize()), peer_op(&child, OP_MERGE, fd1));
	EXPECT_EQ(0, child.r.res.flags) TH_LOG("the child joined: it was not a member");
	check_cell(_metadata, "parent P1~forked child P1", &par, &child, true);
	check_cell(_metadata, "forked child P1~P2", &child, &other, false);

	BEHAVES("fork: child of a member merges itself into P2", peer_op(&child, OP_MERGE, fd2),
		-1, EBUSY);
	BEHAVES("fork: child of a member, MADV_MERGEABLE", peer_op(&child, OP_MADV, -1), -1, EBUSY);
	check_cell(_metadata, "forked child after EBUSY~P2", &child, &other, false);

	/* Leaving unmerges the inherited mapping too (abi.md 7). */
	BEHAVES("fork: child leaves", peer_op(&child, OP_LEAVE, fd1), 0, 0);
	EXPECT_EQ(0, child.r.merging);
	check_cell(_metadata, "parent P1~child after leave", &par, &child, false);
	ASSERT_EQ(0, pids_pfns(child.pid, (void *)child.r.inh, NPG, fi));
	ASSERT_EQ(0, pids_pfns(par.pid, (void *)par.r.addr, NPG, fp));
	EXPECT_EQ(0, common_frames(fp, fi))
		TH_LOG("the inherited mapping still shares after leave");
	check_behaviour(_metadata, "fork: inherited mapping after leave (isolated)",
			common_frames(fp, fi) ? -1 : 0, 0, 0, 0);
	/* Now it may join P2: shares with P2's peer, never with the parent. */
	ASSERT_EQ((long)(NPG * psize()), peer_op(&child, OP_MERGE, fd2));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, child.r.res.flags);
	check_cell(_metadata, "parent P1~child rejoined in P2", &par, &child, false);
	check_cell(_metadata, "child rejoined in P2~P2", &child, &other, true);
	EXPECT_EQ(1, is_member(fd1, par.pidfd));

	EXPECT_EQ(0, peer_end(&child));
	EXPECT_EQ(0, peer_end(&par));
	EXPECT_EQ(0, peer_end(&other));
	close(fd1);
	close(fd2);
}

/* ------------------------------------------------------------------ */
/* exec                                                                */

/*
 * A member execs: the new image (this binary, mapping the same content
 * afresh and reporting its frames over the pipe) is no member and shares
 * nothing with the partition; global KSM works for it; merging itself
 * through the inherited fd joins it, and then it shares.
 */
TEST(after_exec)
{
	uint64_t base = seed_base(5);
	struct peer a, b;
	int fd;

	fd = sys_ksm_open(NULL, 0, 0);	/* no CLOEXEC: the new image uses it */
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, peer_spawn(&a, "A", base, base + 0x100, 0, NULL));
	ASSERT_EQ(0, peer_spawn(&b, "B", base, base + 0x101, 0, NULL));
	ASSERT_EQ((long)(NPG * psize()), merge_peer(fd, &a));
	ASSERT_EQ((long)(NPG * psize()), merge_peer(fd, &b));
	check_cell(_metadata, "P1~P1 before exec", &a, &b, true);

	/* The reply is the new image's first report. */
	ASSERT_EQ(0, write(a.wfd, &(struct cmd){ .op = OP_EXEC }, sizeof(struct cmd)) !=
		     sizeof(struct cmd));
	ASSERT_EQ(0, peer_read(&a));
	ASSERT_EQ(OP_INITIAL, a.r.op) TH_LOG("exec failed: %s", strerror(a.r.err));
	EXPECT_EQ(a.pid, a.r.pid);
	EXPECT_EQ(0, a.r.part_id) TH_LOG("the exec'ed image is a member");
	EXPECT_EQ(0, is_member(fd, a.pidfd));
	EXPECT_EQ(0, a.r.merging);
	check_cell(_metadata, "exec'ed former member~P1", &a, &b, false);
	/* B merging again does not reach the new image. */
	ASSERT_EQ((long)(NPG * psize()), merge_peer(fd, &b));
	check_cell(_metadata, "exec'ed former member~P1 re-merged", &a, &b, false);
	BEHAVES("exec: new image may use MADV_MERGEABLE", peer_op(&a, OP_MADV, -1), 0, 0);
	BEHAVES("exec: new image, PR_GET_MEMORY_MERGE", peer_op(&a, OP_PRCTL_GET, -1), 0, 0);
	/* Joining through the inherited fd: its global state goes, it shares with B. */
	ASSERT_EQ((long)(NPG * psize()), peer_op(&a, OP_MERGE, fd));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, a.r.res.flags);
	EXPECT_EQ(0, vma_has_flag(a.pid, (void *)a.r.addr, "mg"));
	check_cell(_metadata, "exec'ed image joined P1~P1", &a, &b, true);

	EXPECT_EQ(0, peer_end(&a));
	EXPECT_EQ(0, peer_end(&b));
	close(fd);
}

/* ------------------------------------------------------------------ */
/* Adversarial                                                         */

/*
 * A member of P1 tries P2 every way: EBUSY for merge and join, ENOENT for
 * unmerge and leave, whoever asks; P2 holds the same content and must not
 * get it, P2's counters see none of the attempts.
 */
TEST(member_joins_second_partition)
{
	uint64_t base = seed_base(6), fa[NPG], fa2[NPG];
	struct peer a, b, c;
	long calls, scanned;
	int fd1, fd2;

	fd1 = sys_ksm_open(NULL, 0, 0);
	fd2 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd1);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, peer_spawn(&a, "A", base, base + 0x100, 0, NULL));
	ASSERT_EQ(0, peer_spawn(&b, "B", base, base + 0x101, 0, NULL));
	ASSERT_EQ(0, peer_spawn(&c, "C", base, base + 0x102, 0, NULL));
	ASSERT_EQ((long)(NPG * psize()), peer_op(&a, OP_MERGE, fd1));
	ASSERT_EQ((long)(NPG * psize()), peer_op(&b, OP_MERGE, fd1));
	ASSERT_EQ((long)(NPG * psize()), peer_op(&c, OP_MERGE, fd2));
	ASSERT_EQ(0, pids_pfns(a.pid, (void *)a.r.addr, NPG, fa));
	calls = PSTAT(fd2, merge_calls);
	scanned = PSTAT(fd2, pages_scanned);

	BEHAVES("member merges itself via P2", peer_op(&a, OP_MERGE, fd2), -1, EBUSY);
	BEHAVES("member joins P2 itself (vlen 0)", peer_op(&a, OP_JOIN, fd2), -1, EBUSY);
	BEHAVES("root merges member via P2 by pidfd",
		merge_range(fd2, a.pidfd, (void *)a.r.addr, NPG * psize(), NULL), -1, EBUSY);
	BEHAVES("root joins member to P2 by pidfd", join_partition(fd2, a.pidfd, NULL), -1, EBUSY);
	BEHAVES("root unmerges member via P2",
		unmerge_range(fd2, a.pidfd, (void *)a.r.addr, NPG * psize()), -1, ENOENT);
	BEHAVES("member leaves P2 (not in it)", peer_op(&a, OP_LEAVE, fd2), -1, ENOENT);
	/* A member of P2 (C) merges A's memory through P2: EBUSY too. */
	BEHAVES("P2 member merges P1 member via P2", peer_other_op(&c, fd2, OTHER_MERGE, &a),
		-1, EBUSY);

	EXPECT_EQ(calls, PSTAT(fd2, merge_calls)) TH_LOG("EBUSY calls were counted in P2");
	EXPECT_EQ(scanned, PSTAT(fd2, pages_scanned));
	EXPECT_EQ(1, PSTAT(fd2, members));
	EXPECT_EQ(1, is_member(fd1, a.pidfd));
	EXPECT_EQ(0, is_member(fd2, a.pidfd));
	ASSERT_EQ(0, pids_pfns(a.pid, (void *)a.r.addr, NPG, fa2));
	EXPECT_EQ(0, memcmp(fa, fa2, sizeof(fa))) TH_LOG("the failed attempts moved A's pages");
	check_cell(_metadata, "P1 member after P2 attempts~P1", &a, &b, true);
	check_cell(_metadata, "P1 member after P2 attempts~P2", &a, &c, false);

	EXPECT_EQ(0, peer_end(&a));
	EXPECT_EQ(0, peer_end(&b));
	EXPECT_EQ(0, peer_end(&c));
	close(fd1);
	close(fd2);
}

FIXTURE(ksmd) {
	struct ksmd_saved ksmd;
};

FIXTURE_SETUP(ksmd)
{
	ksmd_save(&self->ksmd);
	ASSERT_LE(0, self->ksmd.run);
}

FIXTURE_TEARDOWN_PARENT(ksmd)
{
	ksmd_restore(&self->ksmd);
}

/*
 * A member tries to get back into global KSM while ksmd runs fast and two
 * non-members hold the same content: MADV_MERGEABLE and PR_SET_MEMORY_MERGE
 * fail with EBUSY and change nothing, PR_SET_MEMORY_MERGE 0 is a no-op,
 * PR_GET_MEMORY_MERGE says 0, and ksmd never merges the member's pages with
 * the non-members' (which it does merge with each other). MADV_UNMERGEABLE
 * unmerges the member's partition pages.
 */
TEST_F_TIMEOUT(ksmd, member_reenables_global_ksm, 120)
{
	uint64_t base = seed_base(7), fa[NPG], fa2[NPG];
	struct peer a, b, g1, g2;
	int fd;

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, peer_spawn(&a, "A", base, base + 0x100, 0, NULL));
	ASSERT_EQ(0, peer_spawn(&b, "B", base, base + 0x101, 0, NULL));
	ASSERT_EQ(0, peer_spawn(&g1, "G1", base, base + 0x102, 0, NULL));
	ASSERT_EQ(0, peer_spawn(&g2, "G2", base, base + 0x103, 0, NULL));
	ASSERT_EQ((long)(NPG * psize()), peer_op(&a, OP_MERGE, fd));
	ASSERT_EQ((long)(NPG * psize()), peer_op(&b, OP_MERGE, fd));
	ASSERT_EQ(0, peer_op(&g1, OP_MADV, -1));
	ASSERT_EQ(0, peer_op(&g2, OP_PRCTL_ON, -1));

	BEHAVES("member MADV_MERGEABLE", peer_op(&a, OP_MADV, -1), -1, EBUSY);
	BEHAVES("member PR_SET_MEMORY_MERGE 1", peer_op(&a, OP_PRCTL_ON, -1), -1, EBUSY);
	BEHAVES("member PR_GET_MEMORY_MERGE", peer_op(&a, OP_PRCTL_GET, -1), 0, 0);
	BEHAVES("member PR_SET_MEMORY_MERGE 0 (no-op)", peer_op(&a, OP_PRCTL_OFF, -1), 0, 0);
	BEHAVES("member PR_GET_MEMORY_MERGE after", peer_op(&a, OP_PRCTL_GET, -1), 0, 0);
	EXPECT_EQ(0, vma_has_flag(a.pid, (void *)a.r.addr, "mg"));
	ASSERT_EQ(0, pids_pfns(a.pid, (void *)a.r.addr, NPG, fa));

	ASSERT_EQ(0, ksmd_fast());
	ASSERT_TRUE(wait_global_merged(&g1, &g2, 60)) TH_LOG("ksmd never merged G1 and G2");
	ASSERT_EQ((long)(NPG * psize()), peer_op(&a, OP_MERGE, fd));
	EXPECT_EQ(NPG, a.r.res.pages_already_shared);
	ASSERT_TRUE(ksmd_scans(2, 60));
	ASSERT_EQ(0, ksm_sysfs_write("run", 0));

	ASSERT_EQ(0, pids_pfns(a.pid, (void *)a.r.addr, NPG, fa2));
	EXPECT_EQ(0, memcmp(fa, fa2, sizeof(fa))) TH_LOG("the member's pages moved under ksmd");
	check_cell(_metadata, "member after global attempts~P1", &a, &b, true);
	check_cell(_metadata, "member after global attempts~global(madvise)", &a, &g1, false);
	check_cell(_metadata, "member after global attempts~global(prctl)", &a, &g2, false);
	check_cell(_metadata, "P1 member~global(madvise), ksmd cross-check", &b, &g1, false);
	check_cell(_metadata, "global(madvise)~global(prctl)", &g1, &g2, true);
	EXPECT_EQ(0, vma_has_flag(a.pid, (void *)a.r.addr, "mg"));

	BEHAVES("member MADV_UNMERGEABLE", peer_op(&a, OP_UNMERGEABLE, -1), 0, 0);
	/* ksm_merging_pages lags until the next partition call (abi.md 3): PFNs tell */
	EXPECT_NE(0, a.r.part_id) TH_LOG("MADV_UNMERGEABLE took the member out");
	check_cell(_metadata, "member after MADV_UNMERGEABLE~P1", &a, &b, false);
	EXPECT_INTRA(&a, false);

	EXPECT_EQ(0, peer_end(&a));
	EXPECT_EQ(0, peer_end(&b));
	EXPECT_EQ(0, peer_end(&g1));
	EXPECT_EQ(0, peer_end(&g2));
	close(fd);
}

/*
 * uid 65534 (no capabilities) holding the same content as a root process
 * and a uid-65533 process may not merge, join, unmerge or leave either of
 * them through a partition it holds (EPERM, abi.md 5): neither becomes a
 * member nor shares with it. Its own memory it may merge. A same-uid target
 * is allowed (ptrace rules): the positive control.
 */
TEST(merge_other_users_process)
{
	uint64_t base = seed_base(8);
	struct peer x, root, other, same;
	int fd;

	fd = sys_ksm_open(NULL, 0, 0);	/* inherited: X holds the capability */
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, peer_spawn(&root, "root", base, base + 0x100, 0, NULL));
	ASSERT_EQ(0, peer_spawn(&other, "uid65533", base, base + 0x101, OTHER_UID, NULL));
	ASSERT_EQ(0, peer_spawn(&x, "uid65534", base, base + 0x102, UNPRIV_UID, NULL));
	ASSERT_EQ(0, peer_spawn(&same, "uid65534b", base, base + 0x103, UNPRIV_UID, NULL));

	BEHAVES("uid 65534 joins a root process", peer_other_op(&x, fd, OTHER_JOIN, &root),
		-1, EPERM);
	BEHAVES("uid 65534 merges a root process", peer_other_op(&x, fd, OTHER_MERGE, &root),
		-1, EPERM);
	BEHAVES("uid 65534 merges a uid 65533 process", peer_other_op(&x, fd, OTHER_MERGE, &other),
		-1, EPERM);
	BEHAVES("uid 65534 joins a uid 65533 process", peer_other_op(&x, fd, OTHER_JOIN, &other),
		-1, EPERM);
	BEHAVES("uid 65534 unmerges a uid 65533 process",
		peer_other_op(&x, fd, OTHER_UNMERGE, &other), -1, EPERM);
	BEHAVES("uid 65534 makes a uid 65533 process leave",
		peer_other_op(&x, fd, OTHER_LEAVE, &other), -1, EPERM);
	BEHAVES("uid 65534 merges itself", peer_op(&x, OP_MERGE, fd), (long)(NPG * psize()), 0);
	BEHAVES("uid 65534 merges a uid 65534 process", peer_other_op(&x, fd, OTHER_MERGE, &same),
		(long)(NPG * psize()), 0);
	EXPECT_EQ(0, is_member(fd, root.pidfd));
	EXPECT_EQ(0, is_member(fd, other.pidfd));
	EXPECT_EQ(1, is_member(fd, same.pidfd));
	EXPECT_EQ(2, PSTAT(fd, members));
	check_cell(_metadata, "uid65534 P1~root after EPERM", &x, &root, false);
	check_cell(_metadata, "uid65534 P1~uid65533 after EPERM", &x, &other, false);
	check_cell(_metadata, "uid65534 P1~uid65534 merged by it", &x, &same, true);
	EXPECT_INTRA(&root, false);
	EXPECT_INTRA(&other, false);

	EXPECT_EQ(0, peer_end(&x));
	EXPECT_EQ(0, peer_end(&same));
	EXPECT_EQ(0, peer_end(&root));
	EXPECT_EQ(0, peer_end(&other));
	close(fd);
}

/*
 * uid 65533 owns a 0600 named partition it is a member of. uid 65534 holding
 * the same content cannot open it (EACCES; EEXIST with CREATE, review F8), so its
 * pages end up elsewhere and share nothing with the owner's. Another
 * process of uid 65533 opens it and shares: the positive control.
 */
TEST(open_other_users_partition)
{
	uint64_t base = seed_base(9);
	struct peer owner, owner2, x;
	char name[64];
	long fo, fo2, fx;

	unique_name(name, sizeof(name), "iso");
	ASSERT_EQ(0, peer_spawn(&owner, "owner", base, base + 0x100, OTHER_UID, NULL));
	ASSERT_EQ(0, peer_spawn(&owner2, "owner2", base, base + 0x101, OTHER_UID, NULL));
	ASSERT_EQ(0, peer_spawn(&x, "uid65534", base, base + 0x102, UNPRIV_UID, NULL));
	fo = peer_open(&owner, name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fo);
	ASSERT_EQ((long)(NPG * psize()), peer_op(&owner, OP_MERGE, fo));

	BEHAVES("uid 65534 opens uid 65533's 0600 partition", peer_open(&x, name, 0, 0),
		-1, EACCES);
	BEHAVES("uid 65534 CREATE on uid 65533's partition",
		peer_open(&x, name, KSM_OPEN_CREATE, 0600), -1, EEXIST);
	BEHAVES("uid 65534 CREATE|EXCL on uid 65533's partition",
		peer_open(&x, name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600), -1, EEXIST);
	fx = peer_open(&x, NULL, 0, 0);
	ASSERT_LE(0, fx);
	ASSERT_EQ((long)(NPG * psize()), peer_op(&x, OP_MERGE, fx));
	EXPECT_EQ(1, x.r.res.pages_merged) TH_LOG("uid 65534's cross pages found twins");
	check_cell(_metadata, "uid65534 own partition~uid65533 named", &x, &owner, false);

	fo2 = peer_open(&owner2, name, 0, 0);
	BEHAVES("uid 65533 opens its own 0600 partition", fo2 >= 0 ? 0 : fo2, 0, 0);
	ASSERT_LE(0, fo2);
	ASSERT_EQ((long)(NPG * psize()), peer_op(&owner2, OP_MERGE, fo2));
	check_cell(_metadata, "uid65533 named~uid65533 named", &owner2, &owner, true);
	check_cell(_metadata, "uid65534 own partition~uid65533 named (2)", &x, &owner2, false);

	EXPECT_EQ(0, peer_end(&x));
	EXPECT_EQ(0, peer_end(&owner2));
	EXPECT_EQ(0, peer_end(&owner));
}

/* The partition id in fdinfo (random 64-bit, never 0); 0 if not found. */
static unsigned long long fdinfo_id(pid_t pid, int fd)
{
	char path[64], line[128];
	unsigned long long id = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "ksm_id: %llu", &id) == 1)
			break;
	fclose(f);
	return id;
}

/*
 * uid 65534 in a new user namespace is root there with all capabilities,
 * none of which reach the initial namespace's partitions or processes:
 * opening root's 0600 partition by name is EACCES (same IPC namespace: the
 * name is visible, CAP_IPC_OWNER counts only in the user namespace owning
 * the IPC namespace), merging a root process is EPERM. Allowed: its own
 * anonymous and named partitions, merging itself, and using a partition fd it
 * inherited (the fd is the capability: it then shares with that partition).
 * In a new IPC namespace as well, root's name is not found (ENOENT) and
 * creating it gives a new, unrelated partition.
 */
TEST(user_namespace)
{
	uint64_t base = seed_base(10);
	struct peer u, v, w;
	char rname[64], uname[64];
	long q, fu, fn;
	int fdr, fd1;

	unique_name(rname, sizeof(rname), "iso-root");
	unique_name(uname, sizeof(uname), "iso-userns");
	fdr = sys_ksm_open(rname, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fdr);
	fd1 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd1);
	ASSERT_EQ(0, peer_spawn(&v, "root-named", base, base + 0x100, 0, NULL));
	ASSERT_EQ(0, peer_spawn(&w, "root-P1", base, base + 0x101, 0, NULL));
	spawn_leaves_chroot = true;
	ASSERT_EQ(0, peer_spawn(&u, "userns", base, base + 0x102, UNPRIV_UID, NULL));
	spawn_leaves_chroot = false;
	ASSERT_EQ((long)(NPG * psize()), merge_peer(fdr, &v));
	ASSERT_EQ((long)(NPG * psize()), merge_peer(fd1, &w));

	if (peer_op(&u, OP_USERNS, -1)) {
		int e = u.r.err;

		EXPECT_EQ(0, peer_end(&u));
		EXPECT_EQ(0, peer_end(&v));
		EXPECT_EQ(0, peer_end(&w));
		/* The test VM's init chroots, and CLONE_NEWUSER is EPERM in a chroot. */
		SKIP(return, "unshare(CLONE_NEWUSER) as uid %d: %s%s", UNPRIV_UID, strerror(e),
		     e == EPERM ? " (chrooted? user namespaces are refused in a chroot)" : "");
	}
	TH_LOG("in a new user namespace: uid %d there, all capabilities there", u.r.uid);

	BEHAVES("userns root opens init-ns root's 0600 name", peer_open(&u, rname, 0, 0),
		-1, EACCES);
	BEHAVES("userns root CREATE on root's name", peer_open(&u, rname, KSM_OPEN_CREATE, 0600),
		-1, EEXIST);
	q = peer_open(&u, NULL, 0, 0);
	BEHAVES("userns root creates an anonymous partition", q >= 0 ? 0 : q, 0, 0);
	ASSERT_LE(0, q);
	BEHAVES("userns root merges an init-ns root process", peer_other_op(&u, q, OTHER_MERGE, &v),
		-1, EPERM);
	BEHAVES("userns root joins an init-ns root process", peer_other_op(&u, q, OTHER_JOIN, &w),
		-1, EPERM);
	BEHAVES("userns root via the inherited fd merges root's process",
		peer_other_op(&u, fd1, OTHER_MERGE, &v), -1, EPERM);
	EXPECT_EQ(0, is_member(fd1, v.pidfd));
	BEHAVES("userns root merges itself (own partition)", peer_op(&u, OP_MERGE, q),
		(long)(NPG * psize()), 0);
	EXPECT_INTRA(&u, true);
	check_cell(_metadata, "userns own partition~root named", &u, &v, false);
	check_cell(_metadata, "userns own partition~root P1", &u, &w, false);
	fu = peer_open(&u, uname, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	BEHAVES("userns root creates a name (init IPC ns)", fu >= 0 ? 0 : fu, 0, 0);
	if (fu >= 0) {
		int fd = sys_ksm_open(uname, 0, 0);

		/* Created in the initial IPC namespace, owned by kuid 65534: root may open it. */
		EXPECT_LE(0, fd);
		EXPECT_NE(0, fdinfo_id(u.pid, fu));
		EXPECT_EQ(fdinfo_id(u.pid, fu), fd >= 0 ? fdinfo_id(getpid(), fd) : 0);
		if (fd >= 0)
			close(fd);
	}

	/* The fd inherited from root works: it is the capability (abi.md 2.1). */
	ASSERT_EQ(0, peer_op(&u, OP_LEAVE, q));
	BEHAVES("userns root merges itself via inherited root fd", peer_op(&u, OP_MERGE, fd1),
		(long)(NPG * psize()), 0);
	check_cell(_metadata, "userns via inherited fd~root P1", &u, &w, true);
	check_cell(_metadata, "userns via inherited fd~root named", &u, &v, false);

	/* A new IPC namespace (allowed now): names of the initial one are not found. */
	BEHAVES("userns root unshares IPC", peer_op(&u, OP_NEWIPC, -1), 0, 0);
	BEHAVES("new IPC ns: root's name", peer_open(&u, rname, 0, 0), -1, ENOENT);
	fn = peer_open(&u, rname, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	BEHAVES("new IPC ns: create root's name anew", fn >= 0 ? 0 : fn, 0, 0);
	if (fn >= 0) {
		EXPECT_NE(0, fdinfo_id(u.pid, fn));
		EXPECT_NE(fdinfo_id(getpid(), fdr), fdinfo_id(u.pid, fn))
			TH_LOG("the new IPC namespace's partition is root's");
	}
	check_cell(_metadata, "userns+ipcns via inherited fd~root named", &u, &v, false);

	EXPECT_EQ(0, peer_end(&u));
	EXPECT_EQ(0, peer_end(&v));
	EXPECT_EQ(0, peer_end(&w));
	close(fdr);
	close(fd1);
}

TEST_HARNESS_MAIN
