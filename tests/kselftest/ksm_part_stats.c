// SPDX-License-Identifier: GPL-2.0
/*
 * ksmpart statistics, checked against ground truth the tests create: the
 * KSM_IOC_GET_STATS ioctl (size versioning, errors, every field), the fd's
 * fdinfo lines, the administrator's table /proc/ksm_partitions (rows,
 * permissions, lifetime) and the sums in /sys/kernel/mm/ksm/partitions/, the
 * ksm_partition line of /proc/PID/ksm_stat, the system-wide
 * /sys/kernel/mm/ksm/ counters (global KSM only: partitions never move them),
 * KSM_OPEN_ZERO_PAGES partitions (zero page frames from pagemap, counts
 * through unmerge, faults, fork and exit) and the ksm_partition_* tracepoints.
 *
 * Partition ids are random 64-bit numbers: never ordered, never small.
 */
#define _GNU_SOURCE
#include "ksmpart.h"

#include <inttypes.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mount.h>

#include "kselftest_harness.h"

#define STATS_EXEC_HELPER_ARG "--ksmpart-stats-exec-helper"
#define UNPRIV_UID 65534
#define UNPRIV_GID 65534
#define PARTS_SYSFS KSM_SYSFS "partitions/"
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#define PROC_PARTS "/proc/ksm_partitions"
#define PROC_PARTS_HEADER \
	"id uid gid mode flags members pages_shared pages_sharing pages_unshared " \
	"ksm_zero_pages rmap_items general_profit name"

/* No partition: the value of ksm_stat_id() when the line is missing. */
#define NO_ID_LINE UINT64_MAX

/*
 * The "ksm_partition <id>" line of /proc/PID/ksm_stat (pid 0: self) as an
 * unsigned 64-bit id; 0 for a non-member, NO_ID_LINE if the line is missing
 * (ksm_stat() returns -1 then, and parses ids as unsigned).
 */
static uint64_t ksm_stat_id(pid_t pid)
{
	return (uint64_t)ksm_stat(pid, "ksm_partition");
}

/*
 * The exec target of ksm_stat_partition_line: this binary again, run with
 * STATS_EXEC_HELPER_ARG WFD RFD. Writes the ksm_partition value of its own
 * /proc/self/ksm_stat (a uint64_t, NO_ID_LINE if the line is missing) to
 * WFD, then waits for EOF on RFD so that the parent can read
 * /proc/PID/ksm_stat too.
 */
static void __attribute__((constructor)) stats_exec_helper(int argc, char **argv)
{
	uint64_t v;
	char c;

	if (argc < 4 || strcmp(argv[1], STATS_EXEC_HELPER_ARG))
		return;
	v = ksm_stat_id(0);
	if (write(atoi(argv[2]), &v, sizeof(v)) != sizeof(v))
		_exit(2);
	while (read(atoi(argv[3]), &c, 1) == 1)
		;
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* Statistics from the ioctl, fdinfo and /proc/ksm_partitions          */

struct stat_field {
	const char *name;	/* fdinfo key with "ksm_" prepended if missing */
	size_t off;
};

#define SF(n) { #n, offsetof(struct ksm_partition_stats, n) }

/* In the order of struct ksm_partition_stats (and of fdinfo) */
static const struct stat_field stat_fields[] = {
	SF(members), SF(pages_shared), SF(pages_sharing), SF(pages_unshared),
	SF(ksm_zero_pages), SF(rmap_items), SF(stable_node_chains), SF(stable_node_dups),
	SF(general_profit), SF(merge_calls), SF(unmerge_calls), SF(leave_calls),
	SF(pages_scanned), SF(pages_merged), SF(zero_pages_merged), SF(pages_failed),
	SF(pages_absent), SF(pages_skipped), SF(merge_time_ns), SF(unmerge_time_ns),
};

#define NR_STAT_FIELDS ((int)ARRAY_SIZE(stat_fields))

static long long stat_value(const struct ksm_partition_stats *st, int i)
{
	return *(const long long *)((const char *)st + stat_fields[i].off);
}

static void fdinfo_key(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s%s", strncmp(name, "ksm_", 4) ? "ksm_" : "", name);
}

static int get_stats(int fd, struct ksm_partition_stats *st)
{
	memset(st, 0, sizeof(*st));
	return ioctl(fd, KSM_IOC_GET_STATS, st);
}

static void stats_print(const char *what, const struct ksm_partition_stats *st)
{
	int i;

	fprintf(stderr, "# %s: size %u flags %#x id %llu", what, st->size, st->flags,
		(unsigned long long)st->id);
	for (i = 0; i < NR_STAT_FIELDS; i++)
		fprintf(stderr, "%s %s %lld", i % 6 ? "" : "\n#  ", stat_fields[i].name,
			stat_value(st, i));
	fprintf(stderr, "\n");
}

/* Compare one field, print the whole snapshot on mismatch. */
#define EXPECT_STAT(st, field, val) do { \
	const struct ksm_partition_stats __st = (st); \
	EXPECT_EQ((long long)(val), (long long)__st.field) { \
		TH_LOG("stats." #field " of partition %llu", (unsigned long long)__st.id); \
		stats_print("stats", &__st); \
	} \
} while (0)

/* The gauges: shared, sharing, unshared, zero, rmap items, members. */
#define EXPECT_GAUGES(st, sh, sg, un, zp, ri, mb) do { \
	const struct ksm_partition_stats *__gst = &(st); \
	EXPECT_STAT(*__gst, pages_shared, sh); \
	EXPECT_STAT(*__gst, pages_sharing, sg); \
	EXPECT_STAT(*__gst, pages_unshared, un); \
	EXPECT_STAT(*__gst, ksm_zero_pages, zp); \
	EXPECT_STAT(*__gst, rmap_items, ri); \
	EXPECT_STAT(*__gst, members, mb); \
} while (0)

/*
 * sizeof(struct ksm_rmap_item) solved from general_profit =
 * (pages_sharing + ksm_zero_pages) * PAGE_SIZE - rmap_items * sizeof: 0 if
 * rmap_items is 0, -1 if it does not divide.
 */
static long rmap_item_size(const struct ksm_partition_stats *st)
{
	long long meta = (long long)(st->pages_sharing + st->ksm_zero_pages) * psize() -
			 st->general_profit;

	if (!st->rmap_items)
		return 0;
	if (meta % (long long)st->rmap_items)
		return -1;
	return meta / (long long)st->rmap_items;
}

/*
 * general_profit consistent with an item size: *isz is the size found so far
 * (0 unknown), set from the first snapshot with rmap items.
 */
static bool profit_consistent(const struct ksm_partition_stats *st, long *isz)
{
	long s = rmap_item_size(st);

	if (!st->rmap_items)
		return st->general_profit ==
		       (long long)(st->pages_sharing + st->ksm_zero_pages) * (long long)psize();
	if (s < 32 || s > 256)
		return false;
	if (!*isz)
		*isz = s;
	return s == *isz;
}

#define EXPECT_PROFIT(st, isz) do { \
	const struct ksm_partition_stats *__st = &(st); \
	long *__isz = &(isz); \
	EXPECT_TRUE(profit_consistent(__st, __isz)) { \
		TH_LOG("general_profit %lld inconsistent: solved rmap item size %ld, earlier %ld", \
		       (long long)__st->general_profit, rmap_item_size(__st), *__isz); \
		stats_print("stats", __st); \
	} \
} while (0)

/* The whole of /proc/PID/fdinfo/FD (pid 0: self) into buf; length or -1. */
static ssize_t read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -1;
	while ((size_t)total < len - 1 && (n = read(fd, buf + total, len - 1 - total)) > 0)
		total += n;
	close(fd);
	buf[total] = 0;
	return total;
}

static ssize_t read_fdinfo(pid_t pid, int fd, char *buf, size_t len)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	else
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return read_file(path, buf, len);
}

/* Value of the "key:\tvalue" line of an fdinfo text into val; 0 or -1 if absent. */
static int fdinfo_get(const char *text, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, key, klen) && p[klen] == ':') {
			const char *v = p + klen + 1, *e;

			while (*v == ' ' || *v == '\t')
				v++;
			e = strchr(v, '\n');
			if (!e)
				e = v + strlen(v);
			snprintf(val, len, "%.*s", (int)(e - v), v);
			return 0;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

/* A signed /sys/kernel/mm/ksm/ file (general_profit may be negative); LLONG_MIN if unreadable. */
static long long ksm_global_ll(const char *name)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), KSM_SYSFS "%s", name);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return LLONG_MIN;
	return strtoll(buf, NULL, 10);
}

/* A sum over all partitions, /sys/kernel/mm/ksm/partitions/<name>; LLONG_MIN if unreadable. */
static long long parts_total(const char *name)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), PARTS_SYSFS "%s", name);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return LLONG_MIN;
	return strtoll(buf, NULL, 10);
}

/* One row of /proc/ksm_partitions */
struct part_row {
	unsigned long long id;
	unsigned int uid, gid, mode, flags;
	char mode_text[16], flags_text[16];
	/* the gauges, in the order of the columns */
	long long members, pages_shared, pages_sharing, pages_unshared, ksm_zero_pages,
		  rmap_items, general_profit;
	bool named;
	char name[256];
};

/* The whole table */
struct part_table {
	int n;
	struct part_row *rows;
	bool header_ok;
	char bad[512];		/* first line that is neither header nor a well-formed row */
	int dup;		/* rows whose id an earlier row has */
};

/* Parse one row; false if it is not exactly the documented format. */
static bool part_row_parse(const char *line, struct part_row *r)
{
	int end = -1;
	char *e;

	memset(r, 0, sizeof(*r));
	if (sscanf(line, "%llu %u %u %15s %15s %lld %lld %lld %lld %lld %lld %lld%n",
		   &r->id, &r->uid, &r->gid, r->mode_text, r->flags_text, &r->members,
		   &r->pages_shared, &r->pages_sharing, &r->pages_unshared, &r->ksm_zero_pages,
		   &r->rmap_items, &r->general_profit, &end) != 12 || end < 0)
		return false;
	/* mode: %04o */
	if (strlen(r->mode_text) != 4 || strspn(r->mode_text, "01234567") != 4)
		return false;
	r->mode = strtoul(r->mode_text, NULL, 8);
	/* flags: %#x */
	r->flags = strtoul(r->flags_text, &e, 16);
	if (*e || (r->flags && strncmp(r->flags_text, "0x", 2)))
		return false;
	if (!line[end])
		return true;
	if (line[end] != ' ' || !line[end + 1])
		return false;
	r->named = true;
	snprintf(r->name, sizeof(r->name), "%s", line + end + 1);
	return true;
}

/*
 * Read and parse /proc/ksm_partitions: 0, or -1 with errno if it cannot be
 * read. Malformed lines are reported in t->bad (checked by
 * EXPECT_TABLE_OK), not skipped silently.
 */
static int part_table_read(struct part_table *t)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap), *line, *save;
	int fd, cap_rows = 16, lineno = 0;
	ssize_t n;

	memset(t, 0, sizeof(*t));
	if (!buf)
		return -1;
	fd = open(PROC_PARTS, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		free(buf);
		errno = e;
		return -1;
	}
	while ((n = read(fd, buf + len, cap - 1 - len)) > 0) {
		len += n;
		if (len == cap - 1) {
			char *nb = realloc(buf, cap * 2);

			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	buf[len] = 0;
	t->rows = calloc(cap_rows, sizeof(*t->rows));
	for (line = strtok_r(buf, "\n", &save); line && t->rows;
	     line = strtok_r(NULL, "\n", &save), lineno++) {
		struct part_row r;
		int i;

		if (lineno == 0) {
			t->header_ok = !strcmp(line, PROC_PARTS_HEADER);
			if (!t->header_ok)
				snprintf(t->bad, sizeof(t->bad), "header: %s", line);
			continue;
		}
		if (!part_row_parse(line, &r)) {
			if (!t->bad[0])
				snprintf(t->bad, sizeof(t->bad), "line %d: %s", lineno, line);
			continue;
		}
		for (i = 0; i < t->n; i++)
			if (t->rows[i].id == r.id)
				t->dup++;
		if (t->n == cap_rows) {
			struct part_row *nr = realloc(t->rows, 2 * cap_rows * sizeof(*nr));

			if (!nr)
				break;
			t->rows = nr;
			cap_rows *= 2;
		}
		t->rows[t->n++] = r;
	}
	free(buf);
	return t->rows ? 0 : -1;
}

static void part_table_free(struct part_table *t)
{
	free(t->rows);
	t->rows = NULL;
	t->n = 0;
}

static const struct part_row *part_row_find(const struct part_table *t, uint64_t id)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (t->rows[i].id == id)
			return &t->rows[i];
	return NULL;
}

/* Read the table, assert it is readable and well-formed. */
#define READ_TABLE(t) do { \
	struct part_table *__t = &(t); \
	ASSERT_EQ(0, part_table_read(__t)) TH_LOG(PROC_PARTS ": %s", strerror(errno)); \
	EXPECT_TRUE(__t->header_ok) TH_LOG("%s", __t->bad); \
	EXPECT_EQ(0, __t->bad[0]) TH_LOG("malformed: %s", __t->bad); \
	EXPECT_EQ(0, __t->dup) TH_LOG("%d rows with an id seen before", __t->dup); \
} while (0)

/* Is there a row for the partition? (The file must be readable.) -1 if not readable. */
static int part_row_present(uint64_t id)
{
	struct part_table t;
	int r;

	if (part_table_read(&t))
		return -1;
	r = !!part_row_find(&t, id);
	part_table_free(&t);
	return r;
}

static void row_print(const char *what, const struct part_row *r)
{
	fprintf(stderr,
		"# %s: id %llu uid %u gid %u mode %s flags %s members %lld shared %lld sharing %lld unshared %lld zero %lld rmap_items %lld profit %lld%s%s\n",
		what, (unsigned long long)r->id, r->uid, r->gid, r->mode_text, r->flags_text,
		r->members, r->pages_shared, r->pages_sharing, r->pages_unshared,
		r->ksm_zero_pages, r->rmap_items, r->general_profit,
		r->named ? " name " : " (anonymous)", r->named ? r->name : "");
}

/*
 * The fdinfo ksm_flags text: hex with "0x" ("0x8"). For no flags the
 * kernel's %#x gives "0x0" where user space printf gives "0": both accepted.
 */
static bool flags_text_ok(const char *val, unsigned int flags)
{
	char *end;

	if (strtoul(val, &end, 16) != flags || *end)
		return false;
	if (!flags)
		return !strcmp(val, "0") || !strcmp(val, "0x0");
	return !strncmp(val, "0x", 2);
}

