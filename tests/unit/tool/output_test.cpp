// SPDX-License-Identifier: GPL-2.0-or-later
// Output conventions (libsmartcols tables with -o/-n/-r/-b, JSON through
// nlohmann-json, always valid UTF-8), byte formatting, the merge and stats
// outputs, list/members/which from a fake /proc, and the Prometheus text.
#include "commands.hpp"
#include "metrics.hpp"
#include "output.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace ksmtool;
namespace fs = std::filesystem;

namespace {

const std::vector<Column> cols = {
    {"ID", Column::Kind::number, true, "id"},
    {"NAME", Column::Kind::text, true, "name"},
    {"SIZE", Column::Kind::bytes, true, "size"},
    {"ZERO", Column::Kind::flag, false, "zero"},
};

Output sample(const OutputOptions &o)
{
	std::string error;
	Output t(cols, o, error);
	EXPECT_EQ(error, "");
	t.add({std::int64_t{1}, std::string("db"), std::int64_t{8192}, true});
	t.add({std::int64_t{12}, Value(), std::int64_t{3 << 20}, false});
	return t;
}

} // namespace

TEST(Output, DefaultColumnsAligned)
{
	auto s = sample({}).table();
	EXPECT_EQ(s, "ID NAME    SIZE\n"
	             " 1 db   8.0 KiB\n"
	             "12 -    3.0 MiB\n")
	    << s;
}

TEST(Output, SelectNoheadingsRawBytes)
{
	OutputOptions o;
	o.columns = "zero,id";
	o.noheadings = true;
	EXPECT_EQ(sample(o).table(), " yes  1\n  no 12\n"); // header widths still count
	o.columns = "+ZERO";
	o.noheadings = false;
	o.raw = true;
	o.bytes = true;
	EXPECT_EQ(sample(o).table(), "ID NAME SIZE ZERO\n1 db 8192 yes\n12 - 3145728 no\n");
}

TEST(Output, UnknownColumnNamesTheChoices)
{
	OutputOptions o;
	o.columns = "ID,FOO";
	std::string error;
	Output t(cols, o, error);
	EXPECT_EQ(error, "unknown column 'FOO' (columns: ID NAME SIZE ZERO)");
}

TEST(Output, JsonRowsUseLowercaseKeysAndRawNumbers)
{
	OutputOptions o;
	o.columns = "+ZERO";
	auto j = sample(o).json_rows();
	EXPECT_EQ(dump(j, false), R"([{"id":1,"name":"db","size":8192,"zero":true},)"
	                          R"({"id":12,"name":null,"size":3145728,"zero":false}])");
}

TEST(Json, InvalidUtf8BecomesReplacementCharacter)
{
	json j = {{"region", std::string("/tmp/\xff")}, {"ok", "caf\xc3\xa9"}};
	auto s = dump(j, false);
	EXPECT_EQ(s, "{\"region\":\"/tmp/\xef\xbf\xbd\",\"ok\":\"caf\xc3\xa9\"}");
	EXPECT_FALSE(json::parse(s, nullptr, false).is_discarded());
	EXPECT_EQ(dump({{"a", 1}}, true), "{\n  \"a\": 1\n}");
}

TEST(HumanBytes, Units)
{
	EXPECT_EQ(human_bytes(0), "0 B");
	EXPECT_EQ(human_bytes(1023), "1023 B");
	EXPECT_EQ(human_bytes(1024), "1.0 KiB");
	EXPECT_EQ(human_bytes(4096 * 2048), "8.0 MiB");
	EXPECT_EQ(human_bytes(1536ll << 20), "1.5 GiB");
	EXPECT_EQ(human_bytes(-8192), "-8.0 KiB");
	EXPECT_EQ(human_bytes(INT64_MIN), "-8.0 EiB");
}

namespace {

std::vector<TargetResult> sample_results()
{
	TargetResult a;
	a.pid = 100;
	a.comm = "python3";
	a.joined = true;
	a.counters.pages_scanned = 300;
	a.counters.pages_merged = 200;
	a.counters.pages_unshared = 100;
	a.counters.pages_absent = 4;
	a.merging_pages = 250;
	a.bytes_requested = a.bytes_processed = 304 * 4096;
	TargetResult b;
	b.pid = 200;
	b.source = TargetResult::Source::cgroup;
	b.counters.pages_scanned = 256;
	b.counters.pages_already_shared = 6;
	b.counters.pages_merged = 250;
	b.merging_pages = 256;
	TargetResult c;
	c.pid = 300;
	c.status = TargetResult::Status::failed;
	c.code = Exit::permission;
	c.error = "merge: no ptrace access to pid 300";
	return {a, b, c};
}

} // namespace

