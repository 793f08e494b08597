/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Example: deduplicate this process's own duplicate pages in an anonymous
 * partition with the C API and show the effect. Exits non-zero if nothing
 * was merged.
 */
#include <ksmpart.h>

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* This process's pages that map a KSM page (/proc/self/ksm_stat). */
static long merging_pages(void)
{
	char key[64];
	long value = -1, found = -1;
	FILE *f = fopen("/proc/self/ksm_stat", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &value) == 2)
		if (!strcmp(key, "ksm_merging_pages"))
			found = value;
	fclose(f);
	return found;
}

int main(void)
{
	const size_t page = sysconf(_SC_PAGESIZE), pages = 64, dups = 32;
	struct ksmpart_merge_report rep = {.size = sizeof(rep)};
	struct ksmpart_stats st = {.size = sizeof(st)};
	struct ksmpart_partition *p;
	struct iovec range;
	int failures = 0;
	long merging;
	char *buf;
	size_t i;

	buf = mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/* 32 identical pages, 32 distinct ones (written, so that they exist). */
	for (i = 0; i < pages; i++)
		memset(buf + i * page, i < dups ? 'A' : (int)i, page);

	if (ksmpart_open_anonymous(0, &p) < 0) {
		fprintf(stderr, "merge-self-c: %s\n", ksmpart_last_error());
		return 1;
	}
	range.iov_base = buf;
	range.iov_len = pages * page;
	if (ksmpart_merge(p, KSMPART_PIDFD_SELF, &range, 1, &rep) < 0) {
		fprintf(stderr, "merge-self-c: %s\n", ksmpart_last_error());
		return 1;
	}
	printf("merged: %llu scanned, %llu merged, %llu unshared (%u calls)%s\n",
	       (unsigned long long)rep.pages_scanned, (unsigned long long)rep.pages_merged,
	       (unsigned long long)rep.pages_unshared, rep.calls,
	       rep.flags & KSMPART_REPORT_JOINED ? ", joined" : "");
	if (ksmpart_get_stats(p, &st) == 0) {
		printf(
		    "partition %llu: %llu members, %llu shared, %llu sharing, profit %lld bytes\n",
		    (unsigned long long)st.id, (unsigned long long)st.members,
		    (unsigned long long)st.pages_shared, (unsigned long long)st.pages_sharing,
		    (long long)st.general_profit);
		failures += st.pages_sharing != dups - 1;
	} else {
		printf("stats: %s\n", ksmpart_last_error());
	}
	merging = merging_pages();
	printf("ksm_merging_pages: %ld (expected %zu)\n", merging, dups);
	failures += merging != (long)dups;
	failures += rep.pages_merged != dups - 1;
	for (i = 0; i < pages; i++) /* contents unchanged */
		failures += buf[i * page + page - 1] != (i < dups ? 'A' : (char)i);

	if (ksmpart_leave(p, KSMPART_PIDFD_SELF) < 0) {
		fprintf(stderr, "merge-self-c: %s\n", ksmpart_last_error());
		return 1;
	}
	ksmpart_close(p);
	printf("%s\n", failures ? "FAIL" : "OK");
	return failures ? 1 : 0;
}
