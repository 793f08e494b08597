// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpartd against the real kernel, started exactly as its unit starts it
// (ExecStart, Type=notify through $NOTIFY_SOCKET, the unit's capability
// bounding set) since systemd is not PID 1 in the test VM. Tenants with
// known pages live in cgroups; effects are checked through pagemap PFNs
// and /proc/PID/ksm_stat, the metrics with promtool.
#include "vm_proc.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace vmp;
using json = nlohmann::json;

namespace {

constexpr std::size_t npages = 64;

/// ksmpart-tool daemon WHAT -J against the test's socket.
json ask(const std::string &socket, const std::string &what)
{
	std::string out;
	if (sh(std::string(KSMPART_TOOL) + " daemon " + what + " -J --socket " + socket, &out) != 0)
		return json{{"tool_failed", out}};
	return json::parse(out, nullptr, false);
}

/// The partition called `name` in a status document; null if absent.
json partition(const json &status, const std::string &name)
{
	if (!status.is_object() || !status.contains("partitions"))
		return nullptr;
	for (const auto &p : status["partitions"])
		if (p.value("name", "") == name)
			return p;
	return nullptr;
}

std::string policy(const std::string &dir, const Cgroup &cg, const std::string &extra = "")
{
	return "[daemon]\ninterval = 1\nscan = 0.3\ncpu_budget = 5\nsocket = \"" + dir +
	       "/control.sock\"\ntextfile = \"" + dir +
	       "/ksmpart.prom\"\nlog_level = \"debug\"\n"
	       "[[partition]]\nname = \"vmd-web\"\nmode = \"0600\"\n"
	       "[[partition]]\nname = \"vmd-db\"\nzero_pages = true\n"
	       "[[rule]]\ncgroup = \"" +
	       cg.rel("web") + "\"\npartition = \"vmd-web\"\n[[rule]]\ncgroup = \"" +
	       cg.rel("db*") + "\"\npartition = \"vmd-db\"\n" + extra;
}

bool promtool_ok(const std::string &file, std::string &out)
{
	return sh("promtool check metrics < " + file, &out) == 0;
}

} // namespace

