// SPDX-License-Identifier: GPL-2.0
/*
 * ksmpart ABI: every errno of docs/abi.md sections 4-7, provoked one at a
 * time as section 13 describes, plus the name, mode and permission rules of
 * ksm_open and its create/exclusive races.
 *
 * Where a call must fail, the test also checks that it had no effect: no fd
 * was installed, no partition name was created, the target did not join, the
 * result struct was not written, merged pages stayed merged.
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/fsuid.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/capability.h>

#include "kselftest_harness.h"

/*
 * KSM_OPEN_ZERO_PAGES is "planned (issue 4)" and must be rejected with EINVAL
 * until implemented. Flip to 1 when issue 4 lands; open_zero_pages_flag then
 * tests the implemented rules instead.
 */
#define KNOWN_OPEN_FLAGS (KSM_OPEN_CREATE | KSM_OPEN_EXCL | KSM_OPEN_CLOEXEC | KSM_OPEN_ZERO_PAGES)
#define UNPRIV_UID 65534
#define UNPRIV_GID 65534

static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* expr must fail with errno err. */
#define EXPECT_FAIL(err, expr) do { \
	int __want = (err); \
	long __ret; \
	int __e; \
	errno = 0; \
	__ret = (long)(expr); \
	__e = errno; \
	EXPECT_EQ(-1, __ret) TH_LOG("%s returned %ld, expected -1 with %s", #expr, __ret, \
				    strerror(__want)); \
	if (__ret == -1) \
		EXPECT_EQ(__want, __e) TH_LOG("%s: errno %d (%s), expected %d (%s)", #expr, __e, \
					      strerror(__e), __want, strerror(__want)); \
} while (0)

/* ksm_open must fail with err and install no fd. */
#define EXPECT_OPEN_FAIL(err, name, flags, mode) do { \
	int __lo = lowest_free_fd(); \
	EXPECT_FAIL(err, sys_ksm_open(name, flags, mode)); \
	EXPECT_EQ(__lo, lowest_free_fd()) TH_LOG("a failing ksm_open left an fd behind"); \
} while (0)

/* The caller must not have become a member of any partition. */
#define EXPECT_NOT_MEMBER_SELF() do { \
	int __member = self_is_member_of_any(); \
	EXPECT_EQ(0, __member) TH_LOG("a failing call joined the caller"); \
} while (0)

/* 2*npairs pages: pages 2k and 2k+1 hold the same content, pairs differ. */
static char *map_pairs(size_t npairs, uint64_t seed0)
{
	uint64_t seeds[64];
	size_t i;

	if (2 * npairs > 64)
		return NULL;
	for (i = 0; i < 2 * npairs; i++)
		seeds[i] = seed0 + i / 2;
	return map_seeded(2 * npairs, seeds);
}

/* Are the two pages of each pair mapped to one frame (1), all distinct (0), neither (-1)? */
static int pairs_state(pid_t pid, const char *buf, size_t npairs)
{
	uint64_t pfn[64];
	size_t i;
	int shared = 0, distinct = 0;

	if (2 * npairs > 64 || pids_pfns(pid, buf, 2 * npairs, pfn))
		return -1;
	for (i = 0; i < npairs; i++) {
		if (!pfn[2 * i] || !pfn[2 * i + 1])
			return -1;
		if (pfn[2 * i] == pfn[2 * i + 1])
			shared++;
		else
			distinct++;
	}
	if (shared == (int)npairs)
		return 1;
	return distinct == (int)npairs ? 0 : -1;
}

/* An address no process can map: above any TASK_SIZE (and non-canonical). */
#define KERNEL_ADDR ((void *)0x8000000000000000UL)

/*
 * The end of the user address range (TASK_SIZE_MAX): 2^47 - one page with
 * 4-level page tables, 2^56 - one page with 5-level ones (detected by asking
 * mmap for an address above 2^47).
 */
static unsigned long user_addr_end(void)
{
	void *p = mmap((void *)(1UL << 50), psize(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool la57 = p != MAP_FAILED && (unsigned long)p >= (1UL << 47);

	if (p != MAP_FAILED)
		munmap(p, psize());
	return (la57 ? 1UL << 56 : 1UL << 47) - psize();
}

/* A page that is certainly unmapped. */
static void *unmapped_page(void)
{
	void *p = mmap(NULL, psize(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p, psize());
	return p;
}

/* ------------------------------------------------------------------ */
/* Running code under other credentials                                */

struct creds {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[2];
	int keep_cap;		/* capability to keep (effective+permitted), -1: none */
};

static int capset_only(int cap)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	if (cap >= 0) {
		d[cap / 32].effective = 1U << (cap % 32);
		d[cap / 32].permitted = 1U << (cap % 32);
	}
	return syscall(SYS_capset, &h, d);
}

static int become(const struct creds *c)
{
	if (c->keep_cap >= 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return -1;
	if (setgroups(c->ngroups, c->groups))
		return -1;
	if (setresgid(c->gid, c->gid, c->gid))
		return -1;
	if (setresuid(c->uid, c->uid, c->uid))
		return -1;
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		return -1;
	if (c->keep_cap >= 0 && capset_only(c->keep_cap))
		return -1;
	return 0;
}

/* Fork, take the credentials, run fn; returns the child's exit status. */
static int run_as(const struct creds *c, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (become(c)) {
			fprintf(stderr, "# child: cannot take uid %d gid %d: %s\n", c->uid, c->gid,
				strerror(errno));
			_exit(99);
		}
		_exit(fn(arg));
	}
	return wait_status(pid);
}

static const struct creds nobody = { UNPRIV_UID, UNPRIV_GID, 0, { 0 }, -1 };

/* A list of ksm_open calls and their expected outcome (err 0: success). */
struct open_case {
	const char *name;
	unsigned int flags;
	unsigned int mode;
	int err;
};

struct open_cases {
	int n;
	struct open_case c[8];
};

/*
 * Child: run every case; a successful open must give a usable fd (the caller
 * joins and leaves through it).
 */
static int child_open_cases(void *p)
{
	struct open_cases *oc = p;
	int i, fd;

	for (i = 0; i < oc->n; i++) {
		struct open_case *c = &oc->c[i];

		errno = 0;
		fd = sys_ksm_open(c->name, c->flags, c->mode);
		if (c->err == 0) {
			if (fd < 0) {
				fprintf(stderr,
					"# uid %d: ksm_open(%s, %#x, %#o): %s, expected success\n",
					getuid(), c->name, c->flags, c->mode, strerror(errno));
				return 10 + i;
			}
			if (join_partition(fd, KSM_PIDFD_SELF, NULL) != 0 ||
			    sys_ksm_leave(fd, KSM_PIDFD_SELF, 0) != 0) {
				fprintf(stderr, "# uid %d: fd of %s not usable: %s\n", getuid(),
					c->name, strerror(errno));
				return 30 + i;
			}
			close(fd);
		} else if (fd != -1 || errno != c->err) {
			fprintf(stderr,
				"# uid %d: ksm_open(%s, %#x, %#o) = %d errno %s, expected %s\n",
				getuid(), c->name, c->flags, c->mode, fd, strerror(errno),
				strerror(c->err));
			return 50 + i;
		}
	}
	return 0;
}

/* ================================================================== */
/* ksm_open                                                            */

TEST(feature_probe)
{
	int ret, e;

	errno = 0;
	ret = sys_ksm_open(NULL, ~0U, 0);
	e = errno;
	ASSERT_EQ(-1, ret);
	ASSERT_EQ(EINVAL, e)
		TH_LOG("ksm_open: %s (ENOSYS: this kernel has no ksmpart)", strerror(e));

	/* The other three exist too (EBADF on a bad fd, never ENOSYS). */
	EXPECT_FAIL(EBADF, sys_ksm_merge(-1, KSM_PIDFD_SELF, NULL, 0, NULL, 0));
	EXPECT_FAIL(EBADF, sys_ksm_unmerge(-1, KSM_PIDFD_SELF, NULL, 0, 0));
	EXPECT_FAIL(EBADF, sys_ksm_leave(-1, KSM_PIDFD_SELF, 0));
}

TEST(open_anonymous_fd_properties)
{
	char path[64], link[128];
	char *p, c;
	ssize_t n;
	int fd, fd2, dfd;

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	ASSERT_LT(0, n);
	link[n] = 0;
	EXPECT_STREQ("anon_inode:[ksm_partition]", link);

	EXPECT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
	EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);

	/* read, write and mmap are not supported. */
	EXPECT_EQ(-1, read(fd, &c, 1));
	EXPECT_EQ(-1, write(fd, "x", 1));
	p = mmap(NULL, psize(), PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	if (p != MAP_FAILED)
		munmap(p, psize());

	/* A dup refers to the same partition: join through one, member through the other. */
	dfd = dup(fd);
	ASSERT_LE(0, dfd);
	ASSERT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, NULL));
	EXPECT_EQ(1, is_member(dfd, KSM_PIDFD_SELF));

	/* Each anonymous open is a new partition. */
	fd2 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(0, is_member(fd2, KSM_PIDFD_SELF));
	EXPECT_FAIL(EBUSY, join_partition(fd2, KSM_PIDFD_SELF, NULL));

	EXPECT_EQ(0, sys_ksm_leave(dfd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(0, self_is_member_of_any());
	close(fd);
	close(dfd);
	close(fd2);
}

TEST(open_cloexec)
{
	char name[64];
	int fd;

	fd = sys_ksm_open(NULL, KSM_OPEN_CLOEXEC, 0);
	ASSERT_LE(0, fd);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	unique_name(name, sizeof(name), "cloexec");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	fd = sys_ksm_open(name, KSM_OPEN_CREATE, 0600);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
}

TEST(open_unknown_flags_einval)
{
	char name[64];
	int bit;

	unique_name(name, sizeof(name), "flags");
	for (bit = 0; bit < 32; bit++) {
		unsigned int f = 1U << bit;

		if (f & KNOWN_OPEN_FLAGS)
			continue;
		EXPECT_OPEN_FAIL(EINVAL, NULL, f, 0);
		EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_CREATE | f, 0600);
	}
	EXPECT_OPEN_FAIL(EINVAL, NULL, ~0U, 0);
	EXPECT_OPEN_FAIL(EINVAL, name, ~0U & ~KSM_OPEN_ZERO_PAGES, 0600);
	/* None of the rejected creations created the name. */
	EXPECT_OPEN_FAIL(ENOENT, name, 0, 0);
}

TEST(open_zero_pages_flag)
{
	char name[64];
	int fd;

	unique_name(name, sizeof(name), "zero");
	fd = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
	ASSERT_LE(0, fd);
	close(fd);
	/* Argument checks come before the lookup. */
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_ZERO_PAGES, 0);
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_ZERO_PAGES, 0600);
	ASSERT_LE(0, fd);
	/* Creation only: a named open without CREATE is EINVAL even if it exists. */
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_ZERO_PAGES, 0);
	close(fd);
}

