// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpartd's policy file: what it accepts, what it rejects and how it says
// so (FILE:LINE:COL), and which rule places a process.
#include "config.hpp"

#include <gtest/gtest.h>

#include <fstream>

using namespace ksmpartd;

namespace {

std::string reject(const std::string &text)
{
	std::string error;
	auto c = parse_config(text, "p.toml", error);
	EXPECT_FALSE(c) << text;
	return error;
}

const char *const full = R"(
[daemon]
interval = 5
scan = 0.5
cpu_budget = 0.25
psi_threshold = 20
metrics_listen = "127.0.0.1:9477"
textfile = "/var/lib/prometheus/node-exporter/ksmpart.prom"
log_level = "debug"

[oci]
create = true
mode = "0640"

[[partition]]
name = "web"
mode = "0660"
merge = ["join", "pressure"]

[[partition]]
name = "vms"
zero_pages = true
regions = ["[heap]", "[anon:guest]"]

[[rule]]
cgroup = "/system.slice/web@*.service"
partition = "web"

[[rule]]
slice = "machine.slice"
partition = "vms"

[[rule]]
unit = "batch"
partition = "web"

[[rule]]
annotation = "frontend"
partition = "web"
)";

} // namespace

TEST(Config, EverythingParses)
{
	std::string error;
	auto c = parse_config(full, "p.toml", error);
	ASSERT_TRUE(c) << error;
	EXPECT_EQ(c->interval, 5);
	EXPECT_EQ(c->scan, 0.5);
	EXPECT_EQ(c->cpu_budget, 0.25);
	EXPECT_EQ(c->psi_threshold, 20);
	EXPECT_EQ(c->metrics_listen, "127.0.0.1:9477");
	EXPECT_EQ(c->log_level, "debug");
	EXPECT_TRUE(c->oci_create);
	EXPECT_EQ(c->oci_mode, 0640u);
	ASSERT_EQ(c->partitions.size(), 2u);
	const auto &web = c->partitions[0];
	EXPECT_EQ(web.mode, 0660u);
	EXPECT_TRUE(web.merge.on_join);
	EXPECT_FALSE(web.merge.interval);
	EXPECT_TRUE(web.merge.pressure);
	const auto &vms = c->partitions[1];
	EXPECT_TRUE(vms.zero_pages);
	EXPECT_EQ(vms.mode, 0600u);                                                  // default
	EXPECT_TRUE(vms.merge.on_join && vms.merge.interval && !vms.merge.pressure); // default
	EXPECT_EQ(vms.regions, (std::vector<std::string>{"[heap]", "[anon:guest]"}));
	ASSERT_EQ(c->rules.size(), 4u);
	EXPECT_EQ(c->rules[0].describe(), "cgroup = \"/system.slice/web@*.service\"");
}

TEST(Config, EmptyFileIsAValidEmptyPolicy)
{
	std::string error;
	auto c = parse_config("", "p.toml", error);
	ASSERT_TRUE(c) << error;
	EXPECT_EQ(c->interval, 30);
	EXPECT_TRUE(c->partitions.empty());
}