/*
 * The fdinfo lines of partition fd (in the documented order) and its row of
 * /proc/ksm_partitions equal the ioctl's values; the row's identity columns
 * equal fdinfo's (owner "UID GID", mode "0NNN"; NULL: not checked).
 */
static void check_views(struct __test_metadata *_metadata, int fd, const char *name,
			const char *owner, const char *mode)
{
	char text[8192], key[64], val[256];
	struct ksm_partition_stats st, st2;
	const struct part_row *row;
	struct part_table t;
	const char *p;
	int i, k;

	const char *expect[8 + NR_STAT_FIELDS];
	char keys[NR_STAT_FIELDS][48];
	int n = 0, bad = -1;

	ASSERT_EQ(0, get_stats(fd, &st));
	ASSERT_LT(0, read_fdinfo(0, fd, text, sizeof(text)));

	/* ksm_* lines in the documented order */
	expect[n++] = "ksm_id";
	if (name)
		expect[n++] = "ksm_name";
	expect[n++] = "ksm_owner";
	expect[n++] = "ksm_mode";
	expect[n++] = "ksm_flags";
	for (i = 0; i < NR_STAT_FIELDS; i++) {
		fdinfo_key(keys[i], sizeof(keys[i]), stat_fields[i].name);
		expect[n++] = keys[i];
	}
	k = 0;
	for (p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p) {
		size_t kl;

		if (strncmp(p, "ksm_", 4))
			continue;
		kl = strcspn(p, ":");
		if (bad < 0 && (k >= n || strlen(expect[k]) != kl || strncmp(p, expect[k], kl)))
			bad = k;
		k++;
	}
	EXPECT_EQ(n, k) TH_LOG("%d ksm_ lines in fdinfo, expected %d:\n%s", k, n, text);
	EXPECT_EQ(-1, bad) TH_LOG("fdinfo ksm_ line %d is not %s:\n%s", bad,
				  bad >= 0 && bad < n ? expect[bad] : "-", text);

	EXPECT_EQ(0, fdinfo_get(text, "ksm_id", val, sizeof(val)));
	EXPECT_EQ(st.id, strtoull(val, NULL, 10));
	if (name) {
		EXPECT_EQ(0, fdinfo_get(text, "ksm_name", val, sizeof(val)));
		EXPECT_STREQ(name, val);
	} else {
		EXPECT_EQ(-1, fdinfo_get(text, "ksm_name", val, sizeof(val)))
			TH_LOG("ksm_name present for an anonymous partition: %s", val);
	}
	if (owner) {
		EXPECT_EQ(0, fdinfo_get(text, "ksm_owner", val, sizeof(val)));
		EXPECT_STREQ(owner, val);
	}
	if (mode) {
		EXPECT_EQ(0, fdinfo_get(text, "ksm_mode", val, sizeof(val)));
		EXPECT_STREQ(mode, val);
	}
	EXPECT_EQ(0, fdinfo_get(text, "ksm_flags", val, sizeof(val)));
	EXPECT_TRUE(flags_text_ok(val, st.flags))
		TH_LOG("ksm_flags \"%s\", flags %#x", val, st.flags);

	for (i = 0; i < NR_STAT_FIELDS; i++) {
		fdinfo_key(key, sizeof(key), stat_fields[i].name);
		if (fdinfo_get(text, key, val, sizeof(val))) {
			EXPECT_TRUE(0) TH_LOG("fdinfo has no %s line", key);
			continue;
		}
		EXPECT_EQ(stat_value(&st, i), strtoll(val, NULL, 10))
			TH_LOG("fdinfo %s: %s, ioctl %lld", key, val, stat_value(&st, i));
	}

	/* The partition's row of /proc/ksm_partitions */
	READ_TABLE(t);
	row = part_row_find(&t, st.id);
	EXPECT_NE(NULL, row) TH_LOG("no row for partition %llu in " PROC_PARTS,
				    (unsigned long long)st.id);
	if (row) {
		unsigned int ou, og;

		EXPECT_EQ(st.members, row->members);
		EXPECT_EQ(st.pages_shared, row->pages_shared);
		EXPECT_EQ(st.pages_sharing, row->pages_sharing);
		EXPECT_EQ(st.pages_unshared, row->pages_unshared);
		EXPECT_EQ(st.ksm_zero_pages, row->ksm_zero_pages);
		EXPECT_EQ(st.rmap_items, row->rmap_items);
		EXPECT_EQ(st.general_profit, row->general_profit);
		EXPECT_EQ(st.flags, row->flags);
		EXPECT_TRUE(flags_text_ok(row->flags_text, st.flags))
			TH_LOG("flags column \"%s\", flags %#x", row->flags_text, st.flags);
		if (owner && sscanf(owner, "%u %u", &ou, &og) == 2) {
			EXPECT_EQ(ou, row->uid);
			EXPECT_EQ(og, row->gid);
		}
		if (mode)
			EXPECT_STREQ(mode, row->mode_text);
		EXPECT_EQ(!!name, row->named) TH_LOG("row name \"%s\"", row->name);
		if (name && row->named)
			EXPECT_STREQ(name, row->name);
		if (_metadata->exit_code == KSFT_FAIL)
			row_print("row", row);
	}
	part_table_free(&t);

	/* Nothing happened in between: a second snapshot is identical. */
	ASSERT_EQ(0, get_stats(fd, &st2));
	EXPECT_EQ(0, memcmp(&st, &st2, sizeof(st))) {
		stats_print("first", &st);
		stats_print("second", &st2);
	}
}

/* ------------------------------------------------------------------ */
/* Pages                                                               */

/* The shared zero page's frame, from a read fault of an untouched anonymous page. */
static uint64_t zero_pfn(void)
{
	char *p = map_anon(1);
	uint64_t pfn;

	if (!p)
		return 0;
	(void)force_read_byte(p);
	pfn = self_pfn(p);
	munmap(p, psize());
	return pfn;
}

/* Make page p a real zero-filled anonymous page (not the zero page). */
static void make_zero_filled(char *p)
{
	memset(p, 0x5a, psize());
	memset(p, 0, psize());
}

static bool page_is_zero(const char *p)
{
	size_t i;

	for (i = 0; i < psize(); i++)
		if (p[i])
			return false;
	return true;
}

/* Read-fault page p (maps the zero page). */
static void read_fault(const char *p)
{
	(void)force_read_byte(p);
}

/* Exact counters: scanned, merged, already_shared, zero, unshared, failed, absent, skipped. */
static bool res_is(const struct ksm_merge_result *r, uint64_t sc, uint64_t me, uint64_t al,
		   uint64_t ze, uint64_t un, uint64_t fa, uint64_t ab, uint64_t sk)
{
	return r->pages_scanned == sc && r->pages_merged == me && r->pages_already_shared == al &&
	       r->zero_pages_merged == ze && r->pages_unshared == un && r->pages_failed == fa &&
	       r->pages_absent == ab && r->pages_skipped == sk;
}

#define EXPECT_RES(r, ...) do { \
	const struct ksm_merge_result *__r = &(r); \
	bool __ok = res_is(__r, __VA_ARGS__); \
	if (!__ok) \
		res_print("got", __r); \
	EXPECT_TRUE(__ok) \
		TH_LOG("expected scanned/merged/already/zero/unshared/failed/absent/skipped = %s", \
		       #__VA_ARGS__); \
} while (0)

/* Data exchanged with a forked child. */
struct xfer {
	ssize_t ret;
	int err;
	int fd;
	uint64_t id;
	uint64_t ino;
	struct ksm_merge_result res;
	long q[8];
};

/* ------------------------------------------------------------------ */
/* System-wide counters: global KSM's, and the sums over partitions    */

/* /sys/kernel/mm/ksm/: global KSM (ksmd, MADV_MERGEABLE) only */
static const char *const global_files[] = {
	"pages_shared", "pages_sharing", "pages_unshared", "stable_node_chains",
	"stable_node_dups", "ksm_zero_pages", "general_profit",
};

#define NR_GLOBAL ((int)ARRAY_SIZE(global_files))

/* ksmd's own activity counters */
static const char *const ksmd_files[] = {
	"pages_volatile", "pages_scanned", "full_scans", "pages_skipped",
};

#define NR_KSMD ((int)ARRAY_SIZE(ksmd_files))

/* /sys/kernel/mm/ksm/partitions/: the sums over all partitions (root only) */
enum { T_NR, T_SHARED, T_SHARING, T_UNSHARED, T_ZERO, T_RMAP, T_PROFIT, NR_TOTALS };

static const char *const total_files[NR_TOTALS] = {
	"nr_partitions", "pages_shared", "pages_sharing", "pages_unshared",
	"ksm_zero_pages", "rmap_items", "general_profit",
};

struct global_snap {
	long long global[NR_GLOBAL];
	long long ksmd[NR_KSMD];
	long long total[NR_TOTALS];
	long long rowsum[NR_TOTALS];	/* [T_NR]: the number of rows */
	bool table_ok;
};

/* The columns of a row that total_files[] sum up; [T_NR] counts rows. */
static long long row_gauge(const struct part_row *r, int i)
{
	switch (i) {
	case T_NR: return 1;
	case T_SHARED: return r->pages_shared;
	case T_SHARING: return r->pages_sharing;
	case T_UNSHARED: return r->pages_unshared;
	case T_ZERO: return r->ksm_zero_pages;
	case T_RMAP: return r->rmap_items;
	default: return r->general_profit;
	}
}

static void global_snap(struct global_snap *g)
{
	struct part_table t;
	int i, j;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < NR_GLOBAL; i++)
		g->global[i] = ksm_global_ll(global_files[i]);
	for (i = 0; i < NR_KSMD; i++)
		g->ksmd[i] = ksm_global_ll(ksmd_files[i]);
	for (i = 0; i < NR_TOTALS; i++)
		g->total[i] = parts_total(total_files[i]);
	if (part_table_read(&t))
		return;
	g->table_ok = t.header_ok && !t.bad[0] && !t.dup;
	for (j = 0; j < t.n; j++)
		for (i = 0; i < NR_TOTALS; i++)
			g->rowsum[i] += row_gauge(&t.rows[j], i);
	part_table_free(&t);
}

/*
 * With ksmd idle and no MADV_MERGEABLE user: every global file is where it
 * was at base (partition activity never moves them), the totals are the
 * sums over the rows of /proc/ksm_partitions (nr_partitions the number of
 * rows), and each total moved from base by exactly delta[] (NULL: not
 * checked).
 */
static void check_global(struct __test_metadata *_metadata, const char *when,
			 const struct global_snap *base, const long long *delta)
{
	struct global_snap g;
	int i;

	global_snap(&g);
	EXPECT_TRUE(g.table_ok) TH_LOG("%s: " PROC_PARTS " unreadable or malformed", when);
	for (i = 0; i < NR_GLOBAL; i++) {
		EXPECT_NE(LLONG_MIN, g.global[i]) TH_LOG("%s unreadable", global_files[i] ?: "?");
		EXPECT_EQ(base->global[i], g.global[i])
			TH_LOG("%s: global %s %lld, before the test %lld (must not move)",
			       when, global_files[i] ?: "?", g.global[i], base->global[i]);
	}
	for (i = 0; i < NR_KSMD; i++)
		EXPECT_EQ(base->ksmd[i], g.ksmd[i])
			TH_LOG("%s: ksmd's %s changed (ksmd idle)", when, ksmd_files[i] ?: "?");
	for (i = 0; i < NR_TOTALS; i++) {
		EXPECT_NE(LLONG_MIN, g.total[i])
			TH_LOG("%s: " PARTS_SYSFS "%s unreadable", when, total_files[i] ?: "?");
		EXPECT_EQ(g.rowsum[i], g.total[i])
			TH_LOG("%s: partitions/%s %lld, sum over the rows of " PROC_PARTS " %lld",
			       when, total_files[i] ?: "?", g.total[i], g.rowsum[i]);
		if (delta)
			EXPECT_EQ(delta[i], g.total[i] - base->total[i])
				TH_LOG("%s: partitions/%s %lld, before %lld", when,
				       total_files[i] ?: "?", g.total[i], base->total[i]);
	}
}

/*
 * KSM zero pages: the global file never moves with partitions' zero pages,
 * partitions/ksm_zero_pages by exactly theirs.
 */
struct zsnap {
	long long global, total;
};

static void zsnap(struct zsnap *z)
{
	z->global = ksm_global_ll("ksm_zero_pages");
	z->total = parts_total("ksm_zero_pages");
}

#define EXPECT_ZERO_PAGES_MOVED(z0, n) do { \
	const struct zsnap __z0 = (z0); \
	struct zsnap __z; \
	zsnap(&__z); \
	EXPECT_NE(LLONG_MIN, __z.total); \
	EXPECT_EQ(__z0.global, __z.global) \
		TH_LOG("global ksm_zero_pages %lld, before %lld: moved by a partition", \
		       __z.global, __z0.global); \
	EXPECT_EQ((long long)(n), __z.total - __z0.total) \
		TH_LOG("partitions/ksm_zero_pages %lld, before %lld", __z.total, __z0.total); \
} while (0)

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */

/* ksmd stopped (run=0) for exact system-wide counters; restored on teardown. */
FIXTURE(ksmd_idle) {
	long run, max_page_sharing;
};

FIXTURE_SETUP(ksmd_idle)
{
	self->run = ksm_sysfs_read("run");
	self->max_page_sharing = ksm_sysfs_read("max_page_sharing");
	ASSERT_LE(0, self->run);
	ASSERT_EQ(0, ksm_sysfs_write("run", 0));
}

FIXTURE_TEARDOWN(ksmd_idle)
{
	if (self->max_page_sharing > 0 &&
	    ksm_sysfs_read("max_page_sharing") != self->max_page_sharing)
		ksm_sysfs_write("max_page_sharing", self->max_page_sharing);
	if (self->run != 0)
		ksm_sysfs_write("run", self->run);
}

/* ------------------------------------------------------------------ */
/* KSM_IOC_GET_STATS                                                   */