TEST(open_mode_rules)
{
	char name[64], other[64];
	int fd, fd2;

	unique_name(name, sizeof(name), "mode");
	/* Only 0666 bits. */
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_CREATE, 0700);
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_CREATE, 0100);
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_CREATE, 01600);
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_CREATE, 02600);
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_CREATE, 04600);
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0777);
	EXPECT_OPEN_FAIL(ENOENT, name, 0, 0);

	/* mode must be 0 for an anonymous partition, with or without CREATE. */
	EXPECT_OPEN_FAIL(EINVAL, NULL, 0, 0600);
	EXPECT_OPEN_FAIL(EINVAL, NULL, KSM_OPEN_CREATE, 0600);
	EXPECT_OPEN_FAIL(EINVAL, NULL, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0400);

	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd);
	/* mode != 0 without CREATE, on an existing name: EINVAL (not success). */
	EXPECT_OPEN_FAIL(EINVAL, name, 0, 0600);
	/* Bad mode bits are EINVAL even when the name exists and mode would be ignored. */
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_CREATE, 0700);

	/* umode_t: bits above 16 are discarded by the syscall ABI. */
	fd2 = sys_ksm_open(NULL, 0, 0x10000);
	EXPECT_LE(0, fd2) TH_LOG("mode 0x10000 is 0 as a umode_t: %s", strerror(errno));
	if (fd2 >= 0)
		close(fd2);
	unique_name(other, sizeof(other), "mode");
	fd2 = sys_ksm_open(other, KSM_OPEN_CREATE, 0x30000 | 0600);
	EXPECT_LE(0, fd2) TH_LOG("mode 0x30600 is 0600 as a umode_t: %s", strerror(errno));
	if (fd2 >= 0)
		close(fd2);
	close(fd);
}

TEST(open_anonymous_create_excl_no_effect)
{
	int fd1, fd2, fd3;

	/* With name == NULL, CREATE and EXCL are permitted and have no effect. */
	fd1 = sys_ksm_open(NULL, KSM_OPEN_CREATE, 0);
	ASSERT_LE(0, fd1);
	fd2 = sys_ksm_open(NULL, KSM_OPEN_EXCL, 0);
	ASSERT_LE(0, fd2);
	fd3 = sys_ksm_open(NULL, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0);
	ASSERT_LE(0, fd3);
	/* Three distinct partitions. */
	ASSERT_EQ(0, join_partition(fd1, KSM_PIDFD_SELF, NULL));
	EXPECT_FAIL(EBUSY, join_partition(fd2, KSM_PIDFD_SELF, NULL));
	EXPECT_FAIL(EBUSY, join_partition(fd3, KSM_PIDFD_SELF, NULL));
	EXPECT_EQ(0, sys_ksm_leave(fd1, KSM_PIDFD_SELF, 0));
	ASSERT_EQ(0, join_partition(fd2, KSM_PIDFD_SELF, NULL));
	EXPECT_FAIL(EBUSY, join_partition(fd3, KSM_PIDFD_SELF, NULL));
	EXPECT_EQ(0, sys_ksm_leave(fd2, KSM_PIDFD_SELF, 0));
	close(fd1);
	close(fd2);
	close(fd3);
}

TEST(open_excl_without_create_einval)
{
	char name[64];
	int fd;

	unique_name(name, sizeof(name), "excl");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE, 0600);
	ASSERT_LE(0, fd);
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_EXCL, 0);
	EXPECT_OPEN_FAIL(EINVAL, name, KSM_OPEN_EXCL | KSM_OPEN_CLOEXEC, 0);
	close(fd);
}

TEST(open_name_charset)
{
	static const char *const bad[] = {
		"", ".", "..", ".x", ".hidden", "a/b", "/", "a b", " a", "a\tb", "a\nb",
		"a*b", "a+b", "a%b", "a,b", "a\\b", "a=b", "a~b", "a#b", "a!b", "a?b",
		"a\"b", "a'b", "a$b", "a[b", "a;b", "\xc3\xa9", "a\x7f", "a\x01", "a\xff",
	};
	char good[128], upper[128];
	size_t i;
	int fd, fd2;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		char shown[64] = "";
		const unsigned char *c;
		int e;

		for (c = (const unsigned char *)bad[i]; *c; c++)
			snprintf(shown + strlen(shown), sizeof(shown) - strlen(shown),
				 isprint(*c) && *c != '\\' ? "%c" : "\\x%02x", *c);
		errno = 0;
		fd = sys_ksm_open(bad[i], KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
		e = errno;
		EXPECT_EQ(-1, fd) TH_LOG("invalid name \"%s\" accepted", shown);
		if (fd >= 0)
			close(fd);
		else
			EXPECT_EQ(EINVAL, e) TH_LOG("name \"%s\": %s", shown, strerror(e));
		EXPECT_OPEN_FAIL(EINVAL, bad[i], KSM_OPEN_CREATE, 0600);
	}

	/* Every allowed character, and a dot anywhere but first. */
	snprintf(good, sizeof(good), "kst-cs-%d-ABCXYZabcxyz0123456789._:@-.", getpid());
	fd = sys_ksm_open(good, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd) TH_LOG("valid name %s: %s", good, strerror(errno));
	fd2 = sys_ksm_open(good, 0, 0);
	ASSERT_LE(0, fd2);
	/* The same partition. */
	ASSERT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, NULL));
	EXPECT_EQ(1, is_member(fd2, KSM_PIDFD_SELF));
	EXPECT_EQ(0, sys_ksm_leave(fd2, KSM_PIDFD_SELF, 0));
	close(fd2);

	/* Names are case-sensitive byte strings. */
	snprintf(upper, sizeof(upper), "KST-CS-%d-ABCXYZabcxyz0123456789._:@-.", getpid());
	EXPECT_OPEN_FAIL(ENOENT, upper, 0, 0);
	close(fd);
}

TEST(open_name_length)
{
	static const char chars[] = "ABCXYZabcxyz0123456789._:@-";
	char n255[KSM_NAME_MAX + 1], n256[KSM_NAME_MAX + 2], *huge;
	size_t i, plen;
	int fd, fd2;

	plen = snprintf(n256, sizeof(n256), "kst-len-%d-", getpid());
	for (i = plen; i < KSM_NAME_MAX + 1; i++)
		n256[i] = chars[i % (sizeof(chars) - 1)];
	n256[KSM_NAME_MAX + 1] = 0;
	ASSERT_EQ(256, strlen(n256));
	memcpy(n255, n256, KSM_NAME_MAX);
	n255[KSM_NAME_MAX] = 0;

	EXPECT_OPEN_FAIL(ENAMETOOLONG, n256, KSM_OPEN_CREATE, 0600);
	EXPECT_OPEN_FAIL(ENAMETOOLONG, n256, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	/* Not silently truncated to its 255-byte prefix. */
	EXPECT_OPEN_FAIL(ENOENT, n255, 0, 0);

	huge = malloc(8192);
	ASSERT_NE(NULL, huge);
	memset(huge, 'a', 8191);
	huge[8191] = 0;
	EXPECT_OPEN_FAIL(ENAMETOOLONG, huge, KSM_OPEN_CREATE, 0600);
	free(huge);

	fd = sys_ksm_open(n255, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd) TH_LOG("255-byte name: %s", strerror(errno));
	fd2 = sys_ksm_open(n255, 0, 0);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, NULL));
	EXPECT_EQ(1, is_member(fd2, KSM_PIDFD_SELF));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd2);
	/* A prefix is another name. */
	n255[KSM_NAME_MAX - 1] = 0;
	EXPECT_OPEN_FAIL(ENOENT, n255, 0, 0);
	close(fd);
}

