// SPDX-License-Identifier: GPL-2.0-or-later
// Command-line parsing of every subcommand, valid and invalid.
#include "cli.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

using namespace ksmtool;

namespace {

struct Parsed {
	Options o;
	ParseOutcome r;
};

Parsed parse(std::initializer_list<const char *> args)
{
	std::vector<const char *> argv{"ksmpart-tool"};
	argv.insert(argv.end(), args);
	Parsed p;
	p.r = parse_command_line(static_cast<int>(argv.size()), argv.data(), p.o);
	return p;
}

/// Expect a usage error (exit 2) whose message mentions `needle`.
void expect_usage(std::initializer_list<const char *> args, const std::string &needle)
{
	auto p = parse(args);
	ASSERT_TRUE(p.r.exit_code.has_value());
	EXPECT_EQ(*p.r.exit_code, 2);
	EXPECT_NE(p.r.err.find(needle), std::string::npos) << "stderr: " << p.r.err;
}

} // namespace

TEST(Cli, NoArgumentsPrintUsage)
{
	auto p = parse({});
	ASSERT_TRUE(p.r.exit_code.has_value());
	EXPECT_EQ(*p.r.exit_code, 2);
	EXPECT_NE(p.r.err.find("Usage: ksmpart-tool"), std::string::npos) << p.r.err;
	EXPECT_NE(p.r.err.find("Subcommands:"), std::string::npos) << p.r.err;
	expect_usage({"--json"}, "ksmpart-tool: ");
}

TEST(Cli, UnknownSubcommandSuggestsTheLikeliestOne)
{
	expect_usage({"frobnicate"}, "ksmpart-tool: unknown command 'frobnicate'\n");
	expect_usage({"stat", "web"}, "unknown command 'stat' (did you mean 'stats'?)");
	expect_usage({"mrege", "web", "1"}, "(did you mean 'merge'?)");
	expect_usage({"member", "web"}, "(did you mean 'members'?)");
	EXPECT_EQ(did_you_mean("lst", {"list", "leave"}), "list");
	EXPECT_EQ(did_you_mean("xyzzy", {"list", "leave"}), "");
}

TEST(Cli, UsageErrorsLookLikeTheTool)
{
	// Prefixed, in plain words, with where to read more.
	expect_usage({"merge", "web", "1.5"},
	             "ksmpart-tool: merge: PID: '1.5' is not a process id");
	expect_usage({"merge", "web", "1.5"}, "Try 'ksmpart-tool merge --help'");
	expect_usage({"create"}, "ksmpart-tool: create: NAME is required");
	expect_usage({"stats", "db", "--format", "xml"}, "ksmpart-tool: stats: ");
	expect_usage({"merge", "db", "1", "--bogus"}, "unexpected argument '--bogus'");
}

TEST(Cli, HelpExitsZeroAndDocumentsLifetimeAndExitCodes)
{
	auto p = parse({"--help"});
	ASSERT_TRUE(p.r.exit_code);
	EXPECT_EQ(*p.r.exit_code, 0);
	for (const char *s : {"create", "merge", "unmerge", "leave", "stats", "list", "watch",
	                      "release", "member", "--hold", "Exit status", "partial"})
		EXPECT_NE(p.r.out.find(s), std::string::npos) << s;
}

TEST(Cli, EverySubcommandHasHelp)
{
	for (const char *sub : {"create", "open", "hold", "merge", "unmerge", "leave", "stats",
	                        "list", "members", "which", "watch", "release", "daemon"}) {
		auto p = parse({sub, "--help"});
		ASSERT_TRUE(p.r.exit_code) << sub;
		EXPECT_EQ(*p.r.exit_code, 0) << sub;
		EXPECT_NE(p.r.out.find("Usage"), std::string::npos) << sub;
	}
}

TEST(Cli, Version)
{
	auto p = parse({"--version"});
	ASSERT_TRUE(p.r.exit_code);
	EXPECT_EQ(*p.r.exit_code, 0);
	EXPECT_NE(p.r.out.find("ksmpart-tool "), std::string::npos) << p.r.out;
	// The second line answers "is this the ksmpart kernel?" either way.
	EXPECT_NE(p.r.out.find("\nkernel "), std::string::npos) << p.r.out;
	EXPECT_TRUE(p.r.out.find("ksmpart available") != std::string::npos ||
	            p.r.out.find("no ksmpart") != std::string::npos)
	    << p.r.out;
}