TEST(ioctl_size_versioning_and_errors)
{
	struct {
		struct ksm_partition_stats s;
		unsigned char tail[256 - sizeof(struct ksm_partition_stats)];
	} big;
	struct ksm_partition_stats st, st0;
	long ps = psize();
	size_t i;
	char *pg;
	int fd, zfd, nfd;

	ASSERT_EQ(KSM_PARTITION_STATS_SIZE_VER0, sizeof(struct ksm_partition_stats));
	ASSERT_EQ(256, sizeof(big));
	ASSERT_EQ(KSM_PARTITION_STATS_SIZE_VER0, _IOC_SIZE(KSM_IOC_GET_STATS));
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);

	/* Exactly VER0: all written, size reported */
	memset(&st0, 0xee, sizeof(st0));
	ASSERT_EQ(0, ioctl(fd, KSM_IOC_GET_STATS, &st0)) TH_LOG("ioctl: %s", strerror(errno));
	EXPECT_EQ(KSM_PARTITION_STATS_SIZE_VER0, st0.size);
	EXPECT_EQ(0, st0.flags);
	EXPECT_NE(0, st0.id);
	/* A fresh partition: nothing counted */
	for (i = 0; i < (size_t)NR_STAT_FIELDS; i++) {
		long long v = stat_value(&st0, i);

		if (v)
			TH_LOG("fresh partition: %s = %lld", stat_fields[i].name ?: "?", v);
		EXPECT_EQ(0, v);
	}

	/* A bigger caller struct: the kernel writes its size, nothing beyond */
	memset(&big, 0xee, sizeof(big));
	ASSERT_EQ(0, ioctl(fd, _IOC(_IOC_READ, KSM_IOC_MAGIC, 1, sizeof(big)), &big))
		TH_LOG("256-byte ioctl: %s", strerror(errno));
	EXPECT_EQ(sizeof(struct ksm_partition_stats), big.s.size);
	EXPECT_EQ(st0.id, big.s.id);
	EXPECT_EQ(0, big.s.members);
	EXPECT_EQ(0, big.s.merge_time_ns);
	for (i = 0; i < sizeof(big.tail); i++)
		if (big.tail[i] != 0xee)
			break;
	EXPECT_EQ(sizeof(big.tail), i) TH_LOG("byte %zu beyond the kernel's size was written", i);

	/* Too small: EINVAL, nothing written */
	memset(&st, 0xee, sizeof(st));
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd,
			    _IOC(_IOC_READ, KSM_IOC_MAGIC, 1, KSM_PARTITION_STATS_SIZE_VER0 - 8),
			    &st));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, _IOC(_IOC_READ, KSM_IOC_MAGIC, 1, 0), &st));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, _IOC(_IOC_READ, KSM_IOC_MAGIC, 1, 8), &st));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0xeeeeeeeeU, st.size) TH_LOG("a failed ioctl wrote the struct");

	/* Wrong direction, number or type: ENOTTY */
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, _IOW(KSM_IOC_MAGIC, 1, struct ksm_partition_stats), &st));
	EXPECT_EQ(ENOTTY, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, _IOWR(KSM_IOC_MAGIC, 1, struct ksm_partition_stats), &st));
	EXPECT_EQ(ENOTTY, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, _IO(KSM_IOC_MAGIC, 1), &st));
	EXPECT_EQ(ENOTTY, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, _IOR(KSM_IOC_MAGIC, 2, struct ksm_partition_stats), &st));
	EXPECT_EQ(ENOTTY, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, _IOR(KSM_IOC_MAGIC, 0, struct ksm_partition_stats), &st));
	EXPECT_EQ(ENOTTY, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, _IOR(KSM_IOC_MAGIC + 1, 1, struct ksm_partition_stats), &st));
	EXPECT_EQ(ENOTTY, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, _IOR('T', 1, struct ksm_partition_stats), &st));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(0xeeeeeeeeU, st.size) TH_LOG("a failed ioctl wrote the struct");

	/* Bad pointers: EFAULT */
	pg = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, pg);
	ASSERT_EQ(0, munmap(pg + ps, ps));
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, KSM_IOC_GET_STATS, NULL));
	EXPECT_EQ(EFAULT, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, KSM_IOC_GET_STATS, pg + ps));
	EXPECT_EQ(EFAULT, errno);
	/* The struct straddles the end of the mapping */
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, KSM_IOC_GET_STATS, pg + ps - 64));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(0, mprotect(pg, ps, PROT_READ));
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, KSM_IOC_GET_STATS, pg));
	EXPECT_EQ(EFAULT, errno);
	munmap(pg, ps);

	/* Another partition: another id; with KSM_OPEN_ZERO_PAGES the flag */
	zfd = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
	ASSERT_LE(0, zfd);
	ASSERT_EQ(0, get_stats(zfd, &st));
	EXPECT_EQ(KSM_OPEN_ZERO_PAGES, st.flags);
	EXPECT_NE(0, st.id);
	EXPECT_NE(st0.id, st.id);

	/* A dup'ed fd is the same partition */
	nfd = dup(fd);
	ASSERT_LE(0, nfd);
	ASSERT_EQ(0, get_stats(nfd, &st));
	EXPECT_EQ(st0.id, st.id);
	close(nfd);

	/* Not a partition: the request fails (whatever that fd type says) */
	nfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, nfd);
	EXPECT_EQ(-1, ioctl(nfd, KSM_IOC_GET_STATS, &st));
	close(nfd);
	close(zfd);
	close(fd);
}

/*
 * Ground truth: 64 pages of content A, 32 of B and 16 unique, scattered,
 * merged once, then again with absent pages and a hole, then half unmerged,
 * then left. Every field checked at each step; fdinfo and /proc/ksm_partitions agree.
 */
#define GT_N 112

TEST(stats_ground_truth)
{
	uint64_t seeds[GT_N], s2[4], s3[3];
	int kind[GT_N];		/* 0 A, 1 B, 2 unique */
	struct ksm_partition_stats st, prev;
	struct ksm_merge_result res;
	struct iovec vec[3];
	char *buf, *r2, *r3;
	int fd, i, in[3] = { 0, 0, 0 };
	long isz = 0;

	for (i = 0; i < GT_N; i++) {
		int pos = (i * 37) % GT_N;	/* 37 is prime to 112: a permutation */

		kind[pos] = i < 64 ? 0 : i < 96 ? 1 : 2;
		seeds[pos] = i < 64 ? 0x50000 : i < 96 ? 0x50001 : 0x50100 + i;
	}
	buf = map_seeded(GT_N, seeds);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);

	ASSERT_EQ((ssize_t)(GT_N * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, GT_N * psize(), &res));
	/* The first page of A and of B is a candidate when scanned */
	EXPECT_RES(res, 112, 94, 0, 0, 18, 0, 0, 0);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_EQ(KSM_PARTITION_STATS_SIZE_VER0, st.size);
	EXPECT_EQ(0, st.flags);
	EXPECT_GAUGES(st, 2, 94, 16, 0, 112, 1);
	EXPECT_STAT(st, stable_node_chains, 0);
	EXPECT_STAT(st, stable_node_dups, 0);
	EXPECT_STAT(st, merge_calls, 1);
	EXPECT_STAT(st, unmerge_calls, 0);
	EXPECT_STAT(st, leave_calls, 0);
	EXPECT_STAT(st, pages_scanned, 112);
	EXPECT_STAT(st, pages_merged, 94);
	EXPECT_STAT(st, zero_pages_merged, 0);
	EXPECT_STAT(st, pages_failed, 0);
	EXPECT_STAT(st, pages_absent, 0);
	EXPECT_STAT(st, pages_skipped, 0);
	EXPECT_LE(0, (long long)st.merge_time_ns);	/* growth: time_counters_grow */
	EXPECT_STAT(st, unmerge_time_ns, 0);
	EXPECT_PROFIT(st, isz);
	TH_LOG("solved sizeof(struct ksm_rmap_item) = %ld", isz);
	/* Per process */
	EXPECT_EQ(96, ksm_stat(0, "ksm_merging_pages"));
	EXPECT_EQ(96, ksm_merging_pages(0));
	EXPECT_EQ(112, ksm_stat(0, "ksm_rmap_items"));
	EXPECT_EQ(0, ksm_stat(0, "ksm_zero_pages"));
	EXPECT_EQ((long)(96 * psize() - 112 * isz), ksm_stat(0, "ksm_process_profit"));
	EXPECT_EQ(st.id, ksm_stat_id(0));
	check_views(_metadata, fd, NULL, "0 0", "0000");
	prev = st;

	/*
	 * Again, with a range of 4 written and 4 absent pages and one of
	 * 2 written pages around a hole.
	 */
	for (i = 0; i < 4; i++)
		s2[i] = 0x50200 + i;
	r2 = map_anon(8);
	ASSERT_NE(NULL, r2);
	for (i = 0; i < 4; i++)
		fill_page(r2 + 2 * i * psize(), s2[i]);	/* pages 0, 2, 4, 6 */
	r3 = map_anon(3);
	ASSERT_NE(NULL, r3);
	s3[0] = 0x50300;
	s3[2] = 0x50302;
	fill_page(r3, s3[0]);
	fill_page(r3 + 2 * psize(), s3[2]);
	ASSERT_EQ(0, munmap(r3 + psize(), psize()));
	vec[0] = (struct iovec){ buf, GT_N * psize() };
	vec[1] = (struct iovec){ r2, 8 * psize() };
	vec[2] = (struct iovec){ r3, 3 * psize() };
	res_init(&res);
	ASSERT_EQ((ssize_t)((GT_N + 11) * psize()),
		  sys_ksm_merge(fd, KSM_PIDFD_SELF, vec, 3, &res, 0));
	EXPECT_RES(res, 118, 0, 96, 0, 22, 0, 4, 1);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 2, 94, 22, 0, 118, 1);
	EXPECT_STAT(st, merge_calls, 2);
	EXPECT_STAT(st, pages_scanned, 112 + 118);
	EXPECT_STAT(st, pages_merged, 94);
	EXPECT_STAT(st, pages_absent, 4);
	EXPECT_STAT(st, pages_skipped, 1);
	EXPECT_STAT(st, pages_failed, 0);
	EXPECT_STAT(st, zero_pages_merged, 0);
	EXPECT_LE(prev.merge_time_ns, st.merge_time_ns);
	EXPECT_STAT(st, unmerge_calls, 0);
	EXPECT_PROFIT(st, isz);
	EXPECT_EQ(118, ksm_stat(0, "ksm_rmap_items"));
	check_views(_metadata, fd, NULL, "0 0", "0000");
	prev = st;

	/* Unmerge the first half of buf */
	for (i = 0; i < GT_N / 2; i++)
		in[kind[i]]++;
	ASSERT_EQ((ssize_t)(GT_N / 2 * psize()),
		  unmerge_range(fd, KSM_PIDFD_SELF, buf, GT_N / 2 * psize()));
	ASSERT_EQ(0, get_stats(fd, &st));
	TH_LOG("unmerged %d A, %d B, %d unique pages", in[0], in[1], in[2]);
	EXPECT_GAUGES(st, 2, (64 - in[0] - 1) + (32 - in[1] - 1), 22 - in[2], 0, 118 - GT_N / 2, 1);
	EXPECT_STAT(st, unmerge_calls, 1);
	EXPECT_STAT(st, merge_calls, 2);
	EXPECT_STAT(st, leave_calls, 0);
	EXPECT_LE(prev.unmerge_time_ns, st.unmerge_time_ns);
	EXPECT_EQ(prev.merge_time_ns, st.merge_time_ns);
	EXPECT_STAT(st, pages_scanned, 112 + 118);
	EXPECT_PROFIT(st, isz);
	EXPECT_EQ(64 - in[0] + 32 - in[1], ksm_stat(0, "ksm_merging_pages"));
	EXPECT_EQ(118 - GT_N / 2, ksm_stat(0, "ksm_rmap_items"));
	EXPECT_EQ(-1, first_bad_page(buf, GT_N, seeds));
	check_views(_metadata, fd, NULL, "0 0", "0000");
	prev = st;

	/* Leave: gauges 0, cumulative counters kept */
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 0, 0, 0, 0, 0, 0);
	EXPECT_STAT(st, stable_node_chains, 0);
	EXPECT_STAT(st, stable_node_dups, 0);
	EXPECT_STAT(st, general_profit, 0);
	EXPECT_STAT(st, leave_calls, 1);
	EXPECT_STAT(st, unmerge_calls, 1);
	EXPECT_STAT(st, merge_calls, 2);
	EXPECT_STAT(st, pages_scanned, 112 + 118);
	EXPECT_STAT(st, pages_merged, 94);
	EXPECT_LE(prev.unmerge_time_ns, st.unmerge_time_ns);
	EXPECT_EQ(prev.merge_time_ns, st.merge_time_ns);
	EXPECT_EQ(0, ksm_stat(0, "ksm_merging_pages"));
	EXPECT_EQ(0, ksm_stat(0, "ksm_rmap_items"));
	EXPECT_EQ(0, ksm_stat_id(0));
	EXPECT_EQ(-1, first_bad_page(buf, GT_N, seeds));
	check_views(_metadata, fd, NULL, "0 0", "0000");
	close(fd);
	munmap(buf, GT_N * psize());
	munmap(r2, 8 * psize());
	munmap(r3, 3 * psize());
}

/*
 * Counters through unmerge, leave, a second member and a member's exit:
 * unmerge_calls counts calls on members only, leave_calls successful leaves,
 * and an exiting member takes its pages out of the gauges, and out of the
 * partitions/ totals; the global files (global KSM's) never move.
 */