TEST(open_name_efault)
{
	char *two, *name;
	char full[64];
	size_t len;
	int fd;

	EXPECT_OPEN_FAIL(EFAULT, unmapped_page(), KSM_OPEN_CREATE, 0600);
	EXPECT_OPEN_FAIL(EFAULT, (char *)8, KSM_OPEN_CREATE, 0600);
	EXPECT_OPEN_FAIL(EFAULT, (char *)KERNEL_ADDR, KSM_OPEN_CREATE, 0600);
	EXPECT_OPEN_FAIL(EFAULT, (char *)0xffffffff81000000UL, KSM_OPEN_CREATE, 0600);

	/* A name running into an unmapped page without a NUL. */
	two = mmap(NULL, 2 * psize(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, two);
	ASSERT_EQ(0, munmap(two + psize(), psize()));
	memcpy(two + psize() - 5, "kst-e", 5);
	EXPECT_OPEN_FAIL(EFAULT, two + psize() - 5, KSM_OPEN_CREATE, 0600);

	/* The same with the NUL as the page's last byte is fine. */
	len = snprintf(full, sizeof(full), "kst-efault-%d", getpid());
	name = two + psize() - len - 1;
	memcpy(name, full, len + 1);
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	EXPECT_LE(0, fd) TH_LOG("name ending at a page end: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	munmap(two, psize());
}

TEST(open_enoent_eexist)
{
	char name[64];
	int fd1, fd2, fd3;

	unique_name(name, sizeof(name), "exist");
	EXPECT_OPEN_FAIL(ENOENT, name, 0, 0);
	EXPECT_OPEN_FAIL(ENOENT, name, KSM_OPEN_CLOEXEC, 0);

	fd1 = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd1);
	EXPECT_OPEN_FAIL(EEXIST, name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	EXPECT_OPEN_FAIL(EEXIST, name, KSM_OPEN_CREATE | KSM_OPEN_EXCL | KSM_OPEN_CLOEXEC, 0666);

	/* CREATE without EXCL and a plain open find the same partition. */
	fd2 = sys_ksm_open(name, KSM_OPEN_CREATE, 0666);
	ASSERT_LE(0, fd2);
	fd3 = sys_ksm_open(name, 0, 0);
	ASSERT_LE(0, fd3);
	ASSERT_EQ(0, join_partition(fd1, KSM_PIDFD_SELF, NULL));
	EXPECT_EQ(1, is_member(fd2, KSM_PIDFD_SELF));
	EXPECT_EQ(1, is_member(fd3, KSM_PIDFD_SELF));
	EXPECT_EQ(0, sys_ksm_leave(fd3, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(0, self_is_member_of_any());

	/* No members and no fds left: the name is gone. */
	close(fd1);
	close(fd2);
	close(fd3);
	EXPECT_OPEN_FAIL(ENOENT, name, 0, 0);
	/* And can be created again, as a new partition. */
	fd1 = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	EXPECT_LE(0, fd1);
	if (fd1 >= 0)
		close(fd1);
}

/* Permission tests: partitions created by root, opened by unprivileged children. */
TEST(open_permission_classes)
{
	char n600[64], n666[64], n644[64], n622[64], n060[64], n606[64];
	char *const names[] = { n600, n666, n644, n622, n060, n606 };
	unsigned int modes[] = { 0600, 0666, 0644, 0622, 0060, 0606 };
	struct open_cases other = { 7, {
		{ n600, 0, 0, EACCES },
		{ n666, 0, 0, 0 },
		{ n644, 0, 0, EACCES },		/* r without w grants nothing */
		{ n622, 0, 0, EACCES },		/* w without r neither */
		{ n060, 0, 0, EACCES },		/* group bits do not apply to "other" */
		{ n606, 0, 0, 0 },
		/* F8: CREATE never hands out another user's partition */
		{ n666, KSM_OPEN_CREATE, 0600, EEXIST },
	} };
	/* Owner gid (root's fsgid 0) matches: the group class, and only it, applies. */
	struct open_cases group = { 4, {
		{ n060, 0, 0, 0 },
		{ n600, 0, 0, EACCES },
		{ n606, 0, 0, EACCES },
		{ n666, 0, 0, 0 },
	} };
	struct creds in_group = { UNPRIV_UID, 0, 0, { 0 }, -1 };
	struct creds supp_group = { UNPRIV_UID, UNPRIV_GID, 1, { 0 }, -1 };
	struct open_cases supp = { 2, { { n060, 0, 0, 0 }, { n606, 0, 0, EACCES } } };
	int fds[6], i;

	for (i = 0; i < 6; i++) {
		unique_name(names[i], 64, "perm");
		fds[i] = sys_ksm_open(names[i], KSM_OPEN_CREATE | KSM_OPEN_EXCL, modes[i]);
		ASSERT_LE(0, fds[i]);
	}
	EXPECT_EQ(0, run_as(&nobody, child_open_cases, &other));
	EXPECT_EQ(0, run_as(&in_group, child_open_cases, &group));
	EXPECT_EQ(0, run_as(&supp_group, child_open_cases, &supp));
	/* Root (CAP_IPC_OWNER) opens everything, whatever the mode. */
	for (i = 0; i < 6; i++) {
		int fd = sys_ksm_open(names[i], 0, 0);

		EXPECT_LE(0, fd);
		if (fd >= 0)
			close(fd);
		close(fds[i]);
	}
}

TEST(open_eexist_takes_precedence_over_eacces)
{
	char name[64];
	struct open_cases oc = { 2, {
		{ name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600, EEXIST },
		/* Not the owner: EEXIST, not EACCES (review F8) */
		{ name, KSM_OPEN_CREATE, 0600, EEXIST },
	} };
	int fd;

	unique_name(name, sizeof(name), "prec");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, run_as(&nobody, child_open_cases, &oc));
	close(fd);
}

TEST(open_mode_is_verbatim_no_umask)
{
	char name[64];
	struct open_cases oc = { 1, { { name, 0, 0, 0 } } };
	mode_t old;
	int fd;

	unique_name(name, sizeof(name), "umask");
	old = umask(077);
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0666);
	umask(old);
	ASSERT_LE(0, fd);
	/* 0666 as given, not 0600 after the umask. */
	EXPECT_EQ(0, run_as(&nobody, child_open_cases, &oc));
	close(fd);
}

/* Creator with fsuid/fsgid 65534 but euid 0: the owner must be 65534. */
struct fsuid_names {
	char n066[64];
	char n600[64];
};

TEST(open_owner_is_creator_fsuid)
{
	struct fsuid_names *nm = map_shared(sizeof(*nm));
	struct creds other = { 65533, 65533, 0, { 0 }, -1 };
	struct open_cases as_owner, as_other;
	struct chan ch;
	pid_t pid;

	ASSERT_NE(NULL, nm);
	unique_name(nm->n066, 64, "fsuid");
	unique_name(nm->n600, 64, "fsuid");
	/* Owner class: no bits in 0066, and "other" rw does not help the owner. */
	as_owner = (struct open_cases){ 2, {
		{ nm->n066, 0, 0, EACCES },
		{ nm->n600, 0, 0, 0 },
	} };
	as_other = (struct open_cases){ 2, {
		{ nm->n066, 0, 0, 0 },
		{ nm->n600, 0, 0, EACCES },
	} };
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int a, b;

		chan_child_side(&ch);
		setfsgid(UNPRIV_GID);
		setfsuid(UNPRIV_UID);
		CHILD_CHECK(setfsuid(-1) == UNPRIV_UID);
		CHILD_CHECK(geteuid() == 0);
		a = sys_ksm_open(nm->n066, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0066);
		CHILD_CHECK(a >= 0);
		b = sys_ksm_open(nm->n600, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
		CHILD_CHECK(b >= 0);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'c') == 0);
		get_byte(ch.to_child[0]);	/* hold the partitions until told */
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('c', get_byte(ch.to_parent[0]));
	EXPECT_EQ(0, run_as(&nobody, child_open_cases, &as_owner));
	EXPECT_EQ(0, run_as(&other, child_open_cases, &as_other));
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	munmap(nm, sizeof(*nm));
}

TEST(open_cap_ipc_owner_overrides)
{
	char name[64];
	struct creds with_cap = { UNPRIV_UID, UNPRIV_GID, 0, { 0 }, CAP_IPC_OWNER };
	struct creds without_cap = { UNPRIV_UID, UNPRIV_GID, 0, { 0 }, CAP_SYS_NICE };
	struct open_cases allowed = { 1, { { name, 0, 0, 0 } } };
	struct open_cases denied = { 1, { { name, 0, 0, EACCES } } };
	int fd;

	unique_name(name, sizeof(name), "capowner");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, run_as(&with_cap, child_open_cases, &allowed));
	/* Control: the same path keeping an unrelated capability is denied. */
	EXPECT_EQ(0, run_as(&without_cap, child_open_cases, &denied));
	close(fd);
}

