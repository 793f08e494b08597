// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpart-oci-hook end to end with a real OCI runtime (crun, from Debian):
// containers started from bundles built here (the rootfs holds one static
// program, no registry), the hook in their poststart hooks.
//  - with ksmpartd: two containers annotated org.ksmpart.partition=team-a
//    share pages (pagemap PFNs), one annotated team-b shares none with them,
//    one without the annotation is left alone (ksm_partition 0);
//  - without ksmpartd: the hook creates the partition and places the
//    containers in it by itself.
#include "vm_proc.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace vmp;
using json = nlohmann::json;

namespace {

constexpr std::size_t npages = 64;
const char *const crun = "/usr/bin/crun";
const std::string state_root = "/run/ksmpart-oci-vmtest";

/// One container: a bundle with the tenant, started detached.
class Container {
public:
	Container(const std::string &dir, const std::string &id, const std::string &annotation,
	          const std::vector<std::string> &hook_args, unsigned seed = 1)
	    : id_(id), bundle_(dir + "/" + id)
	{
		fs::create_directories(bundle_ + "/rootfs/proc");
		fs::create_directories(bundle_ + "/rootfs/dev");
		fs::copy_file(OCI_TENANT, bundle_ + "/rootfs/tenant",
		              fs::copy_options::overwrite_existing);
		json hook = {{"path", OCI_HOOK}, {"args", hook_args}};
		json cfg = {{"ociVersion", "1.0.2"},
		            {"process",
		             {{"terminal", false},
		              {"user", {{"uid", 0}, {"gid", 0}}},
		              {"args", {"/tenant", std::to_string(npages), std::to_string(seed)}},
		              {"env", {"PATH=/"}},
		              {"cwd", "/"},
		              {"noNewPrivileges", true}}},
		            {"root", {{"path", "rootfs"}, {"readonly", true}}},
		            {"hostname", id},
		            {"mounts", json::array({{{"destination", "/proc"},
		                                     {"type", "proc"},
		                                     {"source", "proc"}}})},
		            {"hooks", {{"poststart", json::array({hook})}}},
		            {"linux",
		             {{"namespaces", json::array({{{"type", "pid"}},
		                                          {{"type", "mount"}},
		                                          {{"type", "ipc"}},
		                                          {{"type", "uts"}}})},
		              {"cgroupsPath", "/ksmpart-oci-vmtest/" + id}}}};
		if (!annotation.empty())
			cfg["annotations"] = {{"org.ksmpart.partition", annotation}};
		std::ofstream(bundle_ + "/config.json") << cfg.dump(2);
	}
	~Container()
	{
		std::string out;
		sh(std::string(crun) + " --root " + state_root + " delete -f " + id_, &out);
	}
	/// crun run -d; then waits for the tenant's "ready ADDRESS".
	bool start(std::string &log)
	{
		std::string cmd = std::string(crun) + " --root " + state_root +
		                  " run -d --bundle " + bundle_ + " " + id_ + " >" + bundle_ +
		                  "/out 2>&1";
		int rc = system(cmd.c_str());
		log = slurp(bundle_ + "/out");
		if (rc != 0)
			return false;
		if (!eventually([&] {
			    return slurp(bundle_ + "/out").find("ready ") != std::string::npos;
		    }))
			return false;
		log = slurp(bundle_ + "/out");
		auto pos = log.find("ready ");
		addr_ = std::stoull(log.substr(pos + 6), nullptr, 16);
		std::string st;
		sh(std::string(crun) + " --root " + state_root + " state " + id_, &st);
		auto j = json::parse(st, nullptr, false);
		pid_ = j.is_discarded() ? 0 : j.value("pid", 0);
		return pid_ > 0;
	}
	pid_t pid() const { return pid_; }
	std::uintptr_t addr(std::size_t i) const { return addr_ + i * page(); }
	std::string partition() const { return ksm_stat(pid_, "ksm_partition"); }
	std::string out() const { return slurp(bundle_ + "/out"); }

private:
	std::string id_, bundle_;
	pid_t pid_ = 0;
	std::uintptr_t addr_ = 0;
};

bool shared(const Container &a, const Container &b)
{
	for (std::size_t i = 0; i < npages; i++) {
		auto p = pfn(a.pid(), a.addr(i));
		if (!p || p != pfn(b.pid(), b.addr(i)))
			return false;
	}
	return true;
}

bool disjoint(const Container &a, const Container &b)
{
	for (std::size_t i = 0; i < npages; i++)
		for (std::size_t j = 0; j < npages; j++) {
			auto p = pfn(a.pid(), a.addr(i));
			if (p && p == pfn(b.pid(), b.addr(j)))
				return false;
		}
	return true;
}

class Oci : public ::testing::Test {
protected:
	std::string dir;
	void SetUp() override
	{
		if (access(crun, X_OK) != 0)
			GTEST_SKIP()
			    << "no " << crun << " (Debian package crun; scripts/deps.sh user)";
		ASSERT_EQ(geteuid(), 0u);
		Cgroup probe("ksmpart-oci-vmtest");
		if (!probe.usable())
			GTEST_SKIP() << "no cgroup v2 at /sys/fs/cgroup";
		dir = "/tmp/ksmpart-oci-vmtest-" +
		      std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
		fs::remove_all(dir);
		fs::create_directories(dir);
		fs::create_directories(state_root);
	}
};

} // namespace