TEST_F(ksmd_idle, counters_unmerge_leave_exit)
{
	struct xfer *x = map_shared(sizeof(*x));
	struct ksm_partition_stats st, prev;
	struct global_snap base;
	uint64_t seeds[16];
	struct chan ch;
	int fd, pidfd, i;
	long isz = 0;
	char *buf;
	pid_t pid;

	ASSERT_NE(NULL, x);
	for (i = 0; i < 16; i++)
		seeds[i] = 0x51000 + i / 2;	/* 8 pairs */
	buf = map_seeded(16, seeds);
	ASSERT_NE(NULL, buf);
	global_snap(&base);
	ASSERT_TRUE(base.table_ok);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(16 * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, 16 * psize(), NULL));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 8, 8, 0, 0, 16, 1);
	EXPECT_STAT(st, merge_calls, 1);
	EXPECT_PROFIT(st, isz);
	/* nr, shared, sharing, unshared, zero, rmap items, profit */
	check_global(_metadata, "merged", &base,
		     (long long[]){ 1, 8, 8, 0, 0, 16, st.general_profit });

	/* A forked child is a second member; it maps the KSM pages too */
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		chan_child_side(&ch);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'r') == 0);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'l');
		x->ret = sys_ksm_leave(fd, KSM_PIDFD_SELF, 0);
		x->err = errno;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'd') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('r', get_byte(ch.to_parent[0]));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, members, 2);
	EXPECT_STAT(st, pages_shared, 8);
	/* the child's rmap items are its own business: mappings counted by KSM itself */
	EXPECT_STAT(st, leave_calls, 0);
	ASSERT_EQ(0, put_byte(ch.to_child[1], 'l'));
	ASSERT_EQ('d', get_byte(ch.to_parent[0]));
	EXPECT_EQ(0, x->ret) TH_LOG("child's leave: %s", strerror(x->err));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 8, 8, 0, 0, 16, 1);
	EXPECT_STAT(st, leave_calls, 1);
	EXPECT_STAT(st, unmerge_calls, 0);
	EXPECT_LE(0, (long long)st.unmerge_time_ns);
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, members, 1);

	/* Unmerge on a non-member (ENOENT) is not counted; on the member it is */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* leave first, then wait to be probed */
		CHILD_CHECK(sys_ksm_leave(fd, KSM_PIDFD_SELF, 0) == 0);
		pause();
		_exit(0);
	}
	pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, pidfd);
	for (i = 0; i < 200; i++) {
		ASSERT_EQ(0, get_stats(fd, &st));
		if (st.members == 1)
			break;
		sleep_ms(10);
	}
	EXPECT_STAT(st, members, 1);
	EXPECT_STAT(st, leave_calls, 2);
	prev = st;
	errno = 0;
	EXPECT_EQ(-1, unmerge_range(fd, pidfd, buf, 16 * psize()));
	EXPECT_EQ(ENOENT, errno);
	errno = 0;
	EXPECT_EQ(-1, sys_ksm_leave(fd, pidfd, 0));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, unmerge_calls, 0);
	EXPECT_STAT(st, leave_calls, 2);
	EXPECT_EQ(prev.unmerge_time_ns, st.unmerge_time_ns);
	kill(pid, SIGKILL);
	EXPECT_EQ(128 + SIGKILL, wait_status(pid));
	close(pidfd);

	/* Unmerge 2 pairs */
	ASSERT_EQ((ssize_t)(4 * psize()), unmerge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize()));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 6, 6, 0, 0, 12, 1);
	EXPECT_STAT(st, unmerge_calls, 1);
	EXPECT_LE(prev.unmerge_time_ns, st.unmerge_time_ns);
	EXPECT_PROFIT(st, isz);
	/* A membership probe (vlen 0) is an unmerge call on a member */
	EXPECT_EQ(1, is_member(fd, KSM_PIDFD_SELF));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, unmerge_calls, 2);

	/* Leave: gauges 0; leaving again is ENOENT and not counted */
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	errno = 0;
	EXPECT_EQ(-1, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 0, 0, 0, 0, 0, 0);
	EXPECT_STAT(st, general_profit, 0);
	EXPECT_STAT(st, leave_calls, 3);
	EXPECT_STAT(st, unmerge_calls, 2);
	EXPECT_STAT(st, merge_calls, 1);

	/* A join without ranges is a merge call */
	ASSERT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, NULL));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, merge_calls, 2);
	EXPECT_STAT(st, members, 1);
	EXPECT_STAT(st, pages_scanned, 16);
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));

	check_global(_metadata, "left", &base, (long long[]){ 1, 0, 0, 0, 0, 0, 0 });

	/*
	 * A member that merges and exits without leaving. Its pages are
	 * copy-on-write shared with us, a non-member: such pages never merge
	 * into a partition (they would map its KSM pages here), so it makes
	 * them its own first.
	 */
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		chan_child_side(&ch);
		unshare_pages(buf, 16);
		x->ret = merge_range(fd, KSM_PIDFD_SELF, buf, 16 * psize(), &x->res);
		x->err = errno;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'm') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('m', get_byte(ch.to_parent[0]));
	ASSERT_EQ((ssize_t)(16 * psize()), x->ret) TH_LOG("child's merge: %s", strerror(x->err));
	EXPECT_RES(x->res, 16, 8, 0, 0, 8, 0, 0, 0);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 8, 8, 0, 0, 16, 1);
	EXPECT_STAT(st, merge_calls, 3);
	EXPECT_PROFIT(st, isz);
	check_global(_metadata, "a child merged", &base,
		     (long long[]){ 1, 8, 8, 0, 0, 16, st.general_profit });
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 0, 0, 0, 0, 0, 0);
	EXPECT_STAT(st, general_profit, 0);
	check_global(_metadata, "the child exited", &base, (long long[]){ 1, 0, 0, 0, 0, 0, 0 });
	EXPECT_STAT(st, leave_calls, 4);	/* exit is not a leave call */
	EXPECT_STAT(st, merge_calls, 3);
	EXPECT_STAT(st, pages_scanned, 32);
	EXPECT_STAT(st, pages_merged, 16);
	check_views(_metadata, fd, NULL, "0 0", "0000");
	close(fd);
	check_global(_metadata, "closed", &base, (long long[]){ 0, 0, 0, 0, 0, 0, 0 });
	munmap(buf, 16 * psize());
	munmap(x, sizeof(*x));
}

/* A fixture only for a longer timeout. */
FIXTURE(slow) {};
FIXTURE_SETUP(slow) {}
FIXTURE_TEARDOWN(slow) {}

/*
 * merge_time_ns and unmerge_time_ns: CPU time of the callers, each charged
 * only by its own kind of call, and never more than the elapsed time. The
 * scheduler clock may advance in jiffies (the test VM has no usable TSC), so
 * one short call may count 0: calls are repeated until the counter grows.
 */
#define TN 256

TEST_F_TIMEOUT(slow, time_counters_grow, 120)
{
	struct ksm_partition_stats st, prev;
	uint64_t seeds[TN], calls = 0;
	double t0 = now_sec(), end;
	char *buf;
	int fd, i;

	for (i = 0; i < TN; i++)
		seeds[i] = 0x59000 + i / 2;
	buf = map_seeded(TN, seeds);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, merge_time_ns, 0);
	EXPECT_STAT(st, unmerge_time_ns, 0);

	/* Merges: merge_time_ns grows, unmerge_time_ns stays 0 */
	end = now_sec() + 30;
	do {
		prev = st;
		ASSERT_EQ((ssize_t)(TN * psize()),
			  merge_range(fd, KSM_PIDFD_SELF, buf, TN * psize(), NULL));
		calls++;
		ASSERT_EQ(0, get_stats(fd, &st));
		EXPECT_LE(prev.merge_time_ns, st.merge_time_ns);
		EXPECT_STAT(st, unmerge_time_ns, 0);
	} while (!st.merge_time_ns && now_sec() < end);
	EXPECT_LT(0, st.merge_time_ns) TH_LOG("merge_time_ns still 0 after %llu merges",
					      (unsigned long long)calls);
	EXPECT_STAT(st, merge_calls, calls);

	/* Unmerges (each followed by a merge): only unmerge_time_ns grows in unmerges */
	end = now_sec() + 30;
	for (;;) {
		prev = st;
		ASSERT_EQ((ssize_t)(TN * psize()),
			  unmerge_range(fd, KSM_PIDFD_SELF, buf, TN * psize()));
		ASSERT_EQ(0, get_stats(fd, &st));
		EXPECT_EQ(prev.merge_time_ns, st.merge_time_ns)
			TH_LOG("an unmerge charged merge time");
		EXPECT_LE(prev.unmerge_time_ns, st.unmerge_time_ns);
		if (st.unmerge_time_ns || now_sec() >= end)
			break;
		prev = st;
		ASSERT_EQ((ssize_t)(TN * psize()),
			  merge_range(fd, KSM_PIDFD_SELF, buf, TN * psize(), NULL));
		ASSERT_EQ(0, get_stats(fd, &st));
		EXPECT_EQ(prev.unmerge_time_ns, st.unmerge_time_ns)
			TH_LOG("a merge charged unmerge time");
	}
	EXPECT_LT(0, st.unmerge_time_ns) TH_LOG("unmerge_time_ns still 0 after %llu unmerges",
						(unsigned long long)st.unmerge_calls);

	/* A leave is charged to unmerge_time_ns */
	ASSERT_EQ((ssize_t)(TN * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, TN * psize(), NULL));
	ASSERT_EQ(0, get_stats(fd, &prev));
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_EQ(prev.merge_time_ns, st.merge_time_ns);
	EXPECT_LE(prev.unmerge_time_ns, st.unmerge_time_ns);

	/* CPU time of one thread cannot exceed the elapsed time (plus a tick or two) */
	EXPECT_GE((now_sec() - t0) * 1e9 + 20e6, (double)(st.merge_time_ns + st.unmerge_time_ns))
		TH_LOG("merge %llu + unmerge %llu ns in %.3f s",
		       (unsigned long long)st.merge_time_ns,
		       (unsigned long long)st.unmerge_time_ns, now_sec() - t0);
	EXPECT_EQ(-1, first_bad_page(buf, TN, seeds));
	close(fd);
	munmap(buf, TN * psize());
}

/* ------------------------------------------------------------------ */
/* fdinfo, /proc/ksm_partitions and the partitions/ totals             */

/* fdinfo of named, anonymous and zero-page partitions; of another process's fd. */
TEST(fdinfo_lines)
{
	struct xfer *x = map_shared(sizeof(*x));
	char name[64], text[8192], val[256];
	struct ksm_partition_stats st;
	const struct part_row *row;
	struct part_table t;
	uint64_t seeds[8];
	int fd, afd, zfd, i;
	struct chan ch;
	uint64_t cid;
	char *buf;
	pid_t pid;

	ASSERT_NE(NULL, x);
	unique_name(name, sizeof(name), "fdinfo");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0640);
	ASSERT_LE(0, fd);
	afd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, afd);
	zfd = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
	ASSERT_LE(0, zfd);
	check_views(_metadata, fd, name, "0 0", "0640");
	check_views(_metadata, afd, NULL, "0 0", "0000");
	check_views(_metadata, zfd, NULL, "0 0", "0000");

	/* With activity */
	for (i = 0; i < 8; i++)
		seeds[i] = 0x52000 + i % 3;
	buf = map_seeded(8, seeds);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), NULL));
	ASSERT_EQ((ssize_t)(2 * psize()), unmerge_range(fd, KSM_PIDFD_SELF, buf, 2 * psize()));
	check_views(_metadata, fd, name, "0 0", "0640");
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, members, 1);
	EXPECT_STAT(st, unmerge_calls, 1);
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	check_views(_metadata, fd, name, "0 0", "0640");

	/* Created by an unprivileged process: its fsuid/fsgid, read from its fdinfo */
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char cname[64];

		chan_child_side(&ch);
		CHILD_CHECK(drop_privileges(UNPRIV_UID, UNPRIV_GID) == 0);
		snprintf(cname, sizeof(cname), "%s-u", name);
		x->fd = sys_ksm_open(cname, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
		CHILD_CHECK(x->fd >= 0);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'o') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('o', get_byte(ch.to_parent[0]));
	ASSERT_LT(0, read_fdinfo(pid, x->fd, text, sizeof(text)));
	EXPECT_EQ(0, fdinfo_get(text, "ksm_owner", val, sizeof(val)));
	EXPECT_STREQ("65534 65534", val);
	EXPECT_EQ(0, fdinfo_get(text, "ksm_mode", val, sizeof(val)));
	EXPECT_STREQ("0600", val);
	EXPECT_EQ(0, fdinfo_get(text, "ksm_name", val, sizeof(val)));
	EXPECT_EQ(0, strncmp(val, name, strlen(name)));
	EXPECT_EQ(0, fdinfo_get(text, "ksm_id", val, sizeof(val)));
	cid = strtoull(val, NULL, 10);
	/* The same identity in its row of /proc/ksm_partitions */
	READ_TABLE(t);
	row = part_row_find(&t, cid);
	EXPECT_NE(NULL, row) TH_LOG("no row for partition %llu", (unsigned long long)cid);
	if (row) {
		EXPECT_EQ(UNPRIV_UID, row->uid);
		EXPECT_EQ(UNPRIV_GID, row->gid);
		EXPECT_STREQ("0600", row->mode_text);
		EXPECT_EQ(0600, row->mode);
		EXPECT_TRUE(row->named);
		EXPECT_EQ(0, strncmp(row->name, name, strlen(name)));
		EXPECT_STREQ("-u", row->name + strlen(name));
		EXPECT_EQ(0, row->members);
	}
	part_table_free(&t);
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	close(fd);
	close(afd);
	close(zfd);
	munmap(buf, 8 * psize());
	munmap(x, sizeof(*x));
}

/*
 * /proc/ksm_partitions: a regular file, 0400 root:root, not writable, one
 * row per partition with its identity (uid gid mode flags, name only if
 * named) and gauges equal to fdinfo and the ioctl. A partition of the same
 * name in another IPC namespace is another row.
 */