TEST(open_emfile)
{
	struct rlimit old, low;
	char name[64];
	int lo, fd;

	unique_name(name, sizeof(name), "emfile");
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	lo = lowest_free_fd();
	ASSERT_LT(0, lo);
	/* Every fd below lo is in use: with the limit at lo no fd can be allocated. */
	low = old;
	low.rlim_cur = lo;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
	EXPECT_FAIL(EMFILE, sys_ksm_open(NULL, 0, 0));
	EXPECT_FAIL(EMFILE, sys_ksm_open(name, KSM_OPEN_CREATE, 0600));
	EXPECT_FAIL(EMFILE, sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600));
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &old));
	/* The failed creations left no partition (no name outlives its references). */
	EXPECT_OPEN_FAIL(ENOENT, name, 0, 0);
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	EXPECT_LE(0, fd);
	if (fd >= 0)
		close(fd);
}

/* ENFILE needs a caller without CAP_SYS_ADMIN and a lowered fs.file-max. */
FIXTURE(filemax) {
	long saved;
};

FIXTURE_SETUP(filemax)
{
	self->saved = read_long_path("/proc/sys/fs/file-max");
}

FIXTURE_TEARDOWN(filemax)
{
	if (self->saved > 0)
		write_long_path("/proc/sys/fs/file-max", self->saved);
}

struct enfile_result {
	int devnull_errno;
	int anon_ret, anon_errno;
	int named_ret, named_errno;
};

/*
 * alloc_empty_file() compares file-max with the approximate global count of
 * files first: on a guest with few open files, all of them can sit in the
 * per-CPU deltas and the count read 0. Holding this many open moves it.
 */
#define ENFILE_BALLAST 256

TEST_F(filemax, open_enfile)
{
	struct enfile_result *r = map_shared(sizeof(*r));
	int ballast[ENFILE_BALLAST];
	char name[64];
	struct chan ch;
	pid_t pid;
	int i;

	ASSERT_NE(NULL, r);
	ASSERT_LT(0, self->saved);
	for (i = 0; i < ENFILE_BALLAST; i++) {
		ballast[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, ballast[i]);
	}
	unique_name(name, sizeof(name), "enfile");
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;

		chan_child_side(&ch);
		CHILD_CHECK(drop_privileges(UNPRIV_UID, UNPRIV_GID) == 0);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'r') == 0);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'g');
		errno = 0;
		fd = open("/dev/null", O_RDONLY);
		r->devnull_errno = fd < 0 ? errno : 0;
		errno = 0;
		r->anon_ret = sys_ksm_open(NULL, 0, 0);
		r->anon_errno = errno;
		errno = 0;
		r->named_ret = sys_ksm_open(name, KSM_OPEN_CREATE, 0666);
		r->named_errno = errno;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'd') == 0);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('r', get_byte(ch.to_parent[0]));
	ASSERT_EQ(0, write_long_path("/proc/sys/fs/file-max", 1));
	ASSERT_EQ(0, put_byte(ch.to_child[1], 'g'));
	ASSERT_EQ('d', get_byte(ch.to_parent[0]));
	ASSERT_EQ(0, write_long_path("/proc/sys/fs/file-max", self->saved));
	ASSERT_EQ(0, wait_status(pid));
	close(ch.to_child[1]);
	close(ch.to_parent[0]);
	for (i = 0; i < ENFILE_BALLAST; i++)
		close(ballast[i]);

	if (r->devnull_errno != ENFILE)
		SKIP(return, "lowering fs.file-max did not make open() fail with ENFILE (errno %d)",
		     r->devnull_errno);
	EXPECT_EQ(-1, r->anon_ret);
	EXPECT_EQ(ENFILE, r->anon_errno);
	EXPECT_EQ(-1, r->named_ret);
	EXPECT_EQ(ENFILE, r->named_errno);
	/* No partition was left behind by the failed creation. */
	EXPECT_OPEN_FAIL(ENOENT, name, 0, 0);
	munmap(r, sizeof(*r));
}

/* fault injection: /proc/thread-self/fail-nth makes the n-th allocation fail. */
static int fail_nth_fd(void)
{
	return open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
}

static int fail_nth_set(int fd, int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	return pwrite(fd, buf, len, 0) == len ? 0 : -1;
}

/* Remaining count: 0 once the fault was injected. */
static long fail_nth_get(int fd)
{
	char buf[16] = "";

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return -1;
	return strtol(buf, NULL, 10);
}

TEST(open_merge_enomem_fail_nth)
{
	int ffd, n, fd, injected = 0;
	char name[64];

	if (access("/proc/thread-self/fail-nth", W_OK))
		SKIP(return,
		     "no /proc/thread-self/fail-nth (kernel without CONFIG_FAULT_INJECTION)");

	/* ksm_open: every injected failure is ENOMEM and installs nothing. */
	for (n = 1; n < 200; n++) {
		int lo = lowest_free_fd(), e;
		long left;

		unique_name(name, sizeof(name), "nomem");
		ffd = fail_nth_fd();
		ASSERT_LE(0, ffd);
		ASSERT_EQ(0, fail_nth_set(ffd, n));
		fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
		e = errno;
		left = fail_nth_get(ffd);
		fail_nth_set(ffd, 0);
		close(ffd);
		if (fd < 0) {
			EXPECT_EQ(ENOMEM, e)
				TH_LOG("fail-nth %d: ksm_open errno %s", n, strerror(e));
			EXPECT_EQ(lo, lowest_free_fd());
			EXPECT_OPEN_FAIL(ENOENT, name, 0, 0);
			injected++;
			continue;
		}
		close(fd);
		if (left != 0)
			break;	/* no allocation left to fail */
	}

	/* ksm_merge (joining + merging), each attempt in a fresh process. */
	for (n = 1; n < 200; n++) {
		pid_t pid;
		int st;

		fd = sys_ksm_open(NULL, 0, 0);
		ASSERT_LE(0, fd);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			char *buf = map_pairs(4, 1000);
			struct ksm_merge_result res;
			ssize_t r;
			long left;
			int e;

			CHILD_CHECK(buf);
			ffd = fail_nth_fd();
			CHILD_CHECK(ffd >= 0);
			CHILD_CHECK(fail_nth_set(ffd, n) == 0);
			r = merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res);
			e = errno;
			left = fail_nth_get(ffd);
			fail_nth_set(ffd, 0);
			errno = e;
			CHILD_CHECK(r >= 0 || e == ENOMEM);
			CHILD_CHECK(r <= (ssize_t)(8 * psize()));
			for (st = 0; st < 8; st++)
				CHILD_CHECK(page_has_seed(buf + st * psize(), 1000 + st / 2));
			_exit(r >= 0 && left != 0 ? 0 : 1);
		}
		st = wait_status(pid);
		close(fd);
		ASSERT_TRUE(st == 0 || st == 1) TH_LOG("fail-nth %d: child status %d", n, st);
		if (st == 0)
			break;
		injected++;
	}
	TH_LOG("%d injected allocation failures handled", injected);
}

/* ---- create races ---- */

#define RACERS 8

struct race_thread {
	pthread_barrier_t *bar;
	const char *name;
	unsigned int flags;
	int fd;
	int err;
};

static void *race_open(void *p)
{
	struct race_thread *t = p;

	pthread_barrier_wait(t->bar);
	errno = 0;
	t->fd = sys_ksm_open(t->name, t->flags, 0600);
	t->err = errno;
	return NULL;
}

TEST(open_create_excl_race_threads)
{
	struct race_thread t[RACERS];
	pthread_t th[RACERS];
	pthread_barrier_t bar;
	char name[64];
	int round, i, winners, fd;

	for (round = 0; round < 20; round++) {
		unique_name(name, sizeof(name), "xrace");
		ASSERT_EQ(0, pthread_barrier_init(&bar, NULL, RACERS));
		for (i = 0; i < RACERS; i++) {
			t[i] = (struct race_thread){ &bar, name, KSM_OPEN_CREATE | KSM_OPEN_EXCL,
						     -1, 0 };
			ASSERT_EQ(0, pthread_create(&th[i], NULL, race_open, &t[i]));
		}
		winners = 0;
		for (i = 0; i < RACERS; i++) {
			pthread_join(th[i], NULL);
			if (t[i].fd >= 0)
				winners++;
			else
				EXPECT_EQ(EEXIST, t[i].err)
					TH_LOG("round %d: %s", round, strerror(t[i].err));
		}
		pthread_barrier_destroy(&bar);
		EXPECT_EQ(1, winners) TH_LOG("round %d", round);
		for (i = 0; i < RACERS; i++)
			if (t[i].fd >= 0)
				close(t[i].fd);
		/* Gone with its last fd. */
		EXPECT_OPEN_FAIL(ENOENT, name, 0, 0);
		fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
		EXPECT_LE(0, fd);
		if (fd >= 0)
			close(fd);
	}
}