TEST_F(Oci, ContainersByAnnotationThroughKsmpartd)
{
	Daemon d(KSMPARTD, dir + "/daemon");
	const std::string sock = dir + "/daemon/control.sock";
	d.write_config(
	    "[daemon]\ninterval = 1\nscan = 0.3\nsocket = \"" + sock +
	    "\"\nlog_level = \"debug\"\n"
	    "[[partition]]\nname = \"oci-team-a\"\n[[partition]]\nname = \"oci-team-b\"\n"
	    "[[rule]]\nannotation = \"team-a\"\npartition = \"oci-team-a\"\n"
	    "[[rule]]\nannotation = \"team-b\"\npartition = \"oci-team-b\"\n");
	d.start();
	ASSERT_TRUE(d.notified("READY=1")) << d.log();
	std::vector<std::string> hook = {"ksmpart-oci-hook", "--stage", "poststart", "--socket",
	                                 sock};
	Container a1(dir, "a1", "team-a", hook), a2(dir, "a2", "team-a", hook),
	    b1(dir, "b1", "team-b", hook), n1(dir, "n1", "", hook);
	std::string log;
	for (Container *c : {&a1, &a2, &b1, &n1})
		ASSERT_TRUE(c->start(log)) << log << d.log();

	// The daemon placed them by annotation and merged them at its interval.
	ASSERT_TRUE(eventually([&] { return shared(a1, a2); }, 60)) << d.log();
	EXPECT_NE(a1.partition(), "0");
	EXPECT_EQ(a1.partition(), a2.partition());
	EXPECT_NE(b1.partition(), "0");
	EXPECT_NE(b1.partition(), a1.partition());
	// Same content, other partition: not one frame in common.
	EXPECT_TRUE(disjoint(a1, b1));
	// No annotation: left alone.
	EXPECT_EQ(n1.partition(), "0");
	EXPECT_TRUE(disjoint(n1, a1));
	std::string rules;
	EXPECT_EQ(sh(std::string(KSMPART_TOOL) + " daemon rules -J --socket " + sock, &rules), 0);
	auto j = json::parse(rules, nullptr, false);
	ASSERT_FALSE(j.is_discarded()) << rules;
	EXPECT_EQ(j["oci"].size(), 3u) << rules; // a1, a2, b1 registered by the hook

	// A restart keeps what the hook told the daemon (new processes of those
	// containers are still placed); a container that is gone is forgotten.
	EXPECT_EQ(d.stop(), 0);
	d.start();
	ASSERT_TRUE(d.notified("READY=1")) << d.log();
	rules.clear();
	EXPECT_EQ(sh(std::string(KSMPART_TOOL) + " daemon rules -J --socket " + sock, &rules), 0);
	j = json::parse(rules, nullptr, false);
	ASSERT_FALSE(j.is_discarded()) << rules;
	EXPECT_EQ(j["oci"].size(), 3u) << rules << d.log();
	EXPECT_EQ(a1.partition(), a2.partition());
	EXPECT_EQ(d.stop(), 0);
}

TEST_F(Oci, HookAloneCreatesThePartitionAndPlacesTheContainer)
{
	std::vector<std::string> hook = {"ksmpart-oci-hook", "--stage", "poststart", "--standalone",
	                                 "--create"};
	// (An unannotated container is checked in the daemon test above.)
	Container s1(dir, "s1", "oci-solo", hook), s2(dir, "s2", "oci-solo", hook);
	std::string log;
	for (Container *c : {&s1, &s2})
		ASSERT_TRUE(c->start(log)) << log;
	ASSERT_TRUE(eventually([&] { return s1.partition() != "0" && s2.partition() != "0"; }))
	    << s1.out() << s2.out();
	EXPECT_EQ(s1.partition(), s2.partition());
	// Merging is later work (the daemon's, or the tool's): the partition
	// the hook chose holds both, and they share once merged.
	std::string out;
	ASSERT_EQ(sh(std::string(KSMPART_TOOL) + " merge oci-solo " + std::to_string(s1.pid()) +
	                 " " + std::to_string(s2.pid()),
	             &out),
	          0)
	    << out;
	EXPECT_TRUE(shared(s1, s2));
}

TEST_F(Oci, HookWithoutAnnotationOrWithBadInput)
{
	std::string out;
	// No annotation: nothing to do, success.
	EXPECT_EQ(
	    sh("echo '{\"ociVersion\":\"1.0.2\",\"id\":\"x\",\"status\":\"running\",\"pid\":1}' "
	       "| " +
	           std::string(OCI_HOOK),
	       &out),
	    0)
	    << out;
	EXPECT_EQ(ksm_stat(1, "ksm_partition"), "0");
	EXPECT_EQ(sh("echo 'not json' | " + std::string(OCI_HOOK), &out), 1);
	EXPECT_NE(out.find("not an OCI container state"), std::string::npos) << out;
	EXPECT_EQ(sh("echo '{\"pid\":1,\"annotations\":{\"org.ksmpart.partition\":\"a/b\"}}' | " +
	                 std::string(OCI_HOOK) + " --standalone",
	             &out),
	          1);
	EXPECT_NE(out.find("invalid character"), std::string::npos) << out;
	// The daemon refuses an annotation its policy does not place.
	Daemon d(KSMPARTD, dir + "/daemon");
	const std::string sock = dir + "/daemon/control.sock";
	d.write_config("[daemon]\nsocket = \"" + sock + "\"\n");
	d.start();
	ASSERT_TRUE(d.notified("READY=1")) << d.log();
	EXPECT_EQ(sh("echo '{\"id\":\"x\",\"pid\":" + std::to_string(getpid()) +
	                 ",\"annotations\":{\"org.ksmpart.partition\":\"nobody\"}}' | " +
	                 std::string(OCI_HOOK) + " --socket " + sock,
	             &out),
	          1);
	EXPECT_NE(out.find("the policy does not allow it"), std::string::npos) << out;
	EXPECT_EQ(d.stop(), 0);
}