TEST(Ksmpartd, AppliesReloadsAndRestartsWithoutLosingMembers)
{
	ASSERT_EQ(geteuid(), 0u);
	Cgroup cg("ksmpartd-vmtest");
	if (!cg.usable())
		GTEST_SKIP() << "no cgroup v2 at /sys/fs/cgroup";
	const std::string dir = "/tmp/ksmpartd-vmtest";
	fs::remove_all(dir);
	Daemon d(KSMPARTD, dir);
	d.write_config(policy(dir, cg));

	// Tenants before the daemon starts: web1 and web2 hold the same pages,
	// db1 the same ones too (another partition: must not share with web),
	// "other" matches no rule and must be left alone.
	auto web1 = std::make_unique<Tenant>(npages, 1, cg.sub("web"));
	Tenant web2(npages, 1, cg.sub("web"));
	Tenant db1(npages, 1, cg.sub("db1"));
	Tenant other(npages, 1, cg.sub("other"));

	d.start();
	ASSERT_TRUE(d.notified("READY=1")) << d.log();
	const std::string sock = dir + "/control.sock";

	// Placed and merged: PFNs equal within vmd-web, none shared with db1.
	ASSERT_TRUE(eventually([&] { return all_shared(*web1, web2); })) << d.log();
	EXPECT_TRUE(none_shared(*web1, db1));
	EXPECT_TRUE(none_shared(other, *web1));
	EXPECT_EQ(other.partition(), "0") << "a process no rule matches is left alone";
	EXPECT_NE(db1.partition(), "0");
	EXPECT_NE(db1.partition(), web1->partition());

	auto st = ask(sock, "status");
	ASSERT_FALSE(st.is_discarded()) << st;
	auto web = partition(st, "vmd-web");
	ASSERT_FALSE(web.is_null()) << st;
	EXPECT_EQ(web["created"], true);
	EXPECT_EQ(web["members"], 2);
	EXPECT_EQ(std::to_string(web["id"].get<std::uint64_t>()), web1->partition());
	// Ground truth: the kernel's counters of the partition (the tenants'
	// buffers and whatever else of their memory is identical).
	std::string stats;
	ASSERT_EQ(sh(std::string(KSMPART_TOOL) + " stats vmd-web -J", &stats), 0) << stats;
	auto sj = json::parse(stats);
	EXPECT_EQ(web["saved_bytes"], (sj["pages_sharing"].get<std::uint64_t>() +
	                               sj["ksm_zero_pages"].get<std::uint64_t>()) *
	                                  page());
	EXPECT_GE(web["saved_bytes"], npages * page());
	auto rules = ask(sock, "rules");
	ASSERT_EQ(rules["rules"].size(), 2u) << rules;
	EXPECT_EQ(rules["rules"][0]["pids"].size(), 2u) << rules;
	EXPECT_EQ(rules["rules"][1]["pids"], json::array({db1.pid()})) << rules;
	std::string human;
	EXPECT_EQ(sh(std::string(KSMPART_TOOL) + " daemon rules --socket " + sock, &human), 0)
	    << human;
	EXPECT_NE(human.find("-> 'vmd-web'"), std::string::npos) << human;

	// Metrics: the textfile passes promtool and says what the kernel says.
	std::string prom = dir + "/ksmpart.prom", out;
	ASSERT_TRUE(eventually([&] { return fs::exists(prom); }));
	// (promtool runs once, after the reloads below: it is slow under TCG.)
	auto text = slurp(prom);
	EXPECT_NE(text.find("ksmpart_saved_bytes{partition=\"" + web1->partition() +
	                    "\",name=\"vmd-web\"} " +
	                    std::to_string(web["saved_bytes"].get<std::uint64_t>()) + "\n"),
	          std::string::npos)
	    << text;
	EXPECT_NE(text.find("ksmpart_calls_total{partition=\"" + web1->partition() +
	                    "\",name=\"vmd-web\",kind=\"merge\"}"),
	          std::string::npos)
	    << text;
	EXPECT_NE(text.find("ksmpartd_rounds_total{trigger=\"interval\"}"), std::string::npos);
	EXPECT_NE(d.log().find("<6>placed pid " + std::to_string(web2.pid())), std::string::npos)
	    << d.log(); // journal priority prefix: info

	// Churn: a tenant exits, a new one comes; the daemon keeps going.
	EXPECT_TRUE(web1->finish());
	web1.reset();
	Tenant web3(npages, 1, cg.sub("web"));
	ASSERT_TRUE(eventually([&] { return all_shared(web2, web3); })) << d.log();
	EXPECT_TRUE(d.alive());

	// Reload with a new rule: SIGHUP, RELOADING then READY, and it applies.
	d.write_config(policy(
	    dir, cg, "[[rule]]\ncgroup = \"" + cg.rel("late") + "\"\npartition = \"vmd-web\"\n"));
	d.signal(SIGHUP);
	ASSERT_TRUE(d.notified("RELOADING=1")) << d.log();
	ASSERT_TRUE(d.notified("READY=1")) << d.log();
	Tenant late(npages, 1, cg.sub("late"));
	ASSERT_TRUE(eventually([&] { return all_shared(web2, late); })) << d.log();

	// A bad policy is rejected with a clear message; the running one stays.
	d.write_config("[daemon]\ninterval = \"soon\"\n");
	d.signal(SIGHUP);
	ASSERT_TRUE(eventually([&] {
		return d.log().find(
		           "<3>reload rejected, keeping the running configuration: " + d.config() +
		           ":2:12: interval must be a number") != std::string::npos;
	})) << d.log();
	Tenant web4(npages, 1, cg.sub("web"));
	ASSERT_TRUE(eventually([&] { return all_shared(web2, web4); })) << d.log();
	EXPECT_TRUE(d.alive());
	EXPECT_TRUE(promtool_ok(prom, out)) << out;
	EXPECT_NE(slurp(prom).find("ksmpartd_config_reloads_total{result=\"rejected\"} 1"),
	          std::string::npos);

	// Restart: members keep the partitions; the new daemon re-adopts them,
	// with the same ids, joins nobody again, and sharing is intact.
	const std::string web_id = web2.partition();
	EXPECT_EQ(d.stop(), 0) << d.log();
	EXPECT_EQ(web2.partition(), web_id);
	EXPECT_TRUE(all_shared(web2, web3));
	d.write_config(policy(
	    dir, cg, "[[rule]]\ncgroup = \"" + cg.rel("late") + "\"\npartition = \"vmd-web\"\n"));
	d.start();
	ASSERT_TRUE(d.notified("READY=1")) << d.log();
	st = ask(sock, "status");
	web = partition(st, "vmd-web");
	ASSERT_FALSE(web.is_null()) << st;
	EXPECT_EQ(web["created"], false) << "re-adopted, not created";
	EXPECT_EQ(std::to_string(web["id"].get<std::uint64_t>()), web_id);
	EXPECT_EQ(web["members"], 4); // web2, web3, late, web4
	EXPECT_EQ(web["joined_by_daemon"], 0);
	EXPECT_NE(d.log().find("re-adopted partition 'vmd-web' (id " + web_id + ", 4 members)"),
	          std::string::npos)
	    << d.log();
	EXPECT_TRUE(all_shared(web2, late));
	EXPECT_TRUE(none_shared(web2, db1));
	EXPECT_EQ(d.stop(), 0);
	for (Tenant *t : {&web2, &web3, &late, &web4, &db1, &other})
		EXPECT_TRUE(t->finish()) << "content changed";
	fs::remove_all(dir);
}

