// SPDX-License-Identifier: GPL-2.0
/*
 * /init of the arm64 test VM (tests/vm/arm64/run): a static program, because
 * the host's /usr is x86_64 and cannot be shared with the guest as on x86_64.
 *
 * Mounts the pseudo file systems, then runs the suites listed in /suites, one
 * line each: "NAME TIMEOUT_SECONDS PROGRAM [ARG...]" (programs are in the
 * initramfs), in /tmp, one after the other. Their output goes to the console;
 * after each, a line "# arm64-suite NAME exit STATUS" (STATUS 124: killed at
 * its timeout) tells the host what happened. Ends with "# arm64-done" and a
 * power-off (PSCI), which ends QEMU.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 16

static void mount_or_say(const char *type, const char *dir)
{
	mkdir(dir, 0755);
	if (mount(type, dir, type, 0, NULL) && errno != EBUSY)
		printf("# arm64-init: mount %s on %s: %s\n", type, dir, strerror(errno));
}

static void console(void)
{
	int fd;

	mkdir("/dev", 0755);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	fd = open("/dev/console", O_RDWR);
	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* Runs one suite, killing it (and its children) at its timeout. */
static int run_suite(char **argv, int timeout)
{
	time_t end = time(NULL) + timeout;
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return 125;
	if (!pid) {
		setpgid(0, 0);
		if (chdir("/tmp"))
			_exit(126);
		execv(argv[0], argv);
		printf("# arm64-init: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t done = waitpid(pid, &status, WNOHANG);

		if (done == pid)
			break;
		if (time(NULL) >= end) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 124;
		}
		usleep(100 * 1000);
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int main(void)
{
	char line[1024];
	FILE *suites;

	console();
	mount_or_say("proc", "/proc");
	mount_or_say("sysfs", "/sys");
	mount_or_say("tmpfs", "/tmp");
	mount_or_say("cgroup2", "/sys/fs/cgroup");
	setenv("PATH", "/bin", 1);
	setenv("HOME", "/tmp", 1);

	suites = fopen("/suites", "r");
	if (!suites)
		printf("# arm64-init: no /suites: %s\n", strerror(errno));
	while (suites && fgets(line, sizeof(line), suites)) {
		char *argv[MAX_ARGS + 1] = { NULL };
		char *name, *tok, *save;
		int argc = 0, timeout;

		name = strtok_r(line, " \t\n", &save);
		tok = strtok_r(NULL, " \t\n", &save);
		if (!name || !tok || name[0] == '#')
			continue;
		timeout = atoi(tok);
		while (argc < MAX_ARGS && (tok = strtok_r(NULL, " \t\n", &save)))
			argv[argc++] = tok;
		if (!argc)
			continue;
		printf("# arm64-suite %s start\n", name);
		printf("# arm64-suite %s exit %d\n", name, run_suite(argv, timeout));
	}
	printf("# arm64-done\n");
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