TEST(proc_table)
{
	struct xfer *x = map_shared(sizeof(*x));
	struct ksm_partition_stats st, ast;
	const struct part_row *row;
	struct part_table t;
	struct stat ns_st, fst;
	char name[64];
	uint64_t seeds[6];
	struct chan ch;
	int fd, afd, wfd, i;
	char *buf;
	pid_t pid;

	ASSERT_NE(NULL, x);
	ASSERT_EQ(0, stat("/proc/self/ns/ipc", &ns_st));
	ASSERT_EQ(0, stat(PROC_PARTS, &fst)) TH_LOG(PROC_PARTS ": %s", strerror(errno));
	EXPECT_TRUE(S_ISREG(fst.st_mode));
	EXPECT_EQ(0400, fst.st_mode & 07777) TH_LOG("mode %o", fst.st_mode & 07777);
	EXPECT_EQ(0, fst.st_uid);
	EXPECT_EQ(0, fst.st_gid);
	READ_TABLE(t);
	EXPECT_EQ(NULL, part_row_find(&t, 0)) TH_LOG("a row with id 0");
	part_table_free(&t);

	unique_name(name, sizeof(name), "proc");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0640);
	ASSERT_LE(0, fd);
	afd = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
	ASSERT_LE(0, afd);
	ASSERT_EQ(0, get_stats(fd, &st));
	ASSERT_EQ(0, get_stats(afd, &ast));

	/* Named: identity columns and the name at the end */
	READ_TABLE(t);
	row = part_row_find(&t, st.id);
	ASSERT_NE(NULL, row) TH_LOG("no row for partition %llu", (unsigned long long)st.id);
	EXPECT_EQ(0, row->uid);
	EXPECT_EQ(0, row->gid);
	EXPECT_STREQ("0640", row->mode_text);
	EXPECT_EQ(0, row->flags);
	EXPECT_TRUE(flags_text_ok(row->flags_text, 0)) TH_LOG("flags \"%s\"", row->flags_text);
	EXPECT_TRUE(row->named);
	EXPECT_STREQ(name, row->name);
	EXPECT_EQ(0, row->members);
	EXPECT_EQ(0, row->rmap_items);
	EXPECT_EQ(0, row->general_profit);
	/* Anonymous, zero pages: no name, flags 0x8 */
	row = part_row_find(&t, ast.id);
	ASSERT_NE(NULL, row);
	EXPECT_EQ(0, row->uid);
	EXPECT_EQ(0, row->gid);
	EXPECT_STREQ("0000", row->mode_text);
	EXPECT_EQ(KSM_OPEN_ZERO_PAGES, row->flags);
	EXPECT_STREQ("0x8", row->flags_text);
	EXPECT_FALSE(row->named) TH_LOG("anonymous partition named \"%s\"", row->name);
	part_table_free(&t);

	/* With activity: gauges as the ioctl's and fdinfo's */
	for (i = 0; i < 6; i++)
		seeds[i] = 0x5b000 + i % 2;	/* 2 triples */
	buf = map_seeded(6, seeds);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(6 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 6 * psize(), NULL));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 2, 4, 0, 0, 6, 1);
	check_views(_metadata, fd, name, "0 0", "0640");
	check_views(_metadata, afd, NULL, "0 0", "0000");

	/* Not writable, even by root (DAC override): opening or writing fails */
	errno = 0;
	wfd = open(PROC_PARTS, O_WRONLY | O_CLOEXEC);
	if (wfd >= 0) {
		errno = 0;
		EXPECT_EQ(-1, write(wfd, "0\n", 2)) TH_LOG(PROC_PARTS " accepted a write");
		close(wfd);
	}
	check_views(_metadata, fd, name, "0 0", "0640");

	/* Unprivileged: EACCES */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int r;

		CHILD_CHECK(drop_privileges(UNPRIV_UID, UNPRIV_GID) == 0);
		errno = 0;
		r = open(PROC_PARTS, O_RDONLY | O_CLOEXEC);
		CHILD_CHECK(r == -1 && errno == EACCES);
		_exit(0);
	}
	EXPECT_EQ(0, wait_status(pid));

	/* Created in another IPC namespace under the same name: another row */
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct ksm_partition_stats cst;
		struct stat cns;

		chan_child_side(&ch);
		CHILD_CHECK(unshare(CLONE_NEWIPC) == 0);
		CHILD_CHECK(stat("/proc/self/ns/ipc", &cns) == 0);
		x->ino = cns.st_ino;
		x->fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
		CHILD_CHECK(x->fd >= 0);
		CHILD_CHECK(get_stats(x->fd, &cst) == 0);
		x->id = cst.id;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'o') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('o', get_byte(ch.to_parent[0]));
	EXPECT_NE(ns_st.st_ino, x->ino);
	EXPECT_NE(st.id, x->id);
	READ_TABLE(t);
	row = part_row_find(&t, x->id);
	EXPECT_NE(NULL, row) TH_LOG("no row for the other namespace's partition");
	if (row) {
		EXPECT_TRUE(row->named);
		EXPECT_STREQ(name, row->name);	/* same name, other namespace */
		EXPECT_STREQ("0600", row->mode_text);
		EXPECT_EQ(0, row->members);
	}
	row = part_row_find(&t, st.id);
	EXPECT_NE(NULL, row);
	if (row)
		EXPECT_STREQ("0640", row->mode_text);
	part_table_free(&t);
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	EXPECT_EQ(0, part_row_present(x->id))
		TH_LOG("partition of an exited creator still in " PROC_PARTS);

	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	check_views(_metadata, fd, name, "0 0", "0640");
	check_views(_metadata, afd, NULL, "0 0", "0000");
	EXPECT_EQ(-1, first_bad_page(buf, 6, seeds));
	close(fd);
	close(afd);
	EXPECT_EQ(0, part_row_present(st.id));
	EXPECT_EQ(0, part_row_present(ast.id));
	munmap(buf, 6 * psize());
	munmap(x, sizeof(*x));
}

/* The row lives exactly as long as the partition: fds and members. */
TEST(proc_row_lifetime)
{
	char name[64];
	struct ksm_partition_stats st;
	const struct part_row *row;
	struct part_table t;
	struct chan ch;
	int fd, fd2;
	uint64_t id;
	pid_t pid;

	/* fds only */
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, get_stats(fd, &st));
	id = st.id;
	EXPECT_EQ(1, part_row_present(id));
	fd2 = dup(fd);
	ASSERT_LE(0, fd2);
	close(fd);
	EXPECT_EQ(1, part_row_present(id)) TH_LOG("gone while a dup'ed fd is open");
	close(fd2);
	EXPECT_EQ(0, part_row_present(id)) TH_LOG("still there after the last close");

	/* A member child keeps an anonymous partition after all fds are closed */
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, get_stats(fd, &st));
	id = st.id;
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		chan_child_side(&ch);
		CHILD_CHECK(join_partition(fd, KSM_PIDFD_SELF, NULL) == 0);
		close(fd);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'j') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('j', get_byte(ch.to_parent[0]));
	close(fd);
	READ_TABLE(t);
	row = part_row_find(&t, id);
	EXPECT_NE(NULL, row) TH_LOG("gone while a member remains");
	if (row) {
		EXPECT_EQ(1, row->members);
		EXPECT_FALSE(row->named);
	}
	part_table_free(&t);
	EXPECT_EQ(id, ksm_stat_id(pid));
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	EXPECT_EQ(0, part_row_present(id)) TH_LOG("still there after the last member exited");

	/* Named, self a member, fd closed: found again by name, then left and closed */
	unique_name(name, sizeof(name), "life");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, get_stats(fd, &st));
	id = st.id;
	ASSERT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, NULL));
	close(fd);
	READ_TABLE(t);
	row = part_row_find(&t, id);
	EXPECT_NE(NULL, row) TH_LOG("gone while self is a member");
	if (row) {
		EXPECT_EQ(1, row->members);
		EXPECT_STREQ(name, row->name);
	}
	part_table_free(&t);
	EXPECT_EQ(id, ksm_stat_id(0));
	fd = sys_ksm_open(name, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_EQ(id, st.id);
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(1, part_row_present(id)) TH_LOG("gone while an fd is open");
	close(fd);
	EXPECT_EQ(0, part_row_present(id)) TH_LOG("still there after leave and close");
	errno = 0;
	EXPECT_EQ(-1, sys_ksm_open(name, 0, 0));
	EXPECT_EQ(ENOENT, errno);
}

/*
 * Unprivileged processes can read neither /proc/ksm_partitions nor the
 * partitions/ totals, nor change enabled; the fd's ioctl and fdinfo still
 * answer (holding the fd is the permission).
 */
TEST(proc_unprivileged_eacces)
{
	struct ksm_partition_stats st;
	uint64_t seeds[4];
	char *buf;
	pid_t pid;
	int fd, i;

	for (i = 0; i < 4; i++)
		seeds[i] = 0x5c000;
	buf = map_seeded(4, seeds);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 4 * psize(), NULL));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 1, 3, 0, 0, 4, 1);
	ASSERT_EQ(1, part_row_present(st.id));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct ksm_partition_stats cst;
		char path[PATH_MAX];
		long long v;
		int r;

		CHILD_CHECK(drop_privileges(UNPRIV_UID, UNPRIV_GID) == 0);
		errno = 0;
		r = open(PROC_PARTS, O_RDONLY | O_CLOEXEC);
		if (r >= 0 || errno != EACCES)
			fprintf(stderr, "# " PROC_PARTS ": %d errno %d\n", r, errno);
		CHILD_CHECK(r == -1 && errno == EACCES);
		for (i = 0; i < NR_TOTALS; i++) {
			snprintf(path, sizeof(path), PARTS_SYSFS "%s", total_files[i]);
			errno = 0;
			r = open(path, O_RDONLY | O_CLOEXEC);
			if (r >= 0 || errno != EACCES)
				fprintf(stderr, "# %s: %d errno %d\n", path, r, errno);
			CHILD_CHECK(r == -1 && errno == EACCES);
		}
		errno = 0;
		r = open(PARTS_SYSFS "enabled", O_WRONLY | O_CLOEXEC);
		if (r >= 0 || errno != EACCES)
			fprintf(stderr, "# " PARTS_SYSFS "enabled for writing: %d errno %d\n", r,
				errno);
		CHILD_CHECK(r == -1 && errno == EACCES);
		/* The fd itself still answers, with the partition's real counters */
		CHILD_CHECK(get_stats(fd, &cst) == 0);
		CHILD_CHECK(cst.id == st.id);
		CHILD_CHECK(cst.pages_shared == 1);
		/* the child maps the parent's KSM pages: a member by fork */
		CHILD_CHECK(cst.members == 2);
		errno = 0;
		v = part_fdinfo(0, fd, "ksm_pages_sharing");
		if (v != (long long)cst.pages_sharing)
			fprintf(stderr, "# fdinfo ksm_pages_sharing %lld, ioctl %llu: %s\n",
				v, (unsigned long long)cst.pages_sharing, strerror(errno));
		CHILD_CHECK(v == (long long)cst.pages_sharing);
		_exit(0);
	}
	EXPECT_EQ(0, wait_status(pid));
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(-1, first_bad_page(buf, 4, seeds));
	close(fd);
	munmap(buf, 4 * psize());
}

/* ------------------------------------------------------------------ */
/* /proc/PID/ksm_stat                                                  */

TEST(ksm_stat_partition_line)
{
	struct ksm_partition_stats st, st2;
	int fd, fd2, res[2], hold[2], go[2];
	char a[16], b[16], text[1024], *last;
	struct chan ch;
	uint64_t v = 12345;
	pid_t pid;

	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, get_stats(fd, &st));
	/* The line is there, last, and 0 for a non-member */
	ASSERT_LT(0, read_file("/proc/self/ksm_stat", text, sizeof(text)));
	text[strlen(text) - 1] = 0;	/* trailing newline */
	last = strrchr(text, '\n');
	last = last ? last + 1 : text;
	EXPECT_EQ(0, strncmp(last, "ksm_partition ", 14)) TH_LOG("last line: %s", last);
	EXPECT_EQ(0, ksm_stat_id(0));
	ASSERT_EQ(0, join_partition(fd, KSM_PIDFD_SELF, NULL));
	EXPECT_EQ(st.id, ksm_stat_id(0));

	/* A forked child: the same id, 0 after it leaves */
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		chan_child_side(&ch);
		CHILD_CHECK(ksm_stat_id(0) == st.id);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'r') == 0);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'l');
		CHILD_CHECK(sys_ksm_leave(fd, KSM_PIDFD_SELF, 0) == 0);
		CHILD_CHECK(ksm_stat_id(0) == 0);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'd') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('r', get_byte(ch.to_parent[0]));
	EXPECT_EQ(st.id, ksm_stat_id(pid));
	ASSERT_EQ(0, put_byte(ch.to_child[1], 'l'));
	ASSERT_EQ('d', get_byte(ch.to_parent[0]));
	EXPECT_EQ(0, ksm_stat_id(pid));
	EXPECT_EQ(st.id, ksm_stat_id(0));
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);

	/* exec: the new mm is no member */
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
		execl("/proc/self/exe", "ksm_part_stats", STATS_EXEC_HELPER_ARG, a, b,
		      (char *)NULL);
		_exit(120);
	}
	close(res[1]);
	close(hold[0]);
	close(go[0]);
	EXPECT_EQ(st.id, ksm_stat_id(pid)) TH_LOG("before exec");
	ASSERT_EQ(0, put_byte(go[1], 'x'));
	EXPECT_EQ(sizeof(v), read(res[0], &v, sizeof(v)));
	EXPECT_EQ(0, v) TH_LOG("ksm_partition in the exec'ed program (%#llx: line missing)",
			       (unsigned long long)NO_ID_LINE);
	EXPECT_EQ(0, ksm_stat_id(pid)) TH_LOG("after exec, read by the parent");
	close(hold[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(res[0]);
	close(go[1]);

	/* Leave: 0; join another partition: its id */
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(0, ksm_stat_id(0));
	fd2 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, get_stats(fd2, &st2));
	ASSERT_EQ(0, join_partition(fd2, KSM_PIDFD_SELF, NULL));
	EXPECT_EQ(st2.id, ksm_stat_id(0));
	ASSERT_EQ(0, sys_ksm_leave(fd2, KSM_PIDFD_SELF, 0));
	EXPECT_EQ(0, ksm_stat_id(0));
	close(fd2);
	close(fd);
}

/* ------------------------------------------------------------------ */
/* System-wide counters                                                */

/*
 * Two partitions with known contents, one member each: P1 (self) 16 equal
 * pages and 4 unique; P2 (KSM_OPEN_ZERO_PAGES, a child) 8 equal pages,
 * 8 zero-filled and 2 unique. The global files stay where they were; the
 * partitions/ totals move by exactly the partitions' amounts and equal the
 * sums over the rows of /proc/ksm_partitions.
 */
