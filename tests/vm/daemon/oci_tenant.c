// SPDX-License-Identifier: GPL-2.0-or-later
// The program of the OCI test containers (static: the bundle's rootfs has
// nothing else): fills PAGES pages, page i with a pattern of i and SEED,
// prints "ready ADDRESS" and waits until killed.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t pages = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
	unsigned seed = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 1;
	size_t ps = (size_t)sysconf(_SC_PAGESIZE), words = ps / 8;
	uint64_t *w = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	                   -1, 0);

	if (w == MAP_FAILED)
		return 1;
	madvise(w, pages * ps, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < pages; i++)
		for (size_t j = 0; j < words; j++)
			w[i * words + j] = ((i + 1) * 0x9e3779b97f4a7c15ull ^ j) + seed * 0x100000001ull;
	printf("ready %p\n", (void *)w);
	fflush(stdout);
	for (;;)
		pause();
}