TEST(MergeOutput, Json)
{
	auto j = merge_json({"db", 77, true}, sample_results(), 4096);
	EXPECT_EQ(j["partition"], "db");
	EXPECT_EQ(j["id"], 77);
	EXPECT_EQ(j["created"], true);
	auto s = dump(j, false);
	EXPECT_NE(
	    s.find(R"({"pid":100,"comm":"python3","source":"pid","status":"ok","joined":true,)"
	           R"("bytes_requested":1245184,"bytes_processed":1245184,)"
	           R"("pages_scanned":300,"pages_merged":200,)"),
	    std::string::npos)
	    << s;
	EXPECT_NE(s.find(R"("merging_bytes":1024000)"), std::string::npos) << s;
	EXPECT_NE(s.find(R"("source":"cgroup")"), std::string::npos);
	EXPECT_NE(s.find(R"("error":"merge: no ptrace access to pid 300")"), std::string::npos);
	// Total: 450 merged pages = 1843200 bytes saved, one failure.
	EXPECT_NE(s.find(R"("total":{"processes":3,"failed":1,"gone":0,"pages_scanned":556,)"
	                 R"("pages_merged":450,"pages_already_shared":6,)"),
	          std::string::npos)
	    << s;
	EXPECT_NE(s.find(R"("bytes_saved":1843200}})"), std::string::npos) << s;
}

TEST(MergeOutput, NarrowDefaultTableWithProcessTotal)
{
	std::string error;
	auto s = merge_table(sample_results(), 4096, {}, error);
	EXPECT_EQ(error, "");
	std::istringstream in(s);
	std::string header, l1, l2, l3, total;
	std::getline(in, header);
	std::getline(in, l1);
	std::getline(in, l2);
	std::getline(in, l3);
	std::getline(in, total);
	EXPECT_EQ(header, "  PID STATUS  SCANNED MERGED      SAVED    MERGING") << s;
	EXPECT_NE(l1.find("100 ok"), std::string::npos) << l1;
	EXPECT_NE(l1.find("800.0 KiB"), std::string::npos) << l1;  // this call
	EXPECT_NE(l1.find("1000.0 KiB"), std::string::npos) << l1; // the process now
	EXPECT_NE(l3.find("failed"), std::string::npos) << l3;
	EXPECT_NE(total.find("total"), std::string::npos) << total;
	EXPECT_NE(total.find("450"), std::string::npos) << total;
	EXPECT_NE(total.find("1.8 MiB"), std::string::npos) << total;
	for (const auto &line : {header, l1, l2, l3, total})
		EXPECT_LE(line.size(), 80u) << line;
}

TEST(MergeOutput, EveryColumnHasOneMeaning)
{
	OutputOptions o;
	o.columns = "PID,ALREADY,CANDIDATES";
	o.raw = true;
	std::string error;
	auto s = merge_table(sample_results(), 4096, o, error);
	EXPECT_EQ(s, "PID ALREADY CANDIDATES\n100 0 100\n200 6 0\n300 0 0\n");
}

TEST(MergeOutput, SingleProcessHasNoTotal)
{
	auto r = sample_results();
	r.resize(1);
	std::string error;
	auto s = merge_table(r, 4096, {}, error);
	EXPECT_EQ(s.find("total"), std::string::npos);
}

namespace {

ksmpart::Stats sample_stats()
{
	ksmpart::Stats s;
	s.id = 42;
	s.zero_pages = true;
	s.members = 3;
	s.pages_shared = 10;
	s.pages_sharing = 2048;
	s.general_profit = -4096;
	s.merge_time_ns = 1476092250;
	s.unmerge_time_ns = 77;
	return s;
}

} // namespace