TEST(open_create_excl_race_processes)
{
	int *results = map_shared(RACERS * 2 * sizeof(int));
	int go[2], done[2], release[2];
	pid_t pids[RACERS];
	char name[64];
	int round, i, winners;

	ASSERT_NE(NULL, results);
	for (round = 0; round < 5; round++) {
		unique_name(name, sizeof(name), "prace");
		ASSERT_EQ(0, pipe(go));
		ASSERT_EQ(0, pipe(done));
		ASSERT_EQ(0, pipe(release));
		for (i = 0; i < RACERS; i++) {
			pids[i] = fork();
			ASSERT_LE(0, pids[i]);
			if (pids[i] == 0) {
				close(go[1]);
				close(done[0]);
				close(release[1]);
				get_byte(go[0]);	/* EOF: everyone starts */
				errno = 0;
				results[2 * i] = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL,
							      0600);
				results[2 * i + 1] = errno;
				put_byte(done[1], 'd');
				/* Hold the fd until everyone tried. */
				get_byte(release[0]);
				_exit(0);
			}
		}
		close(go[0]);
		close(done[1]);
		close(release[0]);
		close(go[1]);
		for (i = 0; i < RACERS; i++)
			ASSERT_EQ('d', get_byte(done[0]));
		close(release[1]);
		winners = 0;
		for (i = 0; i < RACERS; i++) {
			EXPECT_EQ(0, wait_status(pids[i]));
			if (results[2 * i] >= 0)
				winners++;
			else
				EXPECT_EQ(EEXIST, results[2 * i + 1])
					TH_LOG("round %d racer %d: %s", round, i,
					       strerror(results[2 * i + 1]));
		}
		EXPECT_EQ(1, winners) TH_LOG("round %d", round);
		close(done[0]);
		/* All racers exited, so the winner's partition is gone. */
		EXPECT_OPEN_FAIL(ENOENT, name, 0, 0);
	}
	munmap(results, RACERS * 2 * sizeof(int));
}

/*
 * Racing CREATE (no EXCL) from several processes: all succeed and get the
 * same partition, shown by effect: each merges its own identical pages
 * through its own fd, and all end up on one page frame.
 */
#define SAME_RACERS 4

struct same_race {
	char *addr[SAME_RACERS];
	int open_ret[SAME_RACERS];
	int open_errno[SAME_RACERS];
	ssize_t merge_ret[SAME_RACERS];
	struct ksm_merge_result res[SAME_RACERS];
};

TEST(open_create_race_same_partition)
{
	struct same_race *sh = map_shared(sizeof(*sh));
	uint64_t seeds[2] = { 0x5a5a00, 0x5a5a01 };
	struct chan ch[SAME_RACERS];
	pid_t pids[SAME_RACERS];
	int go[2], i, k;
	char name[64];

	ASSERT_NE(NULL, sh);
	unique_name(name, sizeof(name), "crace");
	ASSERT_EQ(0, pipe(go));
	for (i = 0; i < SAME_RACERS; i++) {
		ASSERT_EQ(0, chan_open(&ch[i]));
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			char *buf;
			int fd;

			close(go[1]);
			chan_child_side(&ch[i]);
			/* Hold no other racer's pipe ends (they must see EOF). */
			for (k = 0; k < i; k++) {
				close(ch[k].to_child[1]);
				close(ch[k].to_parent[0]);
			}
			buf = map_seeded(2, seeds);
			CHILD_CHECK(buf);
			sh->addr[i] = buf;
			get_byte(go[0]);	/* EOF: start together */
			errno = 0;
			fd = sys_ksm_open(name, KSM_OPEN_CREATE, 0600);
			sh->open_ret[i] = fd;
			sh->open_errno[i] = errno;
			CHILD_CHECK(put_byte(ch[i].to_parent[1], 'o') == 0);
			/* Merge when told, one after the other. */
			CHILD_CHECK(get_byte(ch[i].to_child[0]) == 'm');
			sh->merge_ret[i] = merge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize(),
						       &sh->res[i]);
			CHILD_CHECK(put_byte(ch[i].to_parent[1], 'd') == 0);
			get_byte(ch[i].to_child[0]);	/* stay until the PFNs are read */
			CHILD_CHECK(page_has_seed(buf, seeds[0]));
			CHILD_CHECK(page_has_seed(buf + psize(), seeds[1]));
			_exit(0);
		}
		chan_parent_side(&ch[i]);
	}
	close(go[1]);
	for (i = 0; i < SAME_RACERS; i++)
		ASSERT_EQ('o', get_byte(ch[i].to_parent[0]));
	for (i = 0; i < SAME_RACERS; i++) {
		int ret = sh->open_ret[i], err = sh->open_errno[i];

		ASSERT_LE(0, ret) TH_LOG("racer %d: %s", i, strerror(err));
	}
	for (i = 0; i < SAME_RACERS; i++) {
		ASSERT_EQ(0, put_byte(ch[i].to_child[1], 'm'));
		ASSERT_EQ('d', get_byte(ch[i].to_parent[0]));
		EXPECT_EQ((ssize_t)(2 * psize()), sh->merge_ret[i]);
		/* The first finds nothing, every later one finds the first's pages. */
		EXPECT_EQ(i == 0 ? 0 : 2, sh->res[i].pages_merged) TH_LOG("racer %d", i);
		EXPECT_EQ(i == 0 ? 2 : 0, sh->res[i].pages_unshared) TH_LOG("racer %d", i);
	}
	for (k = 0; k < 2; k++) {
		uint64_t first = pid_pfn(pids[0], sh->addr[0] + k * psize());

		EXPECT_NE(0, first);
		for (i = 1; i < SAME_RACERS; i++)
			EXPECT_EQ(first, pid_pfn(pids[i], sh->addr[i] + k * psize()))
				TH_LOG("page %d of racer %d is not on racer 0's frame", k, i);
	}
	for (i = 0; i < SAME_RACERS; i++) {
		close(ch[i].to_child[1]);
		EXPECT_EQ(0, wait_status(pids[i]));
		close(ch[i].to_parent[0]);
	}
	close(go[0]);
	EXPECT_OPEN_FAIL(ENOENT, name, 0, 0);
	munmap(sh, sizeof(*sh));
}

TEST(names_scoped_to_ipc_namespace)
{
	char name[64];
	pid_t pid;
	int fd;

	unique_name(name, sizeof(name), "ipcns");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int nfd;

		CHILD_CHECK(unshare(CLONE_NEWIPC) == 0);
		/* Not visible in the new namespace ... */
		CHILD_CHECK(sys_ksm_open(name, 0, 0) == -1 && errno == ENOENT);
		/* ... where the same name is a different partition. */
		nfd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
		CHILD_CHECK(nfd >= 0);
		CHILD_CHECK(join_partition(nfd, KSM_PIDFD_SELF, NULL) == 0);
		CHILD_CHECK(is_member(fd, KSM_PIDFD_SELF) == 0);
		CHILD_CHECK(join_partition(fd, KSM_PIDFD_SELF, NULL) == -1 && errno == EBUSY);
		CHILD_CHECK(sys_ksm_leave(nfd, KSM_PIDFD_SELF, 0) == 0);
		/* An inherited fd keeps working in any namespace. */
		CHILD_CHECK(join_partition(fd, KSM_PIDFD_SELF, NULL) == 0);
		CHILD_CHECK(is_member(fd, KSM_PIDFD_SELF) == 1);
		CHILD_CHECK(is_member(nfd, KSM_PIDFD_SELF) == 0);
		CHILD_CHECK(sys_ksm_leave(fd, KSM_PIDFD_SELF, 0) == 0);
		_exit(0);
	}
	EXPECT_EQ(0, wait_status(pid));
	/* The parent's name is untouched. */
	EXPECT_OPEN_FAIL(EEXIST, name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	close(fd);
}

/* ================================================================== */
/* ksm_merge                                                           */

