// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A synthetic tenant process of the ksmpart demo: SAME_MIB of pages whose
 * content is a function of the tenant name and the page index (identical in
 * every process of the tenant, distinct from each other) and UNIQUE_MIB of
 * random pages. Then it sleeps until told (the protocol of demo/tenant.py):
 *
 *   SIGUSR1  prctl(PR_SET_MEMORY_MERGE, 1); writes RUNDIR/global.PID
 *   SIGUSR2  checks both areas against their content function; writes
 *            RUNDIR/verify.PID
 *   SIGTERM  exit
 *
 * Usage: synth-tenant TENANT RUNDIR SAME_MIB UNIQUE_MIB
 * (writes RUNDIR/ready.PID when its pages are written)
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <unistd.h>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif

static volatile sig_atomic_t pending;

static void on_signal(int sig)
{
	pending = sig;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

/* xorshift64 stream seeded by (tenant, page): never zero, never repeating
 * between pages in practice */
static void fill_page(uint64_t *p, size_t words, uint64_t tenant, size_t page)
{
	uint64_t x = tenant ^ ((page + 1) * 0x9e3779b97f4a7c15ULL);

	for (size_t i = 0; i < words; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

static void report(const char *rundir, const char *kind, const char *text)
{
	char path[4096], tmp[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.%d", rundir, kind, (int)getpid());
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s\n", text) < 0 || fclose(f) || rename(tmp, path)) {
		perror(path);
		exit(1);
	}
}

static void *area(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	/* base pages, whatever the THP default */
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

int main(int argc, char **argv)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), words = ps / sizeof(uint64_t);
	size_t same_pages, unique_pages, i;
	unsigned char *same, *unique;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, old;
	uint64_t tenant, seed;
	char text[64];

	if (argc != 5) {
		fprintf(stderr, "usage: %s TENANT RUNDIR SAME_MIB UNIQUE_MIB\n", argv[0]);
		return 2;
	}
	tenant = fnv1a(argv[1]);
	same_pages = strtoul(argv[3], NULL, 10) * (1 << 20) / ps;
	unique_pages = strtoul(argv[4], NULL, 10) * (1 << 20) / ps;

	same = area(same_pages * ps);
	for (i = 0; i < same_pages; i++)
		fill_page((uint64_t *)(same + i * ps), words, tenant, i);
	/* a random seed per process: content no other process holds, which
	 * it can still check without keeping a (mergeable) copy */
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
		perror("getrandom");
		return 1;
	}
	unique = area(unique_pages * ps);
	for (i = 0; i < unique_pages; i++)
		fill_page((uint64_t *)(unique + i * ps), words, seed, i);

	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	report(argv[2], "ready", "synthetic");

	for (;;) {
		sigsuspend(&old);
		if (pending == SIGTERM)
			return 0;
		if (pending == SIGUSR1) {
			int rc = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0);

			snprintf(text, sizeof(text), "%d", rc ? errno : 0);
			report(argv[2], "global", text);
		} else if (pending == SIGUSR2) {
			uint64_t *want = malloc(ps);
			int ok = want != NULL;

			for (i = 0; ok && i < same_pages; i++) {
				fill_page(want, words, tenant, i);
				ok = !memcmp(same + i * ps, want, ps);
			}
			for (i = 0; ok && i < unique_pages; i++) {
				fill_page(want, words, seed, i);
				ok = !memcmp(unique + i * ps, want, ps);
			}
			free(want);
			report(argv[2], "verify", ok ? "ok" : "corrupt");
		}
		pending = 0;
	}
}
