// SPDX-License-Identifier: GPL-2.0
/*
 * Review 2026-12, F1 and L8: a 32-bit (compat, TIF_ADDR32) process for
 * ksm_part_compat. Built with gcc -m32 -static (Makefile), run by the test as
 * root. Whatever a compat task does in the kernel sees the compat TASK_SIZE.
 *
 *   ksm_compat32_helper probe
 *       exit 0: compat tasks run at all (CONFIG_IA32_EMULATION)
 *   ksm_compat32_helper madvise PID ADDR LEN SECONDS
 *       loop process_madvise(pidfd(PID), {ADDR, LEN}, MADV_COLD) (each call
 *       holds PID's mm: mm_access() .. mmput()) until PID is gone (ESRCH) or
 *       SECONDS pass; prints "calls N errno E"
 *   ksm_compat32_helper smaps PID SECONDS
 *       loop reading /proc/PID/smaps_rollup (also holds the mm) likewise
 *   ksm_compat32_helper write PATH VALUE
 *       write VALUE to PATH (e.g. /sys/kernel/mm/ksm/run 2)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* i386 numbers (arch/x86/entry/syscalls/syscall_32.tbl) */
#define NR32_pidfd_open 434
#define NR32_process_madvise 440
#define MADV_COLD_ 20

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (sizeof(void *) != 4) {
		fprintf(stderr, "helper: not built 32-bit\n");
		return 3;
	}
	if (argc >= 2 && !strcmp(argv[1], "probe"))
		return 0;
	if (argc == 6 && !strcmp(argv[1], "madvise")) {
		pid_t pid = atoi(argv[2]);
		struct iovec iov = {
			.iov_base = (void *)(uintptr_t)strtoul(argv[3], NULL, 0),
			.iov_len = strtoul(argv[4], NULL, 0),
		};
		double end = now() + atof(argv[5]);
		long calls = 0, r;
		int pidfd = syscall(NR32_pidfd_open, pid, 0), e = 0;

		if (pidfd < 0) {
			printf("calls 0 errno %d\n", errno);
			return 0;
		}
		while (now() < end) {
			r = syscall(NR32_process_madvise, pidfd, &iov, 1, MADV_COLD_, 0);
			calls++;
			if (r < 0) {
				e = errno;
				if (e == ESRCH)
					break;
				if (e != EINTR && e != EAGAIN) {
					fprintf(stderr, "helper: process_madvise: %s\n", strerror(e));
					break;
				}
			}
		}
		printf("calls %ld errno %d\n", calls, e);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "smaps")) {
		char path[64], buf[4096];
		double end = now() + atof(argv[3]);
		long calls = 0;
		int e = 0;

		snprintf(path, sizeof(path), "/proc/%s/smaps_rollup", argv[2]);
		while (now() < end) {
			int fd = open(path, O_RDONLY);

			calls++;
			if (fd < 0) {
				e = errno;
				break;
			}
			while (read(fd, buf, sizeof(buf)) > 0)
				;
			close(fd);
		}
		printf("calls %ld errno %d\n", calls, e);
		return 0;
	}
	if (argc == 4 && !strcmp(argv[1], "write")) {
		int fd = open(argv[2], O_WRONLY);
		ssize_t n;

		if (fd < 0) {
			fprintf(stderr, "helper: open %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		n = write(fd, argv[3], strlen(argv[3]));
		if (n != (ssize_t)strlen(argv[3])) {
			fprintf(stderr, "helper: write %s: %s\n", argv[2], strerror(errno));
			close(fd);
			return 1;
		}
		close(fd);
		return 0;
	}
	fprintf(stderr, "usage: %s probe | madvise PID ADDR LEN SECONDS | smaps PID SECONDS | write PATH VALUE\n",
		argv[0]);
	return 2;
}