TEST(merge_ebadf)
{
	int fd, closed, efd, nullfd, pidfd;
	char *buf = map_pairs(2, 0x1100);

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	closed = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, closed);
	close(closed);
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, nullfd);
	pidfd = sys_pidfd_open(getpid(), 0);
	ASSERT_LE(0, pidfd);

	/* fd: not open, not a partition. */
	EXPECT_FAIL(EBADF, merge_range(closed, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(-1, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(efd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(nullfd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(pidfd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	/* pidfd: neither KSM_PIDFD_SELF nor a pidfd. -1 is not "self". */
	EXPECT_FAIL(EBADF, merge_range(fd, -1, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(fd, KSM_PIDFD_SELF - 1, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(fd, KSM_PIDFD_SELF + 1, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(fd, INT_MIN, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(fd, nullfd, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(fd, efd, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(fd, fd, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, merge_range(fd, closed, buf, 4 * psize(), NULL));
	EXPECT_FAIL(EBADF, join_partition(fd, -1, NULL));

	/* Nothing happened. */
	EXPECT_NOT_MEMBER_SELF();
	EXPECT_EQ(0, pairs_state(0, buf, 2));
	EXPECT_EQ(0, ksm_merging_pages(0));

	close(fd);
	close(efd);
	close(nullfd);
	close(pidfd);
	munmap(buf, 4 * psize());
}

TEST(merge_einval)
{
	struct {
		struct ksm_merge_result r;
		unsigned char tail[32];
	} big, ref;
	struct iovec *many;
	struct iovec iov;
	char *buf = map_pairs(2, 0x1200);
	int fd, i;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	iov.iov_base = buf;
	iov.iov_len = 4 * psize();

	/* flags != 0; *res untouched. */
	memset(&big, 0xa5, sizeof(big));
	big.r.size = sizeof(big);
	ref = big;
	EXPECT_FAIL(EINVAL, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, &big.r, 1));
	EXPECT_FAIL(EINVAL, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, &big.r, 0x80000000U));
	EXPECT_FAIL(EINVAL, sys_ksm_merge(fd, KSM_PIDFD_SELF, NULL, 0, &big.r, 2));
	EXPECT_EQ(0, memcmp(&big, &ref, sizeof(big))) TH_LOG("*res written on failure");

	/* res->size below VER0. */
	big.r.size = KSM_MERGE_RESULT_SIZE_VER0 - 1;
	ref = big;
	EXPECT_FAIL(EINVAL, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, &big.r, 0));
	EXPECT_EQ(0, memcmp(&big, &ref, sizeof(big))) TH_LOG("*res written on failure");
	big.r.size = 0;
	ref = big;
	EXPECT_FAIL(EINVAL, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, &big.r, 0));
	EXPECT_FAIL(EINVAL, sys_ksm_merge(fd, KSM_PIDFD_SELF, NULL, 0, &big.r, 0));
	EXPECT_EQ(0, memcmp(&big, &ref, sizeof(big))) TH_LOG("*res written on failure");

	/* vlen > UIO_MAXIOV (1024). */
	many = calloc(1025, sizeof(*many));
	ASSERT_NE(NULL, many);
	for (i = 0; i < 1025; i++)
		many[i] = iov;
	EXPECT_FAIL(EINVAL, sys_ksm_merge(fd, KSM_PIDFD_SELF, many, 1025, NULL, 0));
	EXPECT_FAIL(EINVAL, sys_ksm_merge(fd, KSM_PIDFD_SELF, many, SIZE_MAX, NULL, 0));
	free(many);

	/* iov_len > SSIZE_MAX. */
	iov.iov_len = (size_t)SSIZE_MAX + 1;
	EXPECT_FAIL(EINVAL, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, NULL, 0));
	iov.iov_len = SIZE_MAX;
	EXPECT_FAIL(EINVAL, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, NULL, 0));

	/*
	 * Argument checks come before any work: no join, nothing merged.
	 * (abi.md does not say it in so many words for EINVAL; it does say
	 * *res is untouched and errors are reported only without progress.)
	 */
	EXPECT_NOT_MEMBER_SELF();
	EXPECT_EQ(0, pairs_state(0, buf, 2));
	close(fd);
	munmap(buf, 4 * psize());
}

TEST(merge_vlen_limit_and_zero_lengths)
{
	struct ksm_merge_result res;
	struct iovec *many;
	char *buf = map_pairs(2, 0x1300);
	int fd, i;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	many = calloc(1024, sizeof(*many));
	ASSERT_NE(NULL, many);
	for (i = 0; i < 1024; i++) {
		many[i].iov_base = buf;
		many[i].iov_len = 0;	/* touches no page */
	}
	/* UIO_MAXIOV itself is fine; zero lengths process nothing but join. */
	res_init(&res);
	EXPECT_EQ(0, sys_ksm_merge(fd, KSM_PIDFD_SELF, many, 1024, &res, 0));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
	EXPECT_EQ(0, res.pages_scanned + res.pages_absent + res.pages_skipped);
	EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
	EXPECT_EQ(0, pairs_state(0, buf, 2));
	/* The last of 1024 ranges is processed. */
	many[1023].iov_len = 4 * psize();
	res_init(&res);
	EXPECT_EQ((ssize_t)(4 * psize()), sys_ksm_merge(fd, KSM_PIDFD_SELF, many, 1024, &res, 0));
	EXPECT_EQ(2, res.pages_merged);
	EXPECT_EQ(1, pairs_state(0, buf, 2));
	free(many);
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	munmap(buf, 4 * psize());
}

TEST(merge_efault)
{
	struct ksm_merge_result *ro;
	struct iovec iov, *vecs;
	char *buf = map_pairs(2, 0x1400), *page2;
	void *hole = unmapped_page();
	int fd;

	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, hole);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);

	/* vec unreadable: entirely, or its second entry in an unmapped page. */
	EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, hole, 1, NULL, 0));
	EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, KERNEL_ADDR, 1, NULL, 0));
	page2 = mmap(NULL, 2 * psize(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page2);
	ASSERT_EQ(0, munmap(page2 + psize(), psize()));
	vecs = (struct iovec *)(page2 + psize()) - 1;
	vecs[0].iov_base = buf;
	vecs[0].iov_len = 4 * psize();
	EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, vecs, 2, NULL, 0));

	/* res->size unreadable. */
	iov.iov_base = buf;
	iov.iov_len = 4 * psize();
	EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, hole, 0));
	EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, KERNEL_ADDR, 0));
	EXPECT_NOT_MEMBER_SELF();
	EXPECT_EQ(0, pairs_state(0, buf, 2));

	/* Ranges outside the user address range: above TASK_SIZE, or wrapping. */
	iov.iov_base = KERNEL_ADDR;
	iov.iov_len = psize();
	EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, NULL, 0));
	iov.iov_base = (void *)0xffffffffff600000UL;	/* vsyscall page: not user range */
	EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, NULL, 0));
	iov.iov_base = (void *)-psize();
	iov.iov_len = 2 * psize();		/* wraps around */
	EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, NULL, 0));
	/* Straddling the end of the user address range. */
	iov.iov_base = (char *)user_addr_end() - psize();
	iov.iov_len = 2 * psize();
	EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, NULL, 0));
	/* A second range starting in user space and ending far above it. */
	{
		struct iovec two[2] = { { buf, 4 * psize() }, { buf, 1UL << 60 } };

		EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, two, 2, NULL, 0));
	}
	EXPECT_EQ(0, pairs_state(0, buf, 2));

	/* *res readable but not writable: EFAULT even though the work was done. */
	ro = mmap(NULL, psize(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	res_init(ro);
	ASSERT_EQ(0, mprotect(ro, psize(), PROT_READ));
	iov.iov_base = buf;
	iov.iov_len = 4 * psize();
	EXPECT_FAIL(EFAULT, sys_ksm_merge(fd, KSM_PIDFD_SELF, &iov, 1, ro, 0));

	sys_ksm_leave(fd, KSM_PIDFD_SELF, 0);
	munmap(ro, psize());
	munmap(page2, psize());
	close(fd);
	munmap(buf, 4 * psize());
}

static void *sleeper_thread(void *p)
{
	int *fds = p;
	char c;

	fds[2] = gettid();
	__atomic_store_n(&fds[3], 1, __ATOMIC_RELEASE);
	if (read(fds[0], &c, 1) < 0)
		return NULL;
	return NULL;
}

TEST(merge_esrch)
{
	char *buf = map_pairs(2, 0x1500);
	struct chan ch;
	siginfo_t si;
	int fd, pidfd;
	pid_t pid;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
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
	close(ch.to_child[1]);
	/* Wait for the zombie without reaping it. */
	memset(&si, 0, sizeof(si));
	ASSERT_EQ(0, waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
	ASSERT_EQ(pid, si.si_pid);

	EXPECT_FAIL(ESRCH, join_partition(fd, pidfd, NULL));
	EXPECT_FAIL(ESRCH, merge_range(fd, pidfd, buf, 4 * psize(), NULL));
	EXPECT_FAIL(ESRCH, sys_ksm_unmerge(fd, pidfd, NULL, 0, 0));
	EXPECT_FAIL(ESRCH, unmerge_range(fd, pidfd, buf, 4 * psize()));
	EXPECT_FAIL(ESRCH, sys_ksm_leave(fd, pidfd, 0));

	/* Reaped: still ESRCH. */
	EXPECT_EQ(0, wait_status(pid));
	EXPECT_FAIL(ESRCH, join_partition(fd, pidfd, NULL));
	EXPECT_FAIL(ESRCH, merge_range(fd, pidfd, buf, 4 * psize(), NULL));
	EXPECT_FAIL(ESRCH, sys_ksm_unmerge(fd, pidfd, NULL, 0, 0));
	EXPECT_FAIL(ESRCH, sys_ksm_leave(fd, pidfd, 0));

	EXPECT_NOT_MEMBER_SELF();
	EXPECT_EQ(0, pairs_state(0, buf, 2));
	close(pidfd);
	close(ch.to_parent[0]);
	close(fd);
	munmap(buf, 4 * psize());
}

TEST(merge_esrch_thread_pidfd)
{
	int fds[4] = { -1, -1, 0, 0 };
	int fd, tfd, lfd;
	pthread_t th;

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));
	ASSERT_EQ(0, pthread_create(&th, NULL, sleeper_thread, fds));
	while (!__atomic_load_n(&fds[3], __ATOMIC_ACQUIRE))
		sched_yield();
	tfd = sys_pidfd_open(fds[2], PIDFD_THREAD);
	if (tfd < 0) {
		close(fds[1]);
		pthread_join(th, NULL);
		SKIP(return, "pidfd_open(tid, PIDFD_THREAD) unsupported: %s", strerror(errno));
	}
	/* A PIDFD_THREAD pidfd of a non-leader thread: ESRCH (as process_madvise). */
	EXPECT_FAIL(ESRCH, join_partition(fd, tfd, NULL));
	EXPECT_FAIL(ESRCH, sys_ksm_unmerge(fd, tfd, NULL, 0, 0));
	EXPECT_FAIL(ESRCH, sys_ksm_leave(fd, tfd, 0));
	EXPECT_NOT_MEMBER_SELF();

	/* The leader's PIDFD_THREAD pidfd names the process. */
	lfd = sys_pidfd_open(getpid(), PIDFD_THREAD);
	ASSERT_LE(0, lfd);
	EXPECT_EQ(0, join_partition(fd, lfd, NULL));
	EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
	EXPECT_EQ(0, sys_ksm_leave(fd, lfd, 0));

	close(fds[1]);
	pthread_join(th, NULL);
	close(fds[0]);
	close(tfd);
	close(lfd);
	close(fd);
}

