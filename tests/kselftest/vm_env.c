// SPDX-License-Identifier: GPL-2.0
/*
 * Preconditions every other ksmpart test relies on: we run on the kernel this
 * project built, as root, with PFNs visible in /proc/self/pagemap (without
 * CAP_SYS_ADMIN they read as 0 and every "same PFN" check would pass
 * vacuously), and with KSM present.
 */
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/const.h>

#include "kselftest_harness.h"

#define PM_PFN_MASK (_BITULL(55) - 1)
#define PM_PRESENT _BITULL(63)

TEST(kernel_is_ksmpart_build)
{
	struct utsname u;

	ASSERT_EQ(0, uname(&u));
	TH_LOG("running %s", u.release);
	ASSERT_NE(NULL, strstr(u.release, "-ksmpart"));
}

TEST(runs_as_root)
{
	ASSERT_EQ(0, geteuid());
}

TEST(pagemap_shows_pfns)
{
	long psize = sysconf(_SC_PAGESIZE);
	uint64_t entry = 0;
	char *p;
	int fd;

	p = mmap(NULL, psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x5a, psize);

	fd = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(sizeof(entry),
		  pread(fd, &entry, sizeof(entry), (uintptr_t)p / psize * sizeof(entry)));
	close(fd);

	EXPECT_TRUE(entry & PM_PRESENT);
	EXPECT_NE(0, entry & PM_PFN_MASK);
	munmap(p, psize);
}

TEST(ksm_sysfs_present)
{
	char buf[16] = "";
	int fd = open("/sys/kernel/mm/ksm/run", O_RDONLY);

	ASSERT_LE(0, fd);
	ASSERT_LT(0, read(fd, buf, sizeof(buf) - 1));
	close(fd);
	/* ksmd is stopped at boot; the tests that want it start it. */
	EXPECT_STREQ("0\n", buf);
}

TEST_HARNESS_MAIN