TEST(Config, RejectionsNameTheLineAndTheProblem)
{
	EXPECT_EQ(reject("[daemon]\ninterval = \"x\"\n"), "p.toml:2:12: interval must be a number");
	EXPECT_EQ(reject("[daemon]\ninterval = -1\n"),
	          "p.toml:2:12: interval must be between 0 and 86400");
	EXPECT_EQ(reject("[daemon]\nintervall = 5\n"),
	          "p.toml:2:13: unknown key 'intervall' in [daemon] (known: interval, scan, "
	          "cpu_budget, psi_threshold, psi_poll, metrics_listen, textfile, socket, "
	          "log_level)");
	EXPECT_EQ(reject("[daemon]\nlog_level = \"loud\"\n"),
	          "p.toml:2:13: log_level must be one of debug, info, notice, warning, err");
	EXPECT_EQ(reject("[daemon]\nmetrics_listen = \"9477\"\n"),
	          "p.toml:2:18: metrics_listen must be ADDRESS:PORT");
	EXPECT_NE(reject("[[partition]]\nname = \"a/b\"\n").find("invalid character '/'"),
	          std::string::npos);
	EXPECT_NE(reject("[[partition]]\nname = \"web\"\nmode = \"0700\"\n")
	              .find("\"0700\" is not octal permission bits within 0666"),
	          std::string::npos);
	EXPECT_NE(reject("[[partition]]\nname = \"web\"\nmerge = [\"sometimes\"]\n")
	              .find("merge: unknown trigger"),
	          std::string::npos);
	EXPECT_NE(reject("[[partition]]\nname = \"a\"\n[[partition]]\nname = \"a\"\n")
	              .find("declared twice"),
	          std::string::npos);
	EXPECT_EQ(reject("[[rule]]\ncgroup = \"/a\"\npartition = \"nope\"\n"),
	          "p.toml:1:1: rule cgroup = \"/a\": partition \"nope\" is not declared by a "
	          "[[partition]]");
	EXPECT_NE(reject("[[partition]]\nname = \"w\"\n[[rule]]\ncgroup = \"a/b\"\npartition = "
	                 "\"w\"\n")
	              .find("starting with '/'"),
	          std::string::npos);
	EXPECT_NE(reject("[[partition]]\nname = \"w\"\n[[rule]]\ncgroup = \"/a\"\nunit = \"b\"\n"
	                 "partition = \"w\"\n")
	              .find("exactly one of"),
	          std::string::npos);
	// TOML syntax errors come from toml++, with the position.
	EXPECT_EQ(reject("[daemon\n").rfind("p.toml:1:", 0), 0u);
}

TEST(Config, LoadReportsUnreadableFiles)
{
	std::string error;
	EXPECT_FALSE(load_config("/nonexistent/ksmpartd.toml", error));
	EXPECT_EQ(error, "/nonexistent/ksmpartd.toml: cannot be read: No such file or directory");
}

TEST(Rules, FirstMatchWinsAcrossKinds)
{
	std::string error;
	auto c = parse_config(full, "p.toml", error).value();
	std::map<std::string, std::string> oci = {{"/machine.slice/libpod-abc.scope", "frontend"},
	                                          {"/machine.slice/libpod-def.scope", "adhoc"}};
	std::string p;
	EXPECT_EQ(match_rules(c, oci, "/system.slice/web@1.service", p), 0);
	EXPECT_EQ(p, "web");
	// Processes in sub-cgroups belong to the unit too.
	EXPECT_EQ(match_rules(c, oci, "/system.slice/web@1.service/worker", p), 0);
	EXPECT_EQ(match_rules(c, oci, "/machine.slice/qemu-1.scope", p), 1);
	EXPECT_EQ(p, "vms");
	// unit without a suffix means NAME.service, anywhere in the path.
	EXPECT_EQ(match_rules(c, oci, "/user.slice/user-1000.slice/batch.service", p), 2);
	EXPECT_EQ(match_rules(c, oci, "/system.slice/batch.socket", p), -1);
	// The slice rule comes first for containers in machine.slice.
	EXPECT_EQ(match_rules(c, oci, "/machine.slice/libpod-abc.scope/container", p), 1);
	c.rules.erase(c.rules.begin() + 1);
	EXPECT_EQ(match_rules(c, oci, "/machine.slice/libpod-abc.scope/container", p), 2);
	EXPECT_EQ(p, "web");
	// An annotation no rule names: created ad hoc only with [oci] create.
	EXPECT_EQ(match_rules(c, oci, "/machine.slice/libpod-def.scope", p), -2);
	EXPECT_EQ(p, "adhoc");
	c.oci_create = false;
	EXPECT_EQ(match_rules(c, oci, "/machine.slice/libpod-def.scope", p), -1);
	// Prefixes match whole components only.
	EXPECT_EQ(match_rules(c, oci, "/machine.slice/libpod-abc.scope2", p), -1);
}

TEST(Rules, Glob)
{
	EXPECT_TRUE(glob_match("/a/*", "/a/b/c"));
	EXPECT_TRUE(glob_match("/kubepods.slice/*pod1234*", "/kubepods.slice/x-pod1234.slice"));
	EXPECT_FALSE(glob_match("/a/?", "/a/bc"));
	EXPECT_TRUE(glob_match("/a/[bc]", "/a/c"));
}

TEST(Config, TheShippedExampleIsValid)
{
	std::string error;
	auto c = load_config(KSMPARTD_EXAMPLE, error);
	ASSERT_TRUE(c) << error;
	EXPECT_FALSE(c->rules.empty());
}