/* A process's own pidfd is the same as KSM_PIDFD_SELF. */
TEST(merge_own_pidfd)
{
	struct ksm_merge_result res;
	char *buf = map_pairs(2, 0x1600);
	int fd, pidfd;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	pidfd = sys_pidfd_open(getpid(), 0);
	ASSERT_LE(0, pidfd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, pidfd, buf, 4 * psize(), &res));
	EXPECT_EQ(KSM_MERGE_RESULT_JOINED, res.flags);
	EXPECT_EQ(2, res.pages_merged);
	EXPECT_EQ(1, pairs_state(0, buf, 2));
	EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
	EXPECT_EQ(0, sys_ksm_leave(fd, pidfd, 0));
	EXPECT_EQ(0, pairs_state(0, buf, 2));
	close(pidfd);
	close(fd);
	munmap(buf, 4 * psize());
}

/*
 * EPERM: an unprivileged caller may not merge (nor unmerge, nor make leave) a
 * root process, even with the partition fd; the check comes before the
 * membership checks (EBUSY/ENOENT). It may act on a process of its own uid.
 */
TEST(merge_eperm)
{
	char *buf = map_pairs(2, 0x1700);
	struct chan ch;
	int fd1, fd2;
	pid_t pid;

	ASSERT_NE(NULL, buf);
	fd1 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd1);
	fd2 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, chan_open(&ch));
	/* Forked before we join anything: neither it nor its children are members. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct ksm_merge_result res;
		struct chan gc;
		int root, gpid, gfd;

		chan_child_side(&ch);
		root = sys_pidfd_open(getppid(), 0);
		CHILD_CHECK(root >= 0);
		CHILD_CHECK(chan_open(&gc) == 0);
		CHILD_CHECK(drop_privileges(UNPRIV_UID, UNPRIV_GID) == 0);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'g');
		errno = 0;
		CHILD_CHECK(join_partition(fd1, root, NULL) == -1 && errno == EPERM);
		CHILD_CHECK(merge_range(fd1, root, buf, 4 * psize(), NULL) == -1 && errno == EPERM);
		CHILD_CHECK(merge_range(fd2, root, buf, 4 * psize(), NULL) == -1 && errno == EPERM);
		/* Not EBUSY/ENOENT (not a member of 1) nor success (a member of 2). */
		CHILD_CHECK(unmerge_range(fd1, root, buf, 4 * psize()) == -1 && errno == EPERM);
		CHILD_CHECK(unmerge_range(fd2, root, buf, 4 * psize()) == -1 && errno == EPERM);
		CHILD_CHECK(sys_ksm_leave(fd1, root, 0) == -1 && errno == EPERM);
		CHILD_CHECK(sys_ksm_leave(fd2, root, 0) == -1 && errno == EPERM);

		/* A process of the caller's own uid is fine. */
		gpid = fork();
		CHILD_CHECK(gpid >= 0);
		if (gpid == 0) {
			chan_child_side(&gc);
			get_byte(gc.to_child[0]);
			_exit(0);
		}
		chan_parent_side(&gc);
		gfd = sys_pidfd_open(gpid, 0);
		CHILD_CHECK(gfd >= 0);
		CHILD_CHECK(join_partition(fd1, gfd, &res) == 0);
		CHILD_CHECK(res.flags == KSM_MERGE_RESULT_JOINED);
		CHILD_CHECK(is_member(fd1, gfd) == 1);
		CHILD_CHECK(sys_ksm_leave(fd1, gfd, 0) == 0);
		close(gc.to_child[1]);
		CHILD_CHECK(wait_status(gpid) == 0);
		_exit(0);
	}
	chan_parent_side(&ch);
	/* The child never joins: pages it shares with us would not merge. */
	unshare_pages(buf, 4);
	/* The root target (this process) is a member of partition 2. */
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd2, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	ASSERT_EQ(1, pairs_state(0, buf, 2));
	ASSERT_EQ(0, put_byte(ch.to_child[1], 'g'));
	EXPECT_EQ(0, wait_status(pid));
	chan_parent_close(&ch);
	/* Nothing changed for the root process. */
	EXPECT_EQ(0, is_member(fd1, KSM_PIDFD_SELF));
	EXPECT_EQ(1, is_member(fd2, KSM_PIDFD_SELF));
	EXPECT_EQ(1, pairs_state(0, buf, 2));
	EXPECT_EQ(0, sys_ksm_leave(fd2, KSM_PIDFD_SELF, 0));
	close(fd1);
	close(fd2);
	munmap(buf, 4 * psize());
}

TEST(merge_ebusy_and_global_ksm_calls)
{
	char *buf = map_pairs(2, 0x1800);
	char *scratch;
	int fd1, fd2;

	ASSERT_NE(NULL, buf);
	scratch = map_anon(4);
	ASSERT_NE(NULL, scratch);
	fd1 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd1);
	fd2 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, join_partition(fd1, KSM_PIDFD_SELF, NULL));

	/* A member of partition 1 merged through partition 2. */
	EXPECT_FAIL(EBUSY, join_partition(fd2, KSM_PIDFD_SELF, NULL));
	EXPECT_FAIL(EBUSY, merge_range(fd2, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	EXPECT_EQ(0, pairs_state(0, buf, 2));
	EXPECT_EQ(1, is_member(fd1, KSM_PIDFD_SELF));
	EXPECT_EQ(0, is_member(fd2, KSM_PIDFD_SELF));

	/* Global KSM on a member: EBUSY, and nothing changes. */
	EXPECT_FAIL(EBUSY, madvise(scratch, 4 * psize(), MADV_MERGEABLE));
	EXPECT_EQ(0, vma_has_flag(0, scratch, "mg"));
	EXPECT_FAIL(EBUSY, prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0));
	EXPECT_EQ(0, prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0));
	EXPECT_EQ(0, vma_has_flag(0, scratch, "mg"));
	/* The "off" calls keep their upstream meaning and succeed. */
	EXPECT_EQ(0, madvise(scratch, 4 * psize(), MADV_UNMERGEABLE));
	EXPECT_EQ(0, prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0));

	/* The own partition still works. */
	EXPECT_EQ((ssize_t)(4 * psize()), merge_range(fd1, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	EXPECT_EQ(1, pairs_state(0, buf, 2));

	/* After leaving, global KSM calls work again. */
	EXPECT_EQ(0, sys_ksm_leave(fd1, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(0, madvise(scratch, 4 * psize(), MADV_MERGEABLE));
	EXPECT_EQ(1, vma_has_flag(0, scratch, "mg"));
	EXPECT_EQ(0, madvise(scratch, 4 * psize(), MADV_UNMERGEABLE));
	close(fd1);
	close(fd2);
	munmap(scratch, 4 * psize());
	munmap(buf, 4 * psize());
}

/* ---- EINTR: a tracer makes the call start with a signal pending ---- */

/* Lock-free atomic: safe to update from a signal handler without volatile. */
static atomic_int usr1_seen;

static void on_usr1(int sig)
{
	usr1_seen++;
}

struct eintr_arg {
	int fd;
	bool restart;
	long nr;		/* the syscall that gets the signal */
};

/*
 * Child side. For ksm_merge: merge 4 pairs; for ksm_unmerge: merge them first
 * (untraced call number), then unmerge. The tracer injects SIGUSR1 at the
 * entry of arg->nr.
 */
static int eintr_child(void *p)
{
	struct eintr_arg *a = p;
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct ksm_merge_result res;
	char *buf = map_pairs(4, 0x1900);
	size_t len = 8 * psize();
	ssize_t r;

	CHILD_CHECK(buf);
	sa.sa_flags = a->restart ? SA_RESTART : 0;
	CHILD_CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	if (a->nr == __NR_ksm_unmerge) {
		CHILD_CHECK(merge_range(a->fd, KSM_PIDFD_SELF, buf, len, NULL) == (ssize_t)len);
		CHILD_CHECK(pairs_state(0, buf, 4) == 1);
		errno = 0;
		r = unmerge_range(a->fd, KSM_PIDFD_SELF, buf, len);
	} else {
		errno = 0;
		r = merge_range(a->fd, KSM_PIDFD_SELF, buf, len, &res);
	}
	fprintf(stderr, "# traced call returned %zd errno %d, handler ran %d times\n", r, errno,
		(int)usr1_seen);
	CHILD_CHECK(usr1_seen == 1);
	if (!a->restart) {
		/* Interrupted before its first page: nothing done. */
		CHILD_CHECK(r == -1 && errno == EINTR);
		CHILD_CHECK(pairs_state(0, buf, 4) == (a->nr == __NR_ksm_unmerge ? 1 : 0));
	} else {
		/* Restarted transparently and completed. */
		CHILD_CHECK(r == (ssize_t)len);
		if (a->nr == __NR_ksm_merge)
			CHILD_CHECK(res.pages_merged == 4);
		CHILD_CHECK(pairs_state(0, buf, 4) == (a->nr == __NR_ksm_unmerge ? 0 : 1));
	}
	return 0;
}

/*
 * Trace a child running fn; at the syscall-entry stop of syscall nr queue
 * SIGUSR1 (so the call starts with it pending), let the call run, then
 * deliver the signal at its delivery stop and detach. Returns the child's
 * exit status, or a negative step number on tracing trouble. *raw gets the
 * syscall's return register at the exit stop.
 */
static int trace_signal_at_entry(int (*fn)(void *), void *arg, long nr, long *raw)
{
	struct __ptrace_syscall_info info;
	int st, sig = 0;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL))
			_exit(100);
		raise(SIGSTOP);
		_exit(fn(arg));
	}
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP)
		return -2;
	if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
		   (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)))
		return -3;
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)sig))
			return -4;
		sig = 0;
		if (waitpid(pid, &st, 0) != pid)
			return -5;
		if (!WIFSTOPPED(st))
			return -6;	/* exited without making the call */
		if (WSTOPSIG(st) != (SIGTRAP | 0x80)) {
			sig = WSTOPSIG(st);
			continue;
		}
		if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(info), &info) <= 0)
			return -7;
		if (info.op == PTRACE_SYSCALL_INFO_ENTRY && (long)info.entry.nr == nr)
			break;	/* entry of the call */
	}
	if (kill(pid, SIGUSR1))
		return -8;
	if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL))
		return -9;
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != (SIGTRAP | 0x80))
		return -10;
	if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(info), &info) <= 0 ||
	    info.op != PTRACE_SYSCALL_INFO_EXIT)
		return -11;
	*raw = info.exit.rval;
	if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL))
		return -12;
	if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st) || WSTOPSIG(st) != SIGUSR1)
		return -13;
	if (ptrace(PTRACE_DETACH, pid, NULL, (void *)(long)SIGUSR1))
		return -14;
	return wait_status(pid);
}

