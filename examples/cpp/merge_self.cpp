// SPDX-License-Identifier: LGPL-2.1-or-later
// Example: deduplicate this process's own duplicate pages in an anonymous
// partition and show the effect. Exits non-zero if nothing was merged.
#include <ksmpart/ksmpart.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace {

/// ksm_merging_pages from /proc/self/ksm_stat: this process's pages that
/// map a KSM page.
long merging_pages()
{
	std::ifstream f("/proc/self/ksm_stat");
	std::string key;
	long value;
	while (f >> key >> value)
		if (key == "ksm_merging_pages")
			return value;
	return -1;
}

} // namespace

int main()
{
	const std::size_t page = sysconf(_SC_PAGESIZE), pages = 64, dups = 32;
	auto *buf = static_cast<char *>(mmap(nullptr, pages * page, PROT_READ | PROT_WRITE,
	                                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	// 32 identical pages, 32 distinct ones (written, so that they exist).
	for (std::size_t i = 0; i < pages; i++)
		std::memset(buf + i * page, i < dups ? 'A' : int(i), page);

	auto part = ksmpart::Partition::anonymous();
	if (!part) {
		std::fprintf(stderr, "merge-self-cpp: %s\n", part.error().message().c_str());
		return 1;
	}
	auto report =
	    part->merge(ksmpart::Pidfd::self(), std::vector{ksmpart::Range::of(buf, pages * page)});
	if (!report.ok()) {
		std::fprintf(stderr, "merge-self-cpp: %s\n", report.error.message().c_str());
		return 1;
	}
	const auto &c = report.counters;
	std::printf("merged: %llu scanned, %llu merged, %llu unshared (%zu calls)%s\n",
	            (unsigned long long)c.pages_scanned, (unsigned long long)c.pages_merged,
	            (unsigned long long)c.pages_unshared, report.calls,
	            report.joined ? ", joined" : "");

	int failures = 0;
	if (auto st = part->stats()) {
		std::printf("partition %llu: %llu members, %llu shared, %llu sharing, profit %lld "
		            "bytes\n",
		            (unsigned long long)st->id, (unsigned long long)st->members,
		            (unsigned long long)st->pages_shared,
		            (unsigned long long)st->pages_sharing, (long long)st->general_profit);
		failures += st->pages_sharing != dups - 1;
	} else {
		std::printf("stats: %s\n", st.error().message().c_str());
	}
	long merging = merging_pages();
	std::printf("ksm_merging_pages: %ld (expected %zu)\n", merging, dups);
	failures += merging != long(dups);
	failures += c.pages_merged != dups - 1;
	for (std::size_t i = 0; i < pages; i++) // contents unchanged
		failures += buf[i * page + page - 1] != (i < dups ? 'A' : char(i));

	if (auto left = part->leave(ksmpart::Pidfd::self()); !left) {
		std::fprintf(stderr, "merge-self-cpp: %s\n", left.error().message().c_str());
		return 1;
	}
	std::printf("%s\n", failures ? "FAIL" : "OK");
	return failures ? 1 : 0;
}