namespace {

/// A daemon whose one partition merges only in rounds (no join trigger).
std::string rounds_policy(const std::string &dir, const Cgroup &cg, const std::string &daemon,
                          const std::string &triggers)
{
	return "[daemon]\nscan = 0.3\nsocket = \"" + dir + "/control.sock\"\ntextfile = \"" + dir +
	       "/ksmpart.prom\"\n" + daemon + "[[partition]]\nname = \"vmd-rounds\"\nmerge = [" +
	       triggers + "]\n[[rule]]\ncgroup = \"" + cg.rel("t") +
	       "\"\npartition = \"vmd-rounds\"\n";
}

double metric(const std::string &prom, const std::string &name)
{
	auto t = slurp(prom);
	auto pos = t.find("\n" + name + " ");
	return pos == std::string::npos ? -1.0 : std::atof(t.c_str() + pos + name.size() + 2);
}

} // namespace

TEST(Ksmpartd, CpuBudgetBoundsEachRound)
{
	Cgroup cg("ksmpartd-vmtest2");
	if (!cg.usable())
		GTEST_SKIP() << "no cgroup v2 at /sys/fs/cgroup";
	const std::string dir = "/tmp/ksmpartd-vmtest2";
	fs::remove_all(dir);
	Daemon d(KSMPARTD, dir);
	// 1 ms of CPU per round cannot merge 4 processes of 64 pages at once;
	// rounds resume where the last one stopped, so all get merged.
	d.write_config(
	    rounds_policy(dir, cg, "interval = 0.5\ncpu_budget = 0.001\n", "\"interval\""));
	std::vector<std::unique_ptr<Tenant>> ts;
	for (int i = 0; i < 4; i++)
		ts.push_back(std::make_unique<Tenant>(npages, 2, cg.sub("t")));
	d.start();
	ASSERT_TRUE(d.notified("READY=1")) << d.log();
	const std::string prom = dir + "/ksmpart.prom";
	ASSERT_TRUE(
	    eventually([&] { return metric(prom, "ksmpartd_budget_exhausted_total") > 0; }, 60))
	    << slurp(prom) << d.log();
	EXPECT_NE(d.log().find("CPU budget of"), std::string::npos);
	ASSERT_TRUE(eventually([&] { return all_shared(*ts[0], *ts[3]); }, 90)) << d.log();
	std::string out;
	EXPECT_TRUE(promtool_ok(prom, out)) << out;
	EXPECT_EQ(d.stop(), 0);
	for (auto &t : ts)
		EXPECT_TRUE(t->finish());
}

TEST(Ksmpartd, MemoryPressureTriggersRounds)
{
	if (!fs::exists("/proc/pressure/memory"))
		GTEST_SKIP() << "kernel without CONFIG_PSI (/proc/pressure/memory)";
	Cgroup cg("ksmpartd-vmtest4");
	const std::string dir = "/tmp/ksmpartd-vmtest4";
	fs::remove_all(dir);
	Daemon d(KSMPARTD, dir);
	// No interval rounds; threshold 0: every poll finds "pressure".
	d.write_config(rounds_policy(dir, cg, "interval = 0\npsi_threshold = 0\npsi_poll = 0.5\n",
	                             "\"pressure\""));
	Tenant a(npages, 3, cg.sub("t")), b(npages, 3, cg.sub("t"));
	d.start();
	ASSERT_TRUE(d.notified("READY=1")) << d.log();
	const std::string prom = dir + "/ksmpart.prom";
	ASSERT_TRUE(eventually([&] { return all_shared(a, b); }, 60)) << d.log();
	EXPECT_GT(metric(prom, "ksmpartd_rounds_total{trigger=\"pressure\"}"), 0) << slurp(prom);
	EXPECT_EQ(metric(prom, "ksmpartd_rounds_total{trigger=\"interval\"}"), 0) << slurp(prom);
	EXPECT_NE(d.log().find("memory pressure some avg10="), std::string::npos) << d.log();
	EXPECT_EQ(d.stop(), 0);
	EXPECT_TRUE(a.finish());
	EXPECT_TRUE(b.finish());
}

TEST(Ksmpartd, MetricsOverHttp)
{
	// The HTTP endpoint needs IPv4 loopback in the guest kernel.
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0)
		GTEST_SKIP() << "kernel without CONFIG_INET: the endpoint is covered by the "
		                "textfile tests, which print the same text";
	close(s);
	sh("ip link set lo up || busybox ip link set lo up");
	Cgroup cg("ksmpartd-vmtest3");
	const std::string dir = "/tmp/ksmpartd-vmtest3";
	fs::remove_all(dir);
	Daemon d(KSMPARTD, dir);
	d.write_config("[daemon]\nmetrics_listen = \"127.0.0.1:19477\"\nsocket = \"" + dir +
	               "/control.sock\"\n[[partition]]\nname = \"vmd-http\"\n");
	d.start();
	ASSERT_TRUE(d.notified("READY=1")) << d.log();
	std::string out;
	ASSERT_EQ(sh("busybox wget -q -O " + dir + "/m http://127.0.0.1:19477/metrics", &out), 0)
	    << out << d.log();
	EXPECT_TRUE(promtool_ok(dir + "/m", out)) << out;
	EXPECT_NE(slurp(dir + "/m").find("ksmpart_members{"), std::string::npos);
	EXPECT_EQ(d.stop(), 0);
}