TEST_F(ksmd_idle, global_counters_exclude_partitions)
{
	struct xfer *x = map_shared(sizeof(*x));
	struct ksm_partition_stats s1, s2;
	struct global_snap base;
	uint64_t seeds[20];
	int fd1, fd2, i;
	struct chan ch;
	char *buf;
	pid_t pid;

	ASSERT_NE(NULL, x);
	global_snap(&base);
	ASSERT_TRUE(base.table_ok) TH_LOG(PROC_PARTS " unreadable or malformed");
	for (i = 0; i < NR_GLOBAL; i++)
		ASSERT_NE(LLONG_MIN, base.global[i]) TH_LOG("%s", global_files[i] ?: "?");
	for (i = 0; i < NR_TOTALS; i++) {
		ASSERT_NE(LLONG_MIN, base.total[i]) TH_LOG("partitions/%s", total_files[i] ?: "?");
		if (base.total[i])
			TH_LOG("note: partitions/%s is %lld before the test", total_files[i] ?: "?",
			       base.total[i]);
	}
	check_global(_metadata, "before", &base, (long long[]){ 0, 0, 0, 0, 0, 0, 0 });
	for (i = 0; i < 20; i++)
		seeds[i] = i < 16 ? 0x53000 : 0x53100 + i;
	buf = map_seeded(20, seeds);
	ASSERT_NE(NULL, buf);
	fd1 = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd1);
	fd2 = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
	ASSERT_LE(0, fd2);
	/* nr, shared, sharing, unshared, zero, rmap items, profit */
	check_global(_metadata, "empty partitions", &base,
		     (long long[]){ 2, 0, 0, 0, 0, 0, 0 });

	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t cs[18];
		char *cbuf;
		int j;

		chan_child_side(&ch);
		for (j = 0; j < 18; j++)
			cs[j] = j < 8 ? 0x53200 : 0x53300 + j;
		cbuf = map_seeded(18, cs);
		CHILD_CHECK(cbuf);
		for (j = 8; j < 16; j++)
			make_zero_filled(cbuf + j * psize());
		x->ret = merge_range(fd2, KSM_PIDFD_SELF, cbuf, 18 * psize(), &x->res);
		x->err = errno;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'm') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('m', get_byte(ch.to_parent[0]));
	ASSERT_EQ((ssize_t)(18 * psize()), x->ret) TH_LOG("child's merge: %s", strerror(x->err));
	EXPECT_RES(x->res, 18, 7, 0, 8, 3, 0, 0, 0);
	/*
	 * buf is copy-on-write shared with the child, which is no member of
	 * P1: such pages never merge into P1. Make them ours alone first.
	 */
	unshare_pages(buf, 20);
	ASSERT_EQ((ssize_t)(20 * psize()),
		  merge_range(fd1, KSM_PIDFD_SELF, buf, 20 * psize(), NULL));
	ASSERT_EQ(0, get_stats(fd1, &s1));
	ASSERT_EQ(0, get_stats(fd2, &s2));
	EXPECT_GAUGES(s1, 1, 15, 4, 0, 20, 1);
	EXPECT_GAUGES(s2, 1, 7, 2, 8, 10, 1);
	EXPECT_LT(0, s1.general_profit);
	EXPECT_LT(0, s2.general_profit);
	check_global(_metadata, "after merge", &base,
		     (long long[]){ 2, 2, 22, 6, 8, 30, s1.general_profit + s2.general_profit });
	check_views(_metadata, fd1, NULL, "0 0", "0000");
	check_views(_metadata, fd2, NULL, "0 0", "0000");

	/* Partial unmerge in P1: 8 of the equal pages, 2 unique */
	ASSERT_EQ((ssize_t)(2 * psize()),
		  unmerge_range(fd1, KSM_PIDFD_SELF, buf + 16 * psize(), 2 * psize()));
	ASSERT_EQ((ssize_t)(8 * psize()), unmerge_range(fd1, KSM_PIDFD_SELF, buf, 8 * psize()));
	ASSERT_EQ(0, get_stats(fd1, &s1));
	EXPECT_GAUGES(s1, 1, 7, 2, 0, 10, 1);
	check_global(_metadata, "after partial unmerge", &base,
		     (long long[]){ 2, 2, 14, 4, 8, 20, s1.general_profit + s2.general_profit });

	/* Leave P1 */
	ASSERT_EQ(0, sys_ksm_leave(fd1, KSM_PIDFD_SELF, 0));
	ASSERT_EQ(0, get_stats(fd1, &s1));
	EXPECT_GAUGES(s1, 0, 0, 0, 0, 0, 0);
	EXPECT_STAT(s1, general_profit, 0);
	check_global(_metadata, "after leave", &base,
		     (long long[]){ 2, 1, 7, 2, 8, 10, s2.general_profit });

	/* The P2 member exits */
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	ASSERT_EQ(0, get_stats(fd2, &s2));
	EXPECT_GAUGES(s2, 0, 0, 0, 0, 0, 0);
	check_global(_metadata, "after exit", &base,
		     (long long[]){ 2, 0, 0, 0, 0, 0, 0 });
	EXPECT_EQ(-1, first_bad_page(buf, 20, seeds));
	close(fd1);
	check_global(_metadata, "after closing P1", &base,
		     (long long[]){ 1, 0, 0, 0, 0, 0, 0 });
	close(fd2);
	check_global(_metadata, "after close", &base, (long long[]){ 0, 0, 0, 0, 0, 0, 0 });
	munmap(buf, 20 * psize());
	munmap(x, sizeof(*x));
}

/*
 * The totals of /sys/kernel/mm/ksm/partitions/: the exact file set, 0400
 * root:root and read-only (enabled aside), each the sum over the rows of
 * /proc/ksm_partitions, nr_partitions their number; they follow partitions
 * of several processes, named and anonymous.
 */
TEST_F(ksmd_idle, partitions_totals)
{
	static const char *const expect_files[] = {
		"enabled", "nr_partitions", "pages_shared", "pages_sharing", "pages_unshared",
		"ksm_zero_pages", "rmap_items", "general_profit",
	};
	struct xfer *x = map_shared(sizeof(*x));
	struct ksm_partition_stats s1, s2;
	struct global_snap base;
	char name[64], path[PATH_MAX];
	uint64_t seeds[12];
	int fd1, fd2, pidfd, i, n;
	struct dirent *de;
	struct stat fst;
	struct chan ch;
	char *buf;
	pid_t pid;
	DIR *d;

	ASSERT_NE(NULL, x);
	/* Exactly these files */
	d = opendir(PARTS_SYSFS);
	ASSERT_NE(NULL, d) TH_LOG(PARTS_SYSFS ": %s", strerror(errno));
	n = 0;
	while ((de = readdir(d))) {
		bool known = false;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n++;
		for (i = 0; i < (int)ARRAY_SIZE(expect_files); i++)
			known |= !strcmp(de->d_name, expect_files[i]);
		EXPECT_TRUE(known) TH_LOG("unexpected " PARTS_SYSFS "%s", de->d_name);
	}
	closedir(d);
	EXPECT_EQ((int)ARRAY_SIZE(expect_files), n);
	for (i = 0; i < NR_TOTALS; i++) {
		snprintf(path, sizeof(path), PARTS_SYSFS "%s", total_files[i]);
		ASSERT_EQ(0, stat(path, &fst)) TH_LOG("%s: %s", path, strerror(errno));
		EXPECT_TRUE(S_ISREG(fst.st_mode)) TH_LOG("%s", path);
		EXPECT_EQ(0400, fst.st_mode & 07777)
			TH_LOG("%s mode %o", path, fst.st_mode & 07777);
		EXPECT_EQ(0, fst.st_uid) TH_LOG("%s", path);
		EXPECT_EQ(0, fst.st_gid) TH_LOG("%s", path);
		errno = 0;
		EXPECT_EQ(-1, open(path, O_WRONLY | O_CLOEXEC)) TH_LOG("%s writable", path);
	}

	/*
	 * Quiescent: totals == sums over the rows. Other partitions may exist;
	 * the deltas count ours.
	 */
	global_snap(&base);
	ASSERT_TRUE(base.table_ok);
	check_global(_metadata, "before", &base, (long long[]){ 0, 0, 0, 0, 0, 0, 0 });

	/*
	 * A second partition will be created and merged into by an
	 * unprivileged child, forked now: it is no member of ours then.
	 */
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t cs[6];
		char *cbuf;
		int j;

		chan_child_side(&ch);
		CHILD_CHECK(get_byte(ch.to_child[0]) == 'g');
		CHILD_CHECK(drop_privileges(UNPRIV_UID, UNPRIV_GID) == 0);
		for (j = 0; j < 6; j++)
			cs[j] = j < 4 ? 0x5a100 : 0x5a200 + j;	/* 4 equal, 2 unique */
		cbuf = map_seeded(6, cs);
		CHILD_CHECK(cbuf);
		x->fd = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
		CHILD_CHECK(x->fd >= 0);
		x->ret = merge_range(x->fd, KSM_PIDFD_SELF, cbuf, 6 * psize(), &x->res);
		x->err = errno;
		CHILD_CHECK(get_stats(x->fd, &s2) == 0);
		x->id = s2.id;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'm') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);

	unique_name(name, sizeof(name), "totals");
	fd1 = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd1);
	for (i = 0; i < 12; i++)
		seeds[i] = 0x5a000 + i / 3;	/* 4 triples */
	buf = map_seeded(12, seeds);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(12 * psize()),
		  merge_range(fd1, KSM_PIDFD_SELF, buf, 12 * psize(), NULL));
	ASSERT_EQ(0, get_stats(fd1, &s1));
	EXPECT_GAUGES(s1, 4, 8, 0, 0, 12, 1);
	/* nr, shared, sharing, unshared, zero, rmap items, profit */
	check_global(_metadata, "one partition", &base,
		     (long long[]){ 1, 4, 8, 0, 0, 12, s1.general_profit });

	ASSERT_EQ(0, put_byte(ch.to_child[1], 'g'));
	ASSERT_EQ('m', get_byte(ch.to_parent[0]));
	ASSERT_EQ((ssize_t)(6 * psize()), x->ret) TH_LOG("child's merge: %s", strerror(x->err));
	EXPECT_RES(x->res, 6, 3, 0, 0, 3, 0, 0, 0);
	/* The child's partition, through a copy of its fd */
	pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, pidfd);
	fd2 = syscall(SYS_pidfd_getfd, pidfd, x->fd, 0);
	close(pidfd);
	ASSERT_LE(0, fd2) TH_LOG("pidfd_getfd: %s", strerror(errno));
	ASSERT_EQ(0, get_stats(fd2, &s2));
	EXPECT_EQ(x->id, s2.id);
	EXPECT_GAUGES(s2, 1, 3, 2, 0, 6, 1);
	check_views(_metadata, fd1, name, "0 0", "0600");
	check_views(_metadata, fd2, NULL, "65534 65534", "0000");
	check_global(_metadata, "two partitions", &base,
		     (long long[]){ 2, 5, 11, 2, 0, 18, s1.general_profit + s2.general_profit });

	/* The child exits: its partition stays (our fd2), empty */
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	check_global(_metadata, "after the child's exit", &base,
		     (long long[]){ 2, 4, 8, 0, 0, 12, s1.general_profit });
	close(fd2);
	check_global(_metadata, "after closing its partition", &base,
		     (long long[]){ 1, 4, 8, 0, 0, 12, s1.general_profit });

	/* Leave and close: back to the base */
	ASSERT_EQ(0, sys_ksm_leave(fd1, KSM_PIDFD_SELF, 0));
	close(fd1);
	check_global(_metadata, "at the end", &base, (long long[]){ 0, 0, 0, 0, 0, 0, 0 });
	EXPECT_EQ(-1, first_bad_page(buf, 12, seeds));
	munmap(buf, 12 * psize());
	munmap(x, sizeof(*x));
}

/*
 * Stable node chains: with max_page_sharing 2, six equal pages give three
 * KSM pages of two mappings each, chained (as ksmd would do). The chain is
 * the partition's: its stats count it, the global stable_node_chains and
 * stable_node_dups (global KSM's tree) do not.
 */
TEST_F(ksmd_idle, stable_node_chains_counted)
{
	struct ksm_partition_stats st;
	struct global_snap base;
	uint64_t seeds[6], pfn[6];
	struct ksm_merge_result res;
	int fd, i, j, distinct = 0;
	long isz = 0;
	char *buf;

	if (ksm_sysfs_write("max_page_sharing", 2))
		SKIP(return, "cannot set max_page_sharing (global KSM pages exist?): %s",
		     strerror(errno));
	global_snap(&base);
	for (i = 0; i < 6; i++)
		seeds[i] = 0x54000;
	buf = map_seeded(6, seeds);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(6 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 6 * psize(), &res));
	res_print("6 equal pages, max_page_sharing 2", &res);
	ASSERT_EQ(0, pids_pfns(0, buf, 6, pfn));
	for (i = 0; i < 6; i++) {
		int same = 0;

		EXPECT_NE(0, pfn[i]) TH_LOG("page %d not mapped", i);
		for (j = 0; j < 6; j++)
			same += pfn[i] == pfn[j];
		EXPECT_GE(2, same) TH_LOG("page %d shares its frame with %d pages", i, same - 1);
		for (j = 0; j < i; j++)
			if (pfn[j] == pfn[i])
				break;
		distinct += j == i;
	}
	ASSERT_EQ(0, get_stats(fd, &st));
	stats_print("chains", &st);
	EXPECT_STAT(st, pages_shared, distinct);
	EXPECT_STAT(st, pages_sharing, 6 - distinct);
	EXPECT_STAT(st, pages_merged, res.pages_merged);
	EXPECT_STAT(st, rmap_items, 6);
	EXPECT_EQ(3, distinct);
	EXPECT_STAT(st, stable_node_chains, 1);
	EXPECT_STAT(st, stable_node_dups, 3);
	EXPECT_PROFIT(st, isz);
	check_global(_metadata, "chains", &base,
		     (long long[]){ 1, 3, 3, 0, 0, 6, st.general_profit });
	check_views(_metadata, fd, NULL, "0 0", "0000");
	EXPECT_EQ(-1, first_bad_page(buf, 6, seeds));
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	ASSERT_EQ(0, get_stats(fd, &st));
	/*
	 * As in global KSM, a chain whose last dup went away is pruned lazily
	 * (by a later search of the tree, or with the partition).
	 */
	EXPECT_GE(1, st.stable_node_chains);
	if (st.stable_node_chains)
		TH_LOG("note: an empty stable node chain is kept until pruned");
	EXPECT_STAT(st, stable_node_dups, 0);
	EXPECT_GAUGES(st, 0, 0, 0, 0, 0, 0);
	check_global(_metadata, "chains, after leave", &base,
		     (long long[]){ 1, 0, 0, 0, 0, 0, 0 });
	close(fd);
	/* The partition is gone: so are its chains */
	check_global(_metadata, "chains, after close", &base, (long long[]){ 0, 0, 0, 0, 0, 0, 0 });
	munmap(buf, 6 * psize());
}

/* ------------------------------------------------------------------ */
/* KSM_OPEN_ZERO_PAGES                                                 */

/*
 * Layout of the zero-page tests: ZK zero-filled pages, then 8 equal pages,
 * 4 unique ones and 2 never written (read-faulted: the zero page not placed
 * by KSM).
 */
#define ZK 16
#define ZN (ZK + 8 + 4 + 2)
#define Z_EQ ZK
#define Z_UNIQ (ZK + 8)
#define Z_RF (ZK + 12)

static char *map_zero_layout(uint64_t seed0)
{
	char *buf = map_anon(ZN);
	int i;

	if (!buf)
		return NULL;
	for (i = 0; i < ZK; i++)
		make_zero_filled(buf + i * psize());
	for (i = 0; i < 8; i++)
		fill_page(buf + (Z_EQ + i) * psize(), seed0);
	for (i = 0; i < 4; i++)
		fill_page(buf + (Z_UNIQ + i) * psize(), seed0 + 1 + i);
	read_fault(buf + Z_RF * psize());
	read_fault(buf + (Z_RF + 1) * psize());
	return buf;
}

