// SPDX-License-Identifier: GPL-2.0-or-later
// JSON writer, tables, byte formatting, the merge/stats/list outputs and
// reading the sysfs partition directories (from a fake tree).
#include "commands.hpp"
#include "json.hpp"
#include "sysfs.hpp"
#include "table.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using namespace ksmtool;
namespace fs = std::filesystem;

TEST(Json, CompactNesting)
{
	JsonWriter j;
	j.begin_object()
	    .field("a", 1)
	    .field("b", "x")
	    .key("c")
	    .begin_array()
	    .value(true)
	    .null()
	    .value(std::int64_t{-5})
	    .begin_object()
	    .end_object()
	    .end_array()
	    .key("d")
	    .begin_array()
	    .end_array()
	    .field("e", std::uint64_t{18446744073709551615u})
	    .end_object();
	EXPECT_EQ(j.str(),
	          R"({"a":1,"b":"x","c":[true,null,-5,{}],"d":[],"e":18446744073709551615})");
}

TEST(Json, Pretty)
{
	JsonWriter j(true);
	j.begin_object().field("a", 1).key("b").begin_array().value(2).end_array().end_object();
	EXPECT_EQ(j.str(), "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}");
}

TEST(Json, Escaping)
{
	EXPECT_EQ(json_quote("plain"), "\"plain\"");
	EXPECT_EQ(json_quote("q\"b\\n\nt\t\x01"), R"("q\"b\\n\nt\t\u0001")");
	EXPECT_EQ(json_quote("caf\xc3\xa9"), "\"caf\xc3\xa9\""); // UTF-8 passes through
}

TEST(Json, TopLevelArray)
{
	JsonWriter j;
	j.begin_array().value(1).value(2).end_array();
	EXPECT_EQ(j.str(), "[1,2]");
}

TEST(Table, AlignsColumns)
{
	Table t({{"ID", Table::Align::right}, {"NAME"}, {"N", Table::Align::right}});
	t.add_row({"1", "db", "100"});
	t.add_row({"12", "longer-name", "5"});
	EXPECT_EQ(t.render(), "ID  NAME           N\n"
	                      " 1  db           100\n"
	                      "12  longer-name    5\n");
	EXPECT_EQ(t.rows(), 2u);
}

TEST(Table, NoHeaderAndMissingCells)
{
	Table t({{"A"}, {"B"}});
	t.add_row({"x"});
	EXPECT_EQ(t.render(false), "x\n");
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
	a.joined = true;
	a.counters.pages_scanned = 300;
	a.counters.pages_merged = 200;
	a.counters.pages_unshared = 100;
	a.counters.pages_absent = 4;
	a.bytes_requested = a.bytes_processed = 304 * 4096;
	TargetResult b;
	b.pid = 200;
	b.from_cgroup = true;
	b.counters.pages_scanned = 256;
	b.counters.pages_already_shared = 6;
	b.counters.pages_merged = 250;
	b.counters.zero_pages_merged = 0;
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
	auto s = merge_json("db", sample_results(), 4096);
	EXPECT_NE(s.find(R"("partition":"db","page_size":4096)"), std::string::npos) << s;
	EXPECT_NE(s.find(R"({"pid":100,"source":"pid","status":"ok","joined":true,)"
	                 R"("bytes_requested":1245184,"bytes_processed":1245184,)"
	                 R"("pages_scanned":300,"pages_merged":200,)"),
	          std::string::npos)
	    << s;
	EXPECT_NE(s.find(R"("source":"cgroup")"), std::string::npos);
	EXPECT_NE(s.find(R"("status":"failed")"), std::string::npos);
	EXPECT_NE(s.find(R"("error":"merge: no ptrace access to pid 300")"), std::string::npos);
	// Total: 450 merged pages = 1843200 bytes saved, one failure.
	EXPECT_NE(s.find(R"("total":{"processes":3,"failed":1,"gone":0,"pages_scanned":556,)"
	                 R"("pages_merged":450,"pages_already_shared":6,)"),
	          std::string::npos)
	    << s;
	EXPECT_NE(s.find(R"("bytes_saved":1843200}})"), std::string::npos) << s;
}