TEST(StatsOutput, JsonHasEveryField)
{
	auto s = dump(stats_json("db", sample_stats()), false);
	EXPECT_EQ(s.rfind(R"({"name":"db","id":42,"zero_pages":true,"members":3,"pages_shared":10,)"
	                  R"("pages_sharing":2048,)",
	                  0),
	          0u)
	    << s;
	for (const char *f :
	     {"pages_unshared", "ksm_zero_pages", "rmap_items", "stable_node_chains",
	      "stable_node_dups", "merge_calls", "unmerge_calls", "leave_calls", "pages_scanned",
	      "pages_merged", "zero_pages_merged", "pages_failed", "pages_absent", "pages_skipped"})
		EXPECT_NE(s.find(std::string("\"") + f + "\":0"), std::string::npos) << f;
	EXPECT_NE(s.find(R"("general_profit":-4096)"), std::string::npos);
	EXPECT_NE(s.find(R"("unmerge_time_ns":77})"), std::string::npos);
}

TEST(StatsOutput, TextInHumanUnits)
{
	auto s = stats_text("db", sample_stats(), 4096, false);
	EXPECT_NE(s.find("partition           db\n"), std::string::npos) << s;
	EXPECT_NE(s.find("saved               8.0 MiB\n"), std::string::npos) << s;
	EXPECT_NE(s.find("general_profit      -4.0 KiB\n"), std::string::npos) << s;
	EXPECT_NE(s.find("merge_time          1.476 s\n"), std::string::npos) << s;
	EXPECT_NE(s.find("pages_sharing       2048\n"), std::string::npos) << s;
	auto b = stats_text("db", sample_stats(), 4096, true);
	EXPECT_NE(b.find("saved               8388608 bytes\n"), std::string::npos) << b;
}