static bool zero_layout_content_ok(const char *buf, uint64_t seed0)
{
	int i;

	for (i = 0; i < ZK; i++)
		if (!page_is_zero(buf + i * psize()))
			return false;
	for (i = 0; i < 8; i++)
		if (!page_has_seed(buf + (Z_EQ + i) * psize(), seed0))
			return false;
	for (i = 0; i < 4; i++)
		if (!page_has_seed(buf + (Z_UNIQ + i) * psize(), seed0 + 1 + i))
			return false;
	return page_is_zero(buf + Z_RF * psize()) && page_is_zero(buf + (Z_RF + 1) * psize());
}

/* Number of pages [from, to) of buf (self) mapped to the frame */
static int count_on(const char *buf, int from, int to, uint64_t frame)
{
	return pages_on_frame(0, buf + from * psize(), to - from, frame);
}

TEST(zero_pages_merge)
{
	struct ksm_partition_stats st;
	struct ksm_merge_result res;
	uint64_t zpfn, pfn[ZN];
	struct zsnap z0;
	long isz = 0;
	char *buf;
	int fd, i;

	zpfn = zero_pfn();
	ASSERT_NE(0, zpfn);
	zsnap(&z0);
	buf = map_zero_layout(0x55000);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pids_pfns(0, buf, ZN, pfn));
	for (i = 0; i < ZK; i++)
		ASSERT_NE(zpfn, pfn[i])
			TH_LOG("zero-filled page %d is the zero page before merging", i);
	ASSERT_EQ(zpfn, pfn[Z_RF]);
	ASSERT_EQ(zpfn, pfn[Z_RF + 1]);

	fd = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(ZN * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, ZN * psize(), &res));
	/* read-faulted pages are absent; the equal pages still merge as KSM pages */
	EXPECT_RES(res, ZK + 12, 7, 0, ZK, 5, 0, 2, 0);
	ASSERT_EQ(0, pids_pfns(0, buf, ZN, pfn));
	EXPECT_EQ(ZK, count_on(buf, 0, ZK, zpfn));
	EXPECT_EQ(8, count_on(buf, Z_EQ, Z_EQ + 8, pfn[Z_EQ]));
	EXPECT_NE(zpfn, pfn[Z_EQ]);
	EXPECT_KSM(pfn[Z_EQ]);
	EXPECT_EQ(zpfn, pfn[Z_RF]);
	EXPECT_TRUE(zero_layout_content_ok(buf, 0x55000));

	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_EQ(KSM_OPEN_ZERO_PAGES, st.flags);
	/* zero-merged pages keep no rmap item: 8 equal + 4 unique */
	EXPECT_GAUGES(st, 1, 7, 4, ZK, 12, 1);
	EXPECT_STAT(st, zero_pages_merged, ZK);
	EXPECT_STAT(st, pages_merged, 7);
	EXPECT_STAT(st, pages_scanned, ZK + 12);
	EXPECT_STAT(st, pages_absent, 2);
	EXPECT_PROFIT(st, isz);
	EXPECT_EQ(ZK, ksm_stat(0, "ksm_zero_pages"));
	EXPECT_EQ(8, ksm_stat(0, "ksm_merging_pages"));
	EXPECT_EQ(12, ksm_stat(0, "ksm_rmap_items"));
	EXPECT_EQ((long)((8 + ZK) * psize() - 12 * isz), ksm_stat(0, "ksm_process_profit"));
	EXPECT_ZERO_PAGES_MOVED(z0, ZK);
	check_views(_metadata, fd, NULL, "0 0", "0000");

	/* Again: KSM zero pages are already shared, not absent */
	ASSERT_EQ((ssize_t)(ZN * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, ZN * psize(), &res));
	EXPECT_RES(res, ZK + 12, 0, ZK + 8, 0, 4, 0, 2, 0);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 1, 7, 4, ZK, 12, 1);
	EXPECT_STAT(st, zero_pages_merged, ZK);
	EXPECT_STAT(st, merge_calls, 2);
	EXPECT_STAT(st, pages_absent, 4);
	EXPECT_EQ(ZK, count_on(buf, 0, ZK, zpfn));
	EXPECT_ZERO_PAGES_MOVED(z0, ZK);

	/* Leave: every KSM zero page unshared, the read-faulted ones kept */
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	ASSERT_EQ(0, pids_pfns(0, buf, ZN, pfn));
	EXPECT_EQ(0, count_on(buf, 0, ZK, zpfn));
	EXPECT_EQ(zpfn, pfn[Z_RF]);
	EXPECT_EQ(zpfn, pfn[Z_RF + 1]);
	for (i = 0; i < ZK; i++)
		EXPECT_NE(0, pfn[i]) TH_LOG("page %d not mapped after leave", i);
	EXPECT_TRUE(zero_layout_content_ok(buf, 0x55000));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 0, 0, 0, 0, 0, 0);
	EXPECT_EQ(0, ksm_stat(0, "ksm_zero_pages"));
	EXPECT_ZERO_PAGES_MOVED(z0, 0);
	close(fd);
	munmap(buf, ZN * psize());
}

TEST(zero_pages_unmerge_write_dontneed)
{
	struct ksm_partition_stats st;
	struct ksm_merge_result res;
	uint64_t zpfn, pfn[ZN];
	struct zsnap z0;
	char *buf;
	int fd, i;

	zpfn = zero_pfn();
	ASSERT_NE(0, zpfn);
	zsnap(&z0);
	buf = map_zero_layout(0x56000);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(ZN * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, ZN * psize(), &res));
	ASSERT_EQ(ZK, res.zero_pages_merged);
	ASSERT_EQ(ZK, count_on(buf, 0, ZK, zpfn));

	/* Unmerge half of them, and the read-faulted pages */
	ASSERT_EQ((ssize_t)(ZK / 2 * psize()),
		  unmerge_range(fd, KSM_PIDFD_SELF, buf, ZK / 2 * psize()));
	ASSERT_EQ((ssize_t)(2 * psize()),
		  unmerge_range(fd, KSM_PIDFD_SELF, buf + Z_RF * psize(), 2 * psize()));
	ASSERT_EQ(0, pids_pfns(0, buf, ZN, pfn));
	for (i = 0; i < ZK / 2; i++) {
		EXPECT_NE(zpfn, pfn[i]) TH_LOG("page %d still the zero page after unmerge", i);
		EXPECT_NE(0, pfn[i]);
	}
	EXPECT_EQ(ZK / 2, count_on(buf, ZK / 2, ZK, zpfn));
	EXPECT_EQ(zpfn, pfn[Z_RF]) TH_LOG("a read-faulted zero page was unshared");
	EXPECT_EQ(zpfn, pfn[Z_RF + 1]);
	EXPECT_TRUE(zero_layout_content_ok(buf, 0x56000));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, ksm_zero_pages, ZK / 2);
	EXPECT_STAT(st, unmerge_calls, 2);
	EXPECT_EQ(ZK / 2, ksm_stat(0, "ksm_zero_pages"));
	EXPECT_ZERO_PAGES_MOVED(z0, ZK / 2);

	/* A write fault on a KSM zero page */
	buf[(ZK / 2) * psize() + 100] = 7;
	EXPECT_NE(zpfn, self_pfn(buf + (ZK / 2) * psize()));
	EXPECT_EQ(7, buf[(ZK / 2) * psize() + 100]);
	buf[(ZK / 2) * psize() + 100] = 0;
	EXPECT_TRUE(page_is_zero(buf + (ZK / 2) * psize()));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, ksm_zero_pages, ZK / 2 - 1);
	EXPECT_EQ(ZK / 2 - 1, ksm_stat(0, "ksm_zero_pages"));
	EXPECT_ZERO_PAGES_MOVED(z0, ZK / 2 - 1);

	/* MADV_DONTNEED on two, which then read-fault the (non-KSM) zero page */
	ASSERT_EQ(0, madvise(buf + (ZK / 2 + 1) * psize(), 2 * psize(), MADV_DONTNEED));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, ksm_zero_pages, ZK / 2 - 3);
	EXPECT_EQ(ZK / 2 - 3, ksm_stat(0, "ksm_zero_pages"));
	EXPECT_ZERO_PAGES_MOVED(z0, ZK / 2 - 3);
	read_fault(buf + (ZK / 2 + 1) * psize());
	read_fault(buf + (ZK / 2 + 2) * psize());
	EXPECT_EQ(2, count_on(buf, ZK / 2 + 1, ZK / 2 + 3, zpfn));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, ksm_zero_pages, ZK / 2 - 3);

	/* A merge counts the read-faulted ones absent, the KSM ones already shared */
	ASSERT_EQ((ssize_t)(ZK * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, ZK * psize(), &res));
	/* 8 unmerged + 1 written zero-filled pages merge again */
	EXPECT_RES(res, ZK - 2, 0, ZK / 2 - 3, ZK / 2 + 1, 0, 0, 2, 0);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, ksm_zero_pages, ZK - 2);
	EXPECT_STAT(st, zero_pages_merged, ZK + ZK / 2 + 1);
	EXPECT_ZERO_PAGES_MOVED(z0, ZK - 2);

	/* Leave: only KSM's zero pages are unshared */
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	ASSERT_EQ(0, pids_pfns(0, buf, ZN, pfn));
	for (i = 0; i < ZK; i++) {
		bool rf = i == ZK / 2 + 1 || i == ZK / 2 + 2;

		/* Read-faulted pages stay on the zero page, KSM zero pages do not. */
		EXPECT_EQ(rf, zpfn == pfn[i])
			TH_LOG("page %d: %s", i, rf ? "read-faulted page unshared by leave" :
						 "KSM zero page kept by leave");
	}
	EXPECT_EQ(zpfn, pfn[Z_RF]);
	EXPECT_EQ(zpfn, pfn[Z_RF + 1]);
	EXPECT_TRUE(zero_layout_content_ok(buf, 0x56000));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 0, 0, 0, 0, 0, 0);
	EXPECT_STAT(st, leave_calls, 1);
	EXPECT_EQ(0, ksm_stat(0, "ksm_zero_pages"));
	EXPECT_ZERO_PAGES_MOVED(z0, 0);
	close(fd);
	munmap(buf, ZN * psize());
}

TEST(zero_pages_fork_and_exit)
{
	struct xfer *x = map_shared(sizeof(*x));
	struct ksm_partition_stats st;
	struct ksm_merge_result res;
	uint64_t zpfn;
	struct zsnap z0;
	struct chan ch;
	char *buf;
	pid_t pid;
	int fd;

	ASSERT_NE(NULL, x);
	zpfn = zero_pfn();
	ASSERT_NE(0, zpfn);
	zsnap(&z0);
	buf = map_zero_layout(0x57000);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(ZN * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, ZN * psize(), &res));
	ASSERT_EQ(ZK, res.zero_pages_merged);

	/* fork: the child maps the same zero pages, counted for both */
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		chan_child_side(&ch);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'f') == 0);
		get_byte(ch.to_child[0]);
		_exit(zero_layout_content_ok(buf, 0x57000) ? 0 : 1);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('f', get_byte(ch.to_parent[0]));
	EXPECT_EQ(ZK, ksm_stat(pid, "ksm_zero_pages"));
	EXPECT_EQ(ZK, ksm_stat(0, "ksm_zero_pages"));
	EXPECT_EQ(ZK, pages_on_frame(pid, buf, ZK, zpfn));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, members, 2);
	EXPECT_STAT(st, ksm_zero_pages, 2 * ZK);
	EXPECT_ZERO_PAGES_MOVED(z0, 2 * ZK);
	check_views(_metadata, fd, NULL, "0 0", "0000");
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, members, 1);
	EXPECT_STAT(st, ksm_zero_pages, ZK);
	EXPECT_ZERO_PAGES_MOVED(z0, ZK);

	/* Leave: back to the baseline */
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 0, 0, 0, 0, 0, 0);
	EXPECT_ZERO_PAGES_MOVED(z0, 0);

	/* A member with zero pages exits without leaving */
	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char *cbuf;

		chan_child_side(&ch);
		cbuf = map_zero_layout(0x57100);
		CHILD_CHECK(cbuf);
		x->ret = merge_range(fd, KSM_PIDFD_SELF, cbuf, ZN * psize(), &x->res);
		x->err = errno;
		CHILD_CHECK(put_byte(ch.to_parent[1], 'm') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('m', get_byte(ch.to_parent[0]));
	ASSERT_EQ((ssize_t)(ZN * psize()), x->ret) TH_LOG("child's merge: %s", strerror(x->err));
	EXPECT_RES(x->res, ZK + 12, 7, 0, ZK, 5, 0, 2, 0);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 1, 7, 4, ZK, 12, 1);
	EXPECT_EQ(ZK, ksm_stat(pid, "ksm_zero_pages"));
	EXPECT_ZERO_PAGES_MOVED(z0, ZK);
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_GAUGES(st, 0, 0, 0, 0, 0, 0);
	EXPECT_STAT(st, general_profit, 0);
	EXPECT_ZERO_PAGES_MOVED(z0, 0);
	EXPECT_TRUE(zero_layout_content_ok(buf, 0x57000));
	close(fd);
	munmap(buf, ZN * psize());
	munmap(x, sizeof(*x));
}

/*
 * A child counts only the zero pages it maps: none of a MADV_DONTFORK
 * range. (6.12 copied the parent's count, and the system-wide
 * ksm_zero_pages kept the difference after the child exited.)
 */
TEST(zero_pages_fork_dontfork)
{
	struct ksm_partition_stats st;
	struct ksm_merge_result res;
	struct zsnap z0;
	struct chan ch;
	char *buf;
	pid_t pid;
	int fd;

	zsnap(&z0);
	buf = map_zero_layout(0x57200);
	ASSERT_NE(NULL, buf);
	fd = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(ZN * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, ZN * psize(), &res));
	ASSERT_EQ(ZK, res.zero_pages_merged);
	ASSERT_EQ(0, madvise(buf, ZN * psize(), MADV_DONTFORK));

	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		chan_child_side(&ch);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'f') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('f', get_byte(ch.to_parent[0]));
	EXPECT_EQ(0, ksm_stat(pid, "ksm_zero_pages"));
	EXPECT_EQ(ZK, ksm_stat(0, "ksm_zero_pages"));
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_STAT(st, members, 2);
	EXPECT_STAT(st, ksm_zero_pages, ZK);
	EXPECT_ZERO_PAGES_MOVED(z0, ZK);
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	EXPECT_ZERO_PAGES_MOVED(z0, ZK);
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	EXPECT_ZERO_PAGES_MOVED(z0, 0);
	close(fd);
	munmap(buf, ZN * psize());
}