TEST(MergeOutput, Table)
{
	auto s = merge_table(sample_results(), 4096);
	std::istringstream in(s);
	std::string header, l1, l2, l3, total;
	std::getline(in, header);
	std::getline(in, l1);
	std::getline(in, l2);
	std::getline(in, l3);
	std::getline(in, total);
	EXPECT_NE(header.find("PID"), std::string::npos);
	EXPECT_NE(header.find("MERGED"), std::string::npos);
	EXPECT_NE(header.find("SAVED"), std::string::npos);
	EXPECT_NE(l1.find("100  ok"), std::string::npos) << l1;
	EXPECT_NE(l1.find("800.0 KiB"), std::string::npos) << l1;
	EXPECT_NE(l3.find("failed"), std::string::npos) << l3;
	EXPECT_NE(total.find("total"), std::string::npos) << total;
	EXPECT_NE(total.find("450"), std::string::npos) << total;
	EXPECT_NE(total.find("1.8 MiB"), std::string::npos) << total;
}

TEST(MergeOutput, SingleProcessHasNoTotal)
{
	auto r = sample_results();
	r.resize(1);
	auto s = merge_table(r, 4096);
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
	s.unmerge_time_ns = 77;
	return s;
}

} // namespace

TEST(StatsOutput, JsonHasEveryField)
{
	auto s = stats_json("db", sample_stats());
	EXPECT_EQ(s.rfind(R"({"name":"db","id":42,"zero_pages":true,"members":3,"pages_shared":10,)"
	                  R"("pages_sharing":2048,)",
	                  0),
	          0u)
	    << s;
	for (const char *f :
	     {"pages_unshared", "ksm_zero_pages", "rmap_items", "stable_node_chains",
	      "stable_node_dups", "merge_calls", "unmerge_calls", "leave_calls", "pages_scanned",
	      "pages_merged", "zero_pages_merged", "pages_failed", "pages_absent", "pages_skipped",
	      "merge_time_ns"})
		EXPECT_NE(s.find(std::string("\"") + f + "\":0"), std::string::npos) << f;
	EXPECT_NE(s.find(R"("general_profit":-4096)"), std::string::npos);
	EXPECT_NE(s.find(R"("unmerge_time_ns":77})"), std::string::npos);
}

TEST(StatsOutput, Text)
{
	auto s = stats_text("db", sample_stats(), 4096);
	EXPECT_NE(s.find("partition"), std::string::npos);
	EXPECT_NE(s.find("db"), std::string::npos);
	EXPECT_NE(s.find("zero_pages"), std::string::npos);
	EXPECT_NE(s.find("(8.0 MiB)"), std::string::npos) << s; // 2048 pages sharing
	EXPECT_NE(s.find("(-4.0 KiB)"), std::string::npos) << s;
}

class Sysfs : public ::testing::Test {
protected:
	fs::path root;

	void SetUp() override
	{
		char tmpl[] = "/tmp/ksmpart-sysfs-test.XXXXXX";
		ASSERT_NE(mkdtemp(tmpl), nullptr);
		root = tmpl;
	}
	void TearDown() override
	{
		std::error_code ec;
		fs::remove_all(root, ec);
	}
	void file(const fs::path &rel, const std::string &value)
	{
		fs::create_directories((root / rel).parent_path());
		std::ofstream(root / rel) << value << "\n";
	}
	/// A partition directory as the kernel writes it.
	void partition(unsigned id, const std::string &name, unsigned pages_sharing)
	{
		auto d = fs::path(std::to_string(id));
		file(d / "name", name);
		file(d / "owner_uid", "1000");
		file(d / "owner_gid", "100");
		file(d / "mode", "0640");
		file(d / "ipc_ns", "4026531839");
		file(d / "use_zero_pages", name.empty() ? "1" : "0");
		for (const char *f :
		     {"members", "pages_shared", "pages_unshared", "ksm_zero_pages", "rmap_items",
		      "stable_node_chains", "stable_node_dups", "merge_calls", "unmerge_calls",
		      "leave_calls", "pages_scanned", "pages_merged", "zero_pages_merged",
		      "pages_failed", "pages_absent", "pages_skipped", "merge_time_ns",
		      "unmerge_time_ns"})
			file(d / f, "1");
		file(d / "pages_sharing", std::to_string(pages_sharing));
		file(d / "general_profit", "-123");
	}
};

