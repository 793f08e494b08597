// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpart-oci-hook on the host: what it does with the container state
// before any partition is involved (the VM suite runs it under crun).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace {

struct Out {
	int rc;
	std::string text;
};

Out hook(const std::string &state, const std::string &args = "")
{
	std::string cmd = "printf '%s' '" + state + "' | " + OCI_HOOK + " " + args + " 2>&1";
	FILE *p = popen(cmd.c_str(), "r");
	Out o{-1, {}};
	char buf[512];
	while (fgets(buf, sizeof(buf), p))
		o.text += buf;
	int st = pclose(p);
	o.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return o;
}

} // namespace

TEST(OciHook, NoAnnotationLeavesTheContainerAlone)
{
	auto o =
	    hook(R"({"ociVersion":"1.0.2","id":"c","status":"created","pid":1,"bundle":"/b"})");
	EXPECT_EQ(o.rc, 0) << o.text;
	EXPECT_EQ(o.text, "");
	auto other = hook(R"({"id":"c","pid":1,"annotations":{"io.kubernetes.pod":"x"}})");
	EXPECT_EQ(other.rc, 0) << other.text;
}

TEST(OciHook, BadInputIsAnErrorThatSaysWhat)
{
	auto j = hook("not json");
	EXPECT_EQ(j.rc, 1);
	EXPECT_NE(j.text.find("not an OCI container state"), std::string::npos) << j.text;
	auto name = hook(R"({"id":"c","pid":1,"annotations":{"org.ksmpart.partition":".x"}})");
	EXPECT_EQ(name.rc, 1);
	EXPECT_NE(name.text.find("org.ksmpart.partition=.x: not a partition name"),
	          std::string::npos)
	    << name.text;
	auto nopid = hook(R"({"id":"c","annotations":{"org.ksmpart.partition":"x"}})");
	EXPECT_EQ(nopid.rc, 1);
	EXPECT_NE(nopid.text.find("the state has no pid"), std::string::npos) << nopid.text;
	EXPECT_EQ(hook("{}", "--stage later").rc, 2);
	// A mode that is not octal read/write bits is a usage error, not a garbage mode
	for (const char *bad : {"09x", "0777", "", "12345"}) {
		auto m = hook("{}", std::string("--mode '") + bad + "'");
		EXPECT_EQ(m.rc, 2) << bad << ": " << m.text;
		EXPECT_NE(m.text.find("--mode"), std::string::npos) << m.text;
	}
	EXPECT_EQ(hook("{}", "--mode 0640").rc, 0); // valid; no annotation: nothing to do
}

TEST(OciHook, WithoutTheDaemonCreateRuntimeWaitsForPoststart)
{
	auto o = hook(R"({"id":"c","pid":1,"annotations":{"org.ksmpart.partition":"x"}})",
	              "--stage createRuntime --socket /nonexistent.sock");
	EXPECT_EQ(o.rc, 0) << o.text;
	EXPECT_NE(o.text.find("standalone placement happens at poststart"), std::string::npos)
	    << o.text;
}

TEST(OciHook, OnAKernelWithoutKsmpartItSaysSo)
{
	auto o = hook(R"({"id":"c","pid":1,"annotations":{"org.ksmpart.partition":"x"}})",
	              "--standalone --create");
	if (o.rc == 0)
		GTEST_SKIP() << "this host runs a ksmpart kernel";
	EXPECT_EQ(o.rc, 1);
	EXPECT_NE(o.text.find("no ksmpart support"), std::string::npos) << o.text;
}