TEST(Cli, CreateDefaults)
{
	auto p = parse({"create", "db"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.cmd, Command::create);
	EXPECT_EQ(p.o.name, "db");
	EXPECT_EQ(p.o.mode, 0600u);
	EXPECT_FALSE(p.o.hold);
	EXPECT_FALSE(p.o.zero_pages);
	EXPECT_FALSE(p.o.excl);
}

TEST(Cli, CreateAllOptions)
{
	auto p = parse({"create", "a.b-c_d:e@f", "--mode", "0640", "--zero-pages", "--excl",
	                "--hold", "--pidfile", "/tmp/x.pid", "--json"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.name, "a.b-c_d:e@f");
	EXPECT_EQ(p.o.mode, 0640u);
	EXPECT_TRUE(p.o.zero_pages);
	EXPECT_TRUE(p.o.excl);
	EXPECT_TRUE(p.o.hold);
	EXPECT_EQ(p.o.pidfile, "/tmp/x.pid");
	EXPECT_TRUE(p.o.output.json);
}

TEST(Cli, CreateModeWithoutLeadingZero)
{
	auto p = parse({"create", "db", "--mode", "666"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.mode, 0666u);
}

TEST(Cli, CreateBadMode)
{
	expect_usage({"create", "db", "--mode", "0700"}, "0666");
	expect_usage({"create", "db", "--mode", "0689"}, "octal");
	expect_usage({"create", "db", "--mode", "rw"}, "octal");
}

TEST(Cli, CreateBadNames)
{
	expect_usage({"create", ".hidden"}, "must not start with '.'");
	expect_usage({"create", "a/b"}, "invalid character '/'");
	expect_usage({"create", "a b"}, "invalid character ' '");
	expect_usage({"create", ""}, "empty");
	expect_usage({"create", std::string(256, 'x').c_str()}, "at most 255");
	expect_usage({"create"}, "NAME");
}

TEST(Cli, CreateLongestName)
{
	std::string n(255, 'x');
	auto p = parse({"create", n.c_str()});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.name, n);
}

TEST(Cli, PidfileNeedsHold)
{
	expect_usage({"create", "db", "--pidfile", "/x"}, "--hold");
}

TEST(Cli, Open)
{
	auto p = parse({"open", "db", "--hold"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.cmd, Command::open);
	EXPECT_TRUE(p.o.hold);
	expect_usage({"open", "db", "--mode", "0600"}, "--mode");
}

TEST(Cli, MergePids)
{
	auto p = parse({"merge", "db", "12", "34", "56"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.cmd, Command::merge);
	EXPECT_EQ(p.o.pids, (std::vector<pid_t>{12, 34, 56}));
	EXPECT_TRUE(p.o.cgroups.empty());
	EXPECT_TRUE(p.o.ranges.empty());
	EXPECT_FALSE(p.o.create);
}

TEST(Cli, MergeCgroupsRangesRegions)
{
	auto p = parse({"merge", "db", "--cgroup", "/sys/fs/cgroup/a", "--cgroup", "b", "--range",
	                "7f0000000000-7f0000100000", "--range", "0x1000+8K", "--region", "[heap]",
	                "--region", "[anon:cache]"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_TRUE(p.o.pids.empty());
	EXPECT_EQ(p.o.cgroups, (std::vector<std::string>{"/sys/fs/cgroup/a", "b"}));
	ASSERT_EQ(p.o.ranges.size(), 2u);
	EXPECT_EQ(p.o.ranges[0].start, 0x7f0000000000u);
	EXPECT_EQ(p.o.ranges[0].end, 0x7f0000100000u);
	EXPECT_EQ(p.o.ranges[1].start, 0x1000u);
	EXPECT_EQ(p.o.ranges[1].end, 0x3000u);
	EXPECT_EQ(p.o.regions, (std::vector<std::string>{"[heap]", "[anon:cache]"}));
}

TEST(Cli, OneValuePerRepeatableOption)
{
	// "--cgroup a 5": 5 is a PID, not a second cgroup.
	auto p = parse({"merge", "db", "--cgroup", "a", "5", "--region", "[heap]", "6"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.cgroups, std::vector<std::string>{"a"});
	EXPECT_EQ(p.o.regions, std::vector<std::string>{"[heap]"});
	EXPECT_EQ(p.o.pids, (std::vector<pid_t>{5, 6}));
}

TEST(Cli, MergeCreate)
{
	auto p = parse({"merge", "db", "1", "--create", "--mode", "0660", "--zero-pages"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_TRUE(p.o.create);
	EXPECT_EQ(p.o.mode, 0660u);
	EXPECT_TRUE(p.o.zero_pages);
}

TEST(Cli, MergeCreationOptionsNeedCreate)
{
	expect_usage({"merge", "db", "1", "--mode", "0660"}, "--create");
	expect_usage({"merge", "db", "1", "--zero-pages"}, "--create");
	expect_usage({"watch", "db", "1", "--excl"}, "--create");
}

TEST(Cli, MergeErrors)
{
	expect_usage({"merge", "db"}, "no target");
	expect_usage({"merge", "db", "0"}, "not a process id");
	expect_usage({"merge", "db", "-5"}, "");
	expect_usage({"merge", "db", "abc"}, "not a process id");
	expect_usage({"merge", "db", "1", "--range", "1000"}, "START-END");
	expect_usage({"merge", "db", "1", "--range", "2000-1000"}, "empty range");
	expect_usage({"merge", "db", "1", "--range", "zz-1000"}, "start address");
	expect_usage({"merge", "db", "1", "--bogus"}, "--bogus");
	expect_usage({"merge", "bad/name", "1"}, "invalid character");
}

TEST(Cli, Unmerge)
{
	auto p = parse({"unmerge", "db", "7", "--region", "[heap]", "--json"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.cmd, Command::unmerge);
	EXPECT_EQ(p.o.pids, std::vector<pid_t>{7});
	EXPECT_TRUE(p.o.output.json);
	expect_usage({"unmerge", "db"}, "no target");
	expect_usage({"unmerge", "db", "1", "--create"}, "--create");
}

TEST(Cli, Leave)
{
	auto p = parse({"leave", "db", "--cgroup", "/x"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.cmd, Command::leave);
	EXPECT_EQ(p.o.cgroups, std::vector<std::string>{"/x"});
	expect_usage({"leave", "db"}, "no target");
	expect_usage({"leave", "db", "1", "--range", "1000-2000"}, "");
}

TEST(Cli, StatsAndList)
{
	auto p = parse({"stats", "db", "--json"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.cmd, Command::stats);
	EXPECT_TRUE(p.o.output.json);
	expect_usage({"stats"}, "NAME");

	auto l = parse({"list"});
	ASSERT_FALSE(l.r.exit_code) << l.r.err;
	EXPECT_EQ(l.o.cmd, Command::list);
	EXPECT_FALSE(l.o.output.json);
	EXPECT_EQ(l.o.table_path, "/proc/ksm_partitions");
	expect_usage({"list", "extra"}, "extra");

	auto u = parse({"list", "-o", "+PIDS", "-n", "-r", "-b", "-J"});
	ASSERT_FALSE(u.r.exit_code) << u.r.err;
	EXPECT_EQ(u.o.output.columns, "+PIDS");
	EXPECT_TRUE(u.o.output.noheadings && u.o.output.raw && u.o.output.bytes && u.o.output.json);

	auto i =
	    parse({"stats", "db", "--interval", "2", "--count", "3", "--format", "prometheus"});
	ASSERT_FALSE(i.r.exit_code) << i.r.err;
	EXPECT_TRUE(i.o.interval_given);
	EXPECT_EQ(i.o.count, 3u);
	EXPECT_EQ(i.o.format, "prometheus");
	expect_usage({"stats", "db", "--count", "3"}, "--count needs --interval");
}

TEST(Cli, MembersWhichLeaveAllHoldUnit)
{
	auto m = parse({"members", "db"});
	ASSERT_FALSE(m.r.exit_code) << m.r.err;
	EXPECT_EQ(m.o.cmd, Command::members);
	auto byid = parse({"members", "--id", "18446744073709551557"});
	ASSERT_FALSE(byid.r.exit_code) << byid.r.err;
	EXPECT_EQ(byid.o.id, 18446744073709551557ull);
	expect_usage({"members"}, "NAME or --id");
	expect_usage({"members", "db", "--id", "5"}, "not both");

	auto w = parse({"which", "1", "2"});
	ASSERT_FALSE(w.r.exit_code) << w.r.err;
	EXPECT_EQ(w.o.pids, (std::vector<pid_t>{1, 2}));
	expect_usage({"which"}, "PID is required");

	auto all = parse({"leave", "db", "--all"});
	ASSERT_FALSE(all.r.exit_code) << all.r.err;
	EXPECT_TRUE(all.o.all);
	expect_usage({"leave", "db", "--all", "5"}, "exclude");
	expect_usage({"merge", "db", "--all"}, "--all");

	auto h = parse({"hold", "db", "--create", "--mode", "0640"});
	ASSERT_FALSE(h.r.exit_code) << h.r.err;
	EXPECT_EQ(h.o.cmd, Command::hold);
	EXPECT_TRUE(h.o.create);
	EXPECT_EQ(h.o.mode, 0640u);
	expect_usage({"hold", "db", "--mode", "0640"}, "--create");

	auto u = parse({"merge", "db", "--unit", "web.service", "--unit", "batch.slice"});
	ASSERT_FALSE(u.r.exit_code) << u.r.err;
	EXPECT_EQ(u.o.units, (std::vector<std::string>{"web.service", "batch.slice"}));

	auto t = parse({"merge", "db", "5", "--target", "42"});
	ASSERT_FALSE(t.r.exit_code) << t.r.err;
	EXPECT_EQ(t.o.ipc_ns, "/proc/42/ns/ipc");
	auto n = parse({"stats", "db", "--ipc-ns", "/run/netns/x"});
	ASSERT_FALSE(n.r.exit_code) << n.r.err;
	EXPECT_EQ(n.o.ipc_ns, "/run/netns/x");
	expect_usage({"stats", "db", "--ipc-ns", "/x", "--target", "1"}, "excludes");

	auto d = parse({"daemon"});
	ASSERT_FALSE(d.r.exit_code) << d.r.err;
	EXPECT_EQ(d.o.daemon_what, "status");
	expect_usage({"daemon", "frob"}, "daemon: ");
}

TEST(Cli, Watch)
{
	auto p = parse({"watch", "db", "--cgroup", "/c", "--interval", "0.5", "--json"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.cmd, Command::watch);
	EXPECT_DOUBLE_EQ(p.o.interval, 0.5);
	EXPECT_EQ(p.o.count, 0u);

	auto once = parse({"watch", "db", "--cgroup", "/c", "--once"});
	ASSERT_FALSE(once.r.exit_code) << once.r.err;
	EXPECT_EQ(once.o.count, 1u);

	auto count = parse({"watch", "db", "5", "--count", "3", "--create"});
	ASSERT_FALSE(count.r.exit_code) << count.r.err;
	EXPECT_EQ(count.o.count, 3u);
	EXPECT_TRUE(count.o.create);

	expect_usage({"watch", "db"}, "no target");
	expect_usage({"watch", "db", "1", "--interval", "0"}, "positive");
	auto v = parse({"-V"});
	ASSERT_TRUE(v.r.exit_code);
	EXPECT_EQ(*v.r.exit_code, 0);
	EXPECT_NE(v.r.out.find("ksmpart-tool 0.1.0"), std::string::npos) << v.r.out;
	expect_usage({"watch", "db", "1", "--interval", "-1"}, "");
	expect_usage({"watch", "db", "1", "--once", "--count", "2"}, "contradict");
}

TEST(Cli, Release)
{
	auto p = parse({"release", "db", "--pidfile", "/tmp/db.pid"});
	ASSERT_FALSE(p.r.exit_code) << p.r.err;
	EXPECT_EQ(p.o.cmd, Command::release);
	EXPECT_EQ(p.o.pidfile, "/tmp/db.pid");
	expect_usage({"release"}, "NAME");
}

TEST(Names, MatchAbiCharset)
{
	EXPECT_EQ(check_partition_name("Az09._-:@"), "");
	EXPECT_EQ(check_partition_name("a.."), "");
	EXPECT_NE(check_partition_name("."), "");
	EXPECT_NE(check_partition_name(".."), "");
	EXPECT_NE(check_partition_name("caf\xc3\xa9"), "");
	EXPECT_NE(check_partition_name("a\nb"), "");
}

TEST(Modes, Parse)
{
	EXPECT_EQ(parse_mode("0"), 0u);
	EXPECT_EQ(parse_mode("0600"), 0600u);
	EXPECT_EQ(parse_mode("644"), 0644u);
	EXPECT_FALSE(parse_mode("0601"));
	EXPECT_FALSE(parse_mode("1600"));
	EXPECT_FALSE(parse_mode(""));
	EXPECT_FALSE(parse_mode("00600"));
	EXPECT_FALSE(parse_mode("8"));
}