TEST_F(Sysfs, ReadsEveryPartitionSortedById)
{
	partition(12, "db", 500);
	partition(3, "", 7);
	std::error_code ec;
	std::string failed;
	auto p = read_partitions(root.string(), ec, failed);
	ASSERT_FALSE(ec) << ec.message() << " " << failed;
	ASSERT_EQ(p.size(), 2u);
	EXPECT_EQ(p[0].id, 3u);
	EXPECT_FALSE(p[0].name.has_value());
	EXPECT_TRUE(p[0].stats.zero_pages);
	EXPECT_EQ(p[0].stats.pages_sharing, 7u);
	EXPECT_EQ(p[1].id, 12u);
	EXPECT_EQ(p[1].name, "db");
	EXPECT_EQ(p[1].owner_uid, 1000u);
	EXPECT_EQ(p[1].owner_gid, 100u);
	EXPECT_EQ(p[1].mode, 0640u);
	EXPECT_EQ(p[1].ipc_ns, 4026531839u);
	EXPECT_EQ(p[1].stats.pages_sharing, 500u);
	EXPECT_EQ(p[1].stats.general_profit, -123);
	EXPECT_EQ(p[1].stats.unmerge_time_ns, 1u);
	EXPECT_EQ(p[1].stats.id, 12u);

	auto json = list_json(p);
	EXPECT_EQ(json.rfind(R"([{"id":3,"name":null,"owner_uid":1000,"owner_gid":100,)"
	                     R"("mode":"0640","ipc_ns":4026531839,"zero_pages":true,"members":1,)",
	                     0),
	          0u)
	    << json;
	EXPECT_NE(json.find(R"({"id":12,"name":"db",)"), std::string::npos);
	EXPECT_NE(json.find(R"("pages_sharing":500,)"), std::string::npos);

	auto table = list_table(p);
	EXPECT_NE(table.find("ID  NAME"), std::string::npos) << table;
	EXPECT_NE(table.find(" 3  -"), std::string::npos) << table;
	EXPECT_NE(table.find("12  db"), std::string::npos) << table;
	EXPECT_NE(table.find("0640"), std::string::npos) << table;
}

TEST_F(Sysfs, EmptyDirectoryIsNoPartitions)
{
	std::error_code ec;
	std::string failed;
	EXPECT_TRUE(read_partitions(root.string(), ec, failed).empty());
	EXPECT_FALSE(ec);
	EXPECT_EQ(list_json({}), "[]");
}

TEST_F(Sysfs, MissingDirectory)
{
	std::error_code ec;
	std::string failed;
	read_partitions((root / "none").string(), ec, failed);
	EXPECT_EQ(ec.value(), ENOENT);
	EXPECT_EQ(failed, (root / "none").string());
}

TEST_F(Sysfs, VanishedPartitionIsSkipped)
{
	partition(1, "a", 1);
	fs::create_directories(root / "2"); // removed while listing: no files left
	std::error_code ec;
	std::string failed;
	auto p = read_partitions(root.string(), ec, failed);
	EXPECT_FALSE(ec);
	ASSERT_EQ(p.size(), 1u);
	EXPECT_EQ(p[0].id, 1u);
}

TEST_F(Sysfs, MalformedValueIsAnError)
{
	partition(1, "a", 1);
	file("1/members", "many");
	std::error_code ec;
	std::string failed;
	read_partitions(root.string(), ec, failed);
	EXPECT_EQ(ec.value(), EBADMSG);
	EXPECT_EQ(failed, (root / "1" / "members").string());
}