TEST(Prometheus, NamesLabelsAndFamilies)
{
	ksmpart::PartitionInfo p;
	p.id = 18446744073709551557ull;
	p.name = "db";
	p.uid = 1000;
	p.mode = 0640;
	p.stats = sample_stats();
	p.stats.merge_calls = 4;
	ksmpart::PartitionInfo anon;
	anon.id = 5;
	anon.stats.pages_sharing = 1;
	ksmpart::Totals t;
	t.nr_partitions = 2;
	t.pages_sharing = 2049;
	auto s = prometheus({p, anon}, t, 4096);
	EXPECT_NE(s.find("# TYPE ksmpart_saved_bytes gauge\n"
	                 "ksmpart_saved_bytes{partition=\"18446744073709551557\",name=\"db\"} "
	                 "8388608\n"
	                 "ksmpart_saved_bytes{partition=\"5\",name=\"\"} 4096\n"),
	          std::string::npos)
	    << s;
	EXPECT_NE(s.find("ksmpart_calls_total{partition=\"18446744073709551557\",name=\"db\","
	                 "kind=\"merge\"} 4\n"),
	          std::string::npos)
	    << s;
	EXPECT_NE(s.find("ksmpart_call_cpu_seconds_total{partition=\"18446744073709551557\","
	                 "name=\"db\",kind=\"merge\"} 1.47609225\n"),
	          std::string::npos)
	    << s;
	EXPECT_NE(s.find("ksmpart_cow_debt_bytes{"), std::string::npos);
	EXPECT_NE(s.find("ksmpart_system_saved_bytes 8392704\n"), std::string::npos) << s;
	EXPECT_NE(s.find("mode=\"0640\""), std::string::npos);
	EXPECT_EQ(label_escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
	// Each family once: HELP and TYPE precede all of its samples.
	EXPECT_EQ(s.find("# TYPE ksmpart_members gauge"), s.rfind("# TYPE ksmpart_members gauge"));
}

// list, members, which on a fake /proc (files made here).
class FakeProc : public ::testing::Test {
protected:
	fs::path dir;
	void SetUp() override
	{
		char tmpl[] = "/tmp/ksmpart-tool-proc.XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		dir = tmpl;
		put("ksm_partitions",
		    "id uid gid mode flags members pages_shared pages_sharing pages_unshared "
		    "ksm_zero_pages rmap_items general_profit name\n"
		    "18446744073709551557 1000 100 0640 0x0 2 10 30 5 2 47 120000 db\n"
		    "77 0 0 0600 0x8 1 0 0 0 4 0 16384\n");
		member(10, 18446744073709551557ull, "python3", "/system.slice/web.service", 30);
		member(11, 18446744073709551557ull, "python3", "/system.slice/web.service", 12);
		member(12, 77, "qemu", "/machine.slice/vm1.scope", 4);
		member(13, 0, "bash", "/user.slice", 0);
		member(0, 0, "ksmpart-tool", "/user.slice", 0);
		fs::rename(dir / "0", dir / "self");
	}
	void TearDown() override { fs::remove_all(dir); }
	void put(const fs::path &rel, const std::string &text)
	{
		fs::create_directories((dir / rel).parent_path());
		std::ofstream(dir / rel) << text;
	}
	void member(int pid, std::uint64_t id, const std::string &comm, const std::string &cg,
	            int merging)
	{
		auto p = fs::path(std::to_string(pid));
		put(p / "ksm_stat", "ksm_rmap_items 1\nksm_zero_pages 0\nksm_merging_pages " +
		                        std::to_string(merging) +
		                        "\nksm_process_profit 4096\nksm_merge_any: no\n"
		                        "ksm_mergeable: no\nksm_partition " +
		                        std::to_string(id) + "\n");
		put(p / "comm", comm + "\n");
		put(p / "cgroup", "0::" + cg + "\n");
	}
	std::pair<int, std::string> run_args(std::vector<std::string> args,
	                                     std::string *err_out = nullptr)
	{
		std::vector<const char *> argv{"ksmpart-tool"};
		for (auto &a : args)
			argv.push_back(a.c_str());
		argv.push_back("--proc-dir");
		std::string d = dir.string();
		argv.push_back(d.c_str());
		argv.push_back("--table");
		std::string t = (dir / "ksm_partitions").string();
		argv.push_back(t.c_str());
		Options o;
		auto p = parse_command_line(static_cast<int>(argv.size()), argv.data(), o);
		if (p.exit_code)
			return {*p.exit_code, p.err};
		std::ostringstream out, err;
		int rc = run(o, out, err);
		if (err_out)
			*err_out = err.str();
		return {rc, out.str()};
	}
};

TEST_F(FakeProc, ListAsRootShowsEveryPartitionInFull)
{
	if (geteuid() != 0)
		GTEST_SKIP() << "list reads /proc/ksm_partitions only as root";
	auto [rc, out] =
	    run_args({"list", "-o", "ID,NAME,UID,MODE,MEMBERS,PIDS,SHARING,SAVED", "-r"});
	ASSERT_EQ(rc, 0) << out;
	// -r escapes blanks inside cells, as lsblk -r does.
	EXPECT_EQ(out, "ID NAME UID MODE MEMBERS PIDS SHARING SAVED\n"
	               "77 - 0 0600 1 12 0 16.0\\x20KiB\n"
	               "18446744073709551557 db 1000 0640 2 10,11 30 128.0\\x20KiB\n");
	auto [jrc, j] = run_args({"list", "-J", "-b"});
	ASSERT_EQ(jrc, 0);
	auto parsed = json::parse(j);
	ASSERT_EQ(parsed["partitions"].size(), 2u);
	EXPECT_EQ(parsed["partitions"][1]["id"], 18446744073709551557ull);
	EXPECT_EQ(parsed["partitions"][1]["saved"], 131072);
	EXPECT_EQ(parsed["partitions"][0]["name"], nullptr);
}

TEST_F(FakeProc, MembersById)
{
	auto [rc, out] = run_args({"members", "--id", "18446744073709551557", "-r", "-b"});
	ASSERT_EQ(rc, 0) << out;
	EXPECT_EQ(out, "PID COMM CGROUP MERGING PROFIT\n"
	               "10 python3 /system.slice/web.service 122880 4096\n"
	               "11 python3 /system.slice/web.service 49152 4096\n");
}

TEST_F(FakeProc, WhichNamesThePartition)
{
	if (geteuid() != 0)
		GTEST_SKIP() << "names come from /proc/ksm_partitions only for root";
	auto [rc, out] = run_args({"which", "10", "12", "13", "-r"});
	ASSERT_EQ(rc, 0) << out;
	EXPECT_EQ(out, "PID COMM PARTITION NAME\n"
	               "10 python3 18446744073709551557 db\n"
	               "12 qemu 77 (anonymous)\n"
	               "13 bash 0 -\n");
	std::string err;
	auto [nrc, nout] = run_args({"which", "10", "99"}, &err);
	EXPECT_EQ(nrc, 6) << nout; // one found, one not: partial
	EXPECT_NE(err.find("no process with pid 99"), std::string::npos) << err;
}