/* Without KSM_OPEN_ZERO_PAGES, zero-filled pages merge into one KSM page. */
TEST(zero_pages_off_merge_as_ksm_page)
{
	struct ksm_partition_stats st;
	struct ksm_merge_result res;
	uint64_t zpfn, k;
	struct zsnap z0;
	char *buf;
	int fd, i;

	zpfn = zero_pfn();
	ASSERT_NE(0, zpfn);
	zsnap(&z0);
	buf = map_anon(8);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < 8; i++)
		make_zero_filled(buf + i * psize());
	fd = sys_ksm_open(NULL, 0, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)(8 * psize()), merge_range(fd, KSM_PIDFD_SELF, buf, 8 * psize(), &res));
	EXPECT_RES(res, 8, 7, 0, 0, 1, 0, 0, 0);
	k = self_pfn(buf);
	EXPECT_NE(zpfn, k);
	EXPECT_EQ(8, pages_on_frame(0, buf, 8, k));
	EXPECT_KSM(k);
	ASSERT_EQ(0, get_stats(fd, &st));
	EXPECT_EQ(0, st.flags);
	EXPECT_GAUGES(st, 1, 7, 0, 0, 8, 1);
	EXPECT_STAT(st, zero_pages_merged, 0);
	EXPECT_EQ(0, ksm_stat(0, "ksm_zero_pages"));
	EXPECT_EQ(8, ksm_stat(0, "ksm_merging_pages"));
	EXPECT_ZERO_PAGES_MOVED(z0, 0);
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));
	for (i = 0; i < 8; i++)
		EXPECT_TRUE(page_is_zero(buf + i * psize()));
	close(fd);
	munmap(buf, 8 * psize());
}

/* KSM_OPEN_ZERO_PAGES counts at creation only. */
TEST(zero_pages_flag_creation_only)
{
	struct ksm_partition_stats st, st2;
	struct ksm_merge_result res;
	char name[64], text[8192], val[64];
	const struct part_row *row;
	struct part_table t;
	int fd, fd2;
	char *buf;
	int i;

	/* Created without: opening with the flag changes nothing */
	unique_name(name, sizeof(name), "zflag");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL, 0600);
	ASSERT_LE(0, fd);
	fd2 = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_ZERO_PAGES, 0600);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, get_stats(fd, &st));
	ASSERT_EQ(0, get_stats(fd2, &st2));
	EXPECT_EQ(st.id, st2.id);
	EXPECT_EQ(0, st.flags);
	EXPECT_EQ(0, st2.flags);
	ASSERT_LT(0, read_fdinfo(0, fd2, text, sizeof(text)));
	EXPECT_EQ(0, fdinfo_get(text, "ksm_flags", val, sizeof(val)));
	EXPECT_TRUE(flags_text_ok(val, 0)) TH_LOG("ksm_flags \"%s\"", val);
	READ_TABLE(t);
	row = part_row_find(&t, st.id);
	ASSERT_NE(NULL, row);
	EXPECT_EQ(0, row->flags);
	EXPECT_TRUE(flags_text_ok(row->flags_text, 0)) TH_LOG("flags \"%s\"", row->flags_text);
	part_table_free(&t);
	buf = map_anon(4);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < 4; i++)
		make_zero_filled(buf + i * psize());
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd2, KSM_PIDFD_SELF, buf, 4 * psize(), &res));
	EXPECT_RES(res, 4, 3, 0, 0, 1, 0, 0, 0);
	ASSERT_EQ(0, sys_ksm_leave(fd2, KSM_PIDFD_SELF, 0));
	close(fd2);
	close(fd);

	/* Created with: opening without it keeps it */
	unique_name(name, sizeof(name), "zflag");
	fd = sys_ksm_open(name, KSM_OPEN_CREATE | KSM_OPEN_EXCL | KSM_OPEN_ZERO_PAGES, 0600);
	ASSERT_LE(0, fd);
	fd2 = sys_ksm_open(name, 0, 0);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, get_stats(fd2, &st2));
	EXPECT_EQ(KSM_OPEN_ZERO_PAGES, st2.flags);
	ASSERT_LT(0, read_fdinfo(0, fd2, text, sizeof(text)));
	EXPECT_EQ(0, fdinfo_get(text, "ksm_flags", val, sizeof(val)));
	EXPECT_STREQ("0x8", val);
	EXPECT_TRUE(flags_text_ok(val, KSM_OPEN_ZERO_PAGES));
	READ_TABLE(t);
	row = part_row_find(&t, st2.id);
	ASSERT_NE(NULL, row);
	EXPECT_EQ(KSM_OPEN_ZERO_PAGES, row->flags);
	EXPECT_STREQ("0x8", row->flags_text);
	part_table_free(&t);
	for (i = 0; i < 4; i++)
		make_zero_filled(buf + i * psize());
	ASSERT_EQ((ssize_t)(4 * psize()), merge_range(fd2, KSM_PIDFD_SELF, buf, 4 * psize(), &res));
	EXPECT_RES(res, 4, 0, 0, 4, 0, 0, 0, 0);
	ASSERT_EQ(0, sys_ksm_leave(fd2, KSM_PIDFD_SELF, 0));
	close(fd2);
	close(fd);
	munmap(buf, 4 * psize());
}

/* ------------------------------------------------------------------ */
/* Tracepoints                                                         */

FIXTURE(tracing) {
	char dir[64];
	bool ok, mounted;
	long tracing_on;
};

static const char *const trace_events[] = {
	"ksm_partition_merge", "ksm_partition_unmerge", "ksm_partition_leave",
};

static int trace_write(const char *dir, const char *file, const char *s)
{
	char path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return write_string_path(path, s);
}

static int trace_clear(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/trace", dir);
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

FIXTURE_SETUP(tracing)
{
	char path[PATH_MAX];
	struct stat st;
	size_t i;

	self->ok = false;
	self->mounted = false;
	snprintf(self->dir, sizeof(self->dir), "/sys/kernel/tracing");
	snprintf(path, sizeof(path), "%s/trace", self->dir);
	if (stat(path, &st)) {
		if (mount("tracefs", self->dir, "tracefs", 0, NULL) == 0)
			self->mounted = true;
		else
			return;
	}
	for (i = 0; i < ARRAY_SIZE(trace_events); i++) {
		snprintf(path, sizeof(path), "%s/events/ksm/%s/enable", self->dir, trace_events[i]);
		if (stat(path, &st))
			return;
	}
	snprintf(path, sizeof(path), "%s/tracing_on", self->dir);
	self->tracing_on = read_long_path(path);
	if (trace_clear(self->dir) || trace_write(self->dir, "tracing_on", "1"))
		return;
	for (i = 0; i < ARRAY_SIZE(trace_events); i++) {
		snprintf(path, sizeof(path), "events/ksm/%s/enable", trace_events[i]);
		if (trace_write(self->dir, path, "1"))
			return;
	}
	self->ok = true;
}

FIXTURE_TEARDOWN(tracing)
{
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(trace_events); i++) {
		snprintf(path, sizeof(path), "events/ksm/%s/enable", trace_events[i]);
		trace_write(self->dir, path, "0");
	}
	trace_clear(self->dir);
	if (self->tracing_on == 0)
		trace_write(self->dir, "tracing_on", "0");
	if (self->mounted)
		umount(self->dir);
}

struct trace_rec {
	unsigned long long id, a, b, dur;
	int pid;
	long ret;
	int n;		/* how many records of this kind for the partition */
};

/* The last record of event for partition id in the trace buffer. */
static void trace_find(const char *text, const char *event, uint64_t id, bool merge,
		       struct trace_rec *r)
{
	char key[64];
	const char *p = text;

	memset(r, 0, sizeof(*r));
	snprintf(key, sizeof(key), " %s: ", event);
	while ((p = strstr(p, key))) {
		struct trace_rec t = { 0 };
		int n;

		p += strlen(key);
		if (merge)
			n = sscanf(p,
				   "partition %llu pid %d scanned %llu merged %llu duration_ns %llu ret %ld",
				   &t.id, &t.pid, &t.a, &t.b, &t.dur, &t.ret);
		else
			n = sscanf(p, "partition %llu pid %d pages %lld duration_ns %llu ret %ld",
				   &t.id, &t.pid, (long long *)&t.a, &t.dur, &t.ret);
		if (n != (merge ? 6 : 5) || t.id != id)
			continue;
		t.n = r->n + 1;
		*r = t;
	}
}

/*
 * A merge and leave of another process through its pidfd: records name it.
 * The child makes the pages it inherited its own first: pages still
 * copy-on-write shared with us (not a member) would not merge.
 */
static void trace_other_process(struct __test_metadata *_metadata, int fd, uint64_t id,
				char *buf, char *text, size_t tlen, const char *path)
{
	struct ksm_merge_result res;
	struct trace_rec r;
	struct chan ch;
	pid_t pid;
	int pidfd;

	ASSERT_EQ(0, chan_open(&ch));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		chan_child_side(&ch);
		unshare_pages(buf, 11);
		CHILD_CHECK(put_byte(ch.to_parent[1], 'r') == 0);
		get_byte(ch.to_child[0]);
		_exit(0);
	}
	chan_parent_side(&ch);
	ASSERT_EQ('r', get_byte(ch.to_parent[0]));
	pidfd = sys_pidfd_open(pid, 0);
	ASSERT_LE(0, pidfd);
	ASSERT_EQ((ssize_t)(11 * psize()), merge_range(fd, pidfd, buf, 11 * psize(), &res));
	/* 4 pairs, 2 zero-filled pages, 1 unique, as ours were */
	EXPECT_RES(res, 11, 4, 0, 2, 5, 0, 0, 0);
	ASSERT_EQ(0, sys_ksm_leave(fd, pidfd, 0));
	ASSERT_LT(0, read_file(path, text, tlen));
	trace_find(text, "ksm_partition_merge", id, true, &r);
	EXPECT_EQ(2, r.n);
	EXPECT_EQ(pid, r.pid);
	EXPECT_EQ(res.pages_scanned, r.a);
	EXPECT_EQ(res.pages_merged + res.zero_pages_merged, r.b);
	EXPECT_EQ((long)(11 * psize()), r.ret);
	trace_find(text, "ksm_partition_leave", id, false, &r);
	EXPECT_EQ(2, r.n);
	EXPECT_EQ(pid, r.pid);
	EXPECT_EQ(0, r.ret);
	close(ch.to_child[1]);
	EXPECT_EQ(0, wait_status(pid));
	close(ch.to_parent[0]);
	close(pidfd);
}

TEST_F(tracing, tracepoints)
{
	static char text[1 << 20];
	struct ksm_partition_stats st;
	struct ksm_merge_result res;
	struct trace_rec r;
	uint64_t seeds[11];
	struct iovec vec[2];
	char path[PATH_MAX];
	char *buf;
	int fd, i;

	if (!self->ok)
		SKIP(return, "tracefs or the ksm:ksm_partition_* events are unavailable");
	/* 4 pairs, 2 zero-filled pages, 1 unique */
	for (i = 0; i < 8; i++)
		seeds[i] = 0x58000 + i / 2;
	seeds[8] = 0;
	seeds[9] = 0;
	seeds[10] = 0x58100;
	buf = map_anon(11);
	ASSERT_NE(NULL, buf);
	for (i = 0; i < 11; i++)
		if (i == 8 || i == 9)
			make_zero_filled(buf + i * psize());
		else
			fill_page(buf + i * psize(), seeds[i]);
	fd = sys_ksm_open(NULL, KSM_OPEN_ZERO_PAGES, 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, get_stats(fd, &st));

	ASSERT_EQ((ssize_t)(11 * psize()),
		  merge_range(fd, KSM_PIDFD_SELF, buf, 11 * psize(), &res));
	EXPECT_RES(res, 11, 4, 0, 2, 5, 0, 0, 0);
	/* Unmerge 2 pairs and one zero page: 5 pages stop sharing */
	vec[0] = (struct iovec){ buf, 4 * psize() };
	vec[1] = (struct iovec){ buf + 8 * psize(), psize() };
	ASSERT_EQ((ssize_t)(5 * psize()), sys_ksm_unmerge(fd, KSM_PIDFD_SELF, vec, 2, 0));
	/* Leave: the other 2 pairs and zero page */
	ASSERT_EQ(0, sys_ksm_leave(fd, KSM_PIDFD_SELF, 0));

	snprintf(path, sizeof(path), "%s/trace", self->dir);
	ASSERT_LT(0, read_file(path, text, sizeof(text)));

	trace_find(text, "ksm_partition_merge", st.id, true, &r);
	EXPECT_EQ(1, r.n) TH_LOG("ksm_partition_merge records for partition %llu:\n%s",
				 (unsigned long long)st.id, text);
	EXPECT_EQ(getpid(), r.pid);
	EXPECT_EQ(11, r.a);	/* scanned */
	EXPECT_EQ(6, r.b);	/* merged: 4 KSM + 2 zero */
	EXPECT_GT(60000000000ULL, r.dur);	/* wall clock may tick in jiffies */
	EXPECT_EQ((long)(11 * psize()), r.ret);

	trace_find(text, "ksm_partition_unmerge", st.id, false, &r);
	EXPECT_EQ(1, r.n) TH_LOG("ksm_partition_unmerge records:\n%s", text);
	EXPECT_EQ(getpid(), r.pid);
	EXPECT_EQ(5, (long long)r.a);
	EXPECT_GT(60000000000ULL, r.dur);	/* wall clock may tick in jiffies */
	EXPECT_EQ((long)(5 * psize()), r.ret);

	trace_find(text, "ksm_partition_leave", st.id, false, &r);
	EXPECT_EQ(1, r.n) TH_LOG("ksm_partition_leave records:\n%s", text);
	EXPECT_EQ(getpid(), r.pid);
	EXPECT_EQ(5, (long long)r.a);
	EXPECT_GT(60000000000ULL, r.dur);	/* wall clock may tick in jiffies */
	EXPECT_EQ(0, r.ret);

	/* A merge of another process through its pidfd names that process */
	trace_other_process(_metadata, fd, st.id, buf, text, sizeof(text), path);
	close(fd);
	munmap(buf, 11 * psize());
}

TEST_HARNESS_MAIN