static void check_eintr(struct __test_metadata *_metadata, long nr, bool restart)
{
	struct eintr_arg a = { .restart = restart, .nr = nr };
	long raw = 0;
	int st;

	a.fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, a.fd);
	st = trace_signal_at_entry(eintr_child, &a, nr, &raw);
	TH_LOG("syscall %ld returned %ld in the kernel (-4 EINTR, -512 ERESTARTSYS)", nr, raw);
	EXPECT_EQ(0, st) TH_LOG("child/tracer status %d", st);
	close(a.fd);
}

TEST(merge_eintr)
{
	check_eintr(_metadata, __NR_ksm_merge, false);
}

TEST(merge_eintr_sa_restart_restarts)
{
	check_eintr(_metadata, __NR_ksm_merge, true);
}

TEST(unmerge_eintr)
{
	check_eintr(_metadata, __NR_ksm_unmerge, false);
}

TEST(unmerge_eintr_sa_restart_restarts)
{
	check_eintr(_metadata, __NR_ksm_unmerge, true);
}

/* ================================================================== */
/* ksm_unmerge                                                         */

TEST(unmerge_errors)
{
	char *buf = map_pairs(2, 0x1a00);
	void *hole = unmapped_page();
	struct iovec iov, *many;
	int fd, other, closed, efd, nullfd, i;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	other = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, other);
	closed = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, closed);
	close(closed);
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, nullfd);

	/* ENOENT: not a member (of any partition). */
	EXPECT_FAIL(ENOENT, unmerge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize()));
	EXPECT_FAIL(ENOENT, sys_ksm_unmerge(fd, KSM_PIDFD_SELF, NULL, 0, 0));
	EXPECT_NOT_MEMBER_SELF();

	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	ASSERT_EQ(1, pairs_state(0, buf, 2));
	/* ENOENT: a member of another partition. */
	EXPECT_FAIL(ENOENT, unmerge_range(other, KSM_PIDFD_SELF, buf, 4 * psize()));

	EXPECT_FAIL(EBADF, unmerge_range(closed, KSM_PIDFD_SELF, buf, 4 * psize()));
	EXPECT_FAIL(EBADF, unmerge_range(efd, KSM_PIDFD_SELF, buf, 4 * psize()));
	EXPECT_FAIL(EBADF, unmerge_range(nullfd, KSM_PIDFD_SELF, buf, 4 * psize()));
	EXPECT_FAIL(EBADF, unmerge_range(fd, -1, buf, 4 * psize()));
	EXPECT_FAIL(EBADF, unmerge_range(fd, nullfd, buf, 4 * psize()));
	EXPECT_FAIL(EBADF, unmerge_range(fd, efd, buf, 4 * psize()));
	EXPECT_FAIL(EBADF, unmerge_range(fd, KSM_PIDFD_SELF + 1, buf, 4 * psize()));

	iov.iov_base = buf;
	iov.iov_len = 4 * psize();
	EXPECT_FAIL(EINVAL, sys_ksm_unmerge(fd, KSM_PIDFD_SELF, &iov, 1, 1));
	EXPECT_FAIL(EINVAL, sys_ksm_unmerge(fd, KSM_PIDFD_SELF, &iov, 1, 0x80000000U));
	many = calloc(1025, sizeof(*many));
	ASSERT_NE(NULL, many);
	for (i = 0; i < 1025; i++)
		many[i] = iov;
	EXPECT_FAIL(EINVAL, sys_ksm_unmerge(fd, KSM_PIDFD_SELF, many, 1025, 0));
	free(many);
	iov.iov_len = (size_t)SSIZE_MAX + 1;
	EXPECT_FAIL(EINVAL, sys_ksm_unmerge(fd, KSM_PIDFD_SELF, &iov, 1, 0));

	EXPECT_FAIL(EFAULT, sys_ksm_unmerge(fd, KSM_PIDFD_SELF, hole, 1, 0));
	iov.iov_base = KERNEL_ADDR;
	iov.iov_len = psize();
	EXPECT_FAIL(EFAULT, sys_ksm_unmerge(fd, KSM_PIDFD_SELF, &iov, 1, 0));
	iov.iov_base = (void *)-psize();
	iov.iov_len = 2 * psize();
	EXPECT_FAIL(EFAULT, sys_ksm_unmerge(fd, KSM_PIDFD_SELF, &iov, 1, 0));

	/* None of the failures unmerged anything or ended the membership. */
	EXPECT_EQ(1, pairs_state(0, buf, 2));
	EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	close(other);
	close(efd);
	close(nullfd);
	munmap(buf, 4 * psize());
}

/* ENOENT for another process: a non-member child, and a member of another partition. */
TEST(unmerge_leave_enoent_other_process)
{
	struct chan ch;
	int fd, other, pidfd;
	pid_t pid;

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	other = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, other);
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
	EXPECT_FAIL(ENOENT, sys_ksm_unmerge(fd, pidfd, NULL, 0, 0));
	EXPECT_FAIL(ENOENT, sys_ksm_leave(fd, pidfd, 0));
	ASSERT_EQ(0, join_partition(other, pidfd, NULL));
	EXPECT_FAIL(ENOENT, sys_ksm_unmerge(fd, pidfd, NULL, 0, 0));
	EXPECT_FAIL(ENOENT, sys_ksm_leave(fd, pidfd, 0));
	EXPECT_EQ(1, is_member(other, pidfd));
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	close(pidfd);
	close(fd);
	close(other);
}

/* ================================================================== */
/* ksm_leave                                                           */

TEST(leave_errors)
{
	char *buf = map_pairs(2, 0x1b00);
	int fd, other, closed, efd, nullfd;

	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	other = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, other);
	closed = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, closed);
	close(closed);
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, nullfd);

	EXPECT_FAIL(ENOENT, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	ASSERT_EQ(1, pairs_state(0, buf, 2));
	EXPECT_FAIL(ENOENT, sys_ksm_leave(other, KSM_PIDFD_SELF, 0));
	EXPECT_FAIL(EBADF, sys_ksm_leave(closed, KSM_PIDFD_SELF, 0));
	EXPECT_FAIL(EBADF, sys_ksm_leave(efd, KSM_PIDFD_SELF, 0));
	EXPECT_FAIL(EBADF, sys_ksm_leave(nullfd, KSM_PIDFD_SELF, 0));
	EXPECT_FAIL(EBADF, sys_ksm_leave(fd, -1, 0));
	EXPECT_FAIL(EBADF, sys_ksm_leave(fd, nullfd, 0));
	EXPECT_FAIL(EBADF, sys_ksm_leave(fd, efd, 0));
	EXPECT_FAIL(EBADF, sys_ksm_leave(fd, KSM_PIDFD_SELF - 1, 0));
	EXPECT_FAIL(EINVAL, sys_ksm_leave(fd, KSM_PIDFD_SELF, 1));
	EXPECT_FAIL(EINVAL, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0x80000000U));

	/* "If the call fails, the target is still a member". */
	EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
	EXPECT_EQ(1, pairs_state(0, buf, 2));
	EXPECT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(0, pairs_state(0, buf, 2));
	EXPECT_FAIL(ENOENT, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	close(fd);
	close(other);
	close(efd);
	close(nullfd);
	munmap(buf, 4 * psize());
}

TEST_HARNESS_MAIN
