// SPDX-License-Identifier: GPL-2.0-or-later
// Error codes and messages: each errno of docs/abi.md gets a message naming
// its cause in terms of the call; ENOSYS says what kernel is needed.
#include "fake_kernel.hpp"

#include <ksmpart/ksmpart.hpp>

#include <gtest/gtest.h>

#include <sys/capability.h>

using namespace ksmpart;

namespace {

bool has_cap(cap_value_t c)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;
	cap_get_flag(caps, c, CAP_EFFECTIVE, &v);
	cap_free(caps);
	return v == CAP_SET;
}

bool contains(const std::string &s, const std::string &part)
{
	return s.find(part) != std::string::npos;
}

ErrorContext merge_ctx(pid_t pid)
{
	ErrorContext c;
	c.pid = pid;
	c.pidfd = 5;
	return c;
}

} // namespace

TEST(Errors, CodesAreSystemCategoryErrnos)
{
	auto e = describe_error(Op::merge, EPERM, merge_ctx(42));
	EXPECT_EQ(e.code(), std::error_code(EPERM, std::system_category()));
	EXPECT_EQ(e.code(), std::errc::operation_not_permitted);
	EXPECT_EQ(e.errnum(), EPERM);
	EXPECT_TRUE(e);
	EXPECT_FALSE(Error());
}

TEST(Errors, LibraryConditionsHaveTheirOwnCategory)
{
	auto e = make_error(errc::region_not_found, "x");
	EXPECT_EQ(e.code().category().name(), std::string("ksmpart"));
	EXPECT_EQ(e.errnum(), 0);
	EXPECT_EQ(e.code(), errc::region_not_found);
}

TEST(Errors, EnosysNamesTheKernelOption)
{
	for (Op op : {Op::open, Op::merge, Op::unmerge, Op::leave})
		EXPECT_EQ(describe_error(op, ENOSYS).message(),
		          "this kernel has no ksmpart support (needs a kernel with "
		          "CONFIG_KSM_PARTITION)");
}

TEST(Errors, EpermNamesPtraceAndWhetherTheCallerHasTheCapability)
{
	auto m = describe_error(Op::merge, EPERM, merge_ctx(42)).message();
	EXPECT_TRUE(contains(m, "merge: no ptrace access to pid 42 (needs same uid and no "
	                        "setuid, or CAP_SYS_PTRACE"))
	    << m;
	EXPECT_TRUE(contains(m, has_cap(CAP_SYS_PTRACE) ? "the caller has CAP_SYS_PTRACE"
	                                                : "the caller lacks CAP_SYS_PTRACE"))
	    << m;
}

TEST(Errors, EaccesNamesCapIpcOwner)
{
	ErrorContext c;
	c.name = "db";
	auto m = describe_error(Op::open, EACCES, c).message();
	EXPECT_TRUE(contains(m, "open partition 'db': ")) << m;
	EXPECT_TRUE(contains(m, "deny read+write to uid " + std::to_string(geteuid()))) << m;
	EXPECT_TRUE(contains(m, "(CAP_IPC_OWNER overrides; the caller ")) << m;
}

TEST(Errors, EbusyAndEnoentNameTheMembership)
{
	EXPECT_EQ(describe_error(Op::merge, EBUSY, merge_ctx(7)).message(),
	          "merge: pid 7 is a member of another partition (it must leave that one first)");
	ErrorContext c = merge_ctx(7);
	c.name = "web";
	EXPECT_EQ(describe_error(Op::leave, ENOENT, c).message(),
	          "leave pid 7: pid 7 is not a member of partition 'web'");
	ErrorContext o;
	o.name = "web";
	EXPECT_EQ(describe_error(Op::open, ENOENT, o).message(),
	          "open partition 'web' does not exist in this IPC namespace (create it with "
	          "KSM_OPEN_CREATE)");
	o.flags = open_create | open_excl;
	EXPECT_EQ(describe_error(Op::open, EEXIST, o).message(),
	          "open partition 'web' already exists (exclusive create)");
}

TEST(Errors, EinvalOnOpenSaysWhatIsWrong)
{
	ErrorContext c;
	c.name = "bad name";
	EXPECT_TRUE(
	    contains(describe_error(Op::open, EINVAL, c).message(), "byte 0x20 at offset 3"));
	c.name = ".hidden";
	EXPECT_TRUE(
	    contains(describe_error(Op::open, EINVAL, c).message(), "must not start with '.'"));
	c.name = "ok";
	c.mode = 0755;
	EXPECT_TRUE(contains(describe_error(Op::open, EINVAL, c).message(), "mode 0755"));
	c.mode = 0600;
	c.flags = open_create | open_zero_pages;
	EXPECT_TRUE(contains(describe_error(Op::open, EINVAL, c).message(), "KSM_OPEN_ZERO_PAGES"));
}

TEST(Errors, SelfTargetIsNamedAsSuch)
{
	ErrorContext c;
	c.pidfd = pidfd_self;
	c.pid = getpid();
	EXPECT_TRUE(contains(describe_error(Op::merge, ESRCH, c).message(),
	                     "merge the calling process: no such process"));
}

TEST(Errors, ResultValueThrowsTheError)
{
	Result<int> r = describe_error(Op::merge, EBUSY, merge_ctx(3));
	try {
		(void)r.value();
		FAIL() << "no exception";
	} catch (const Exception &e) {
		EXPECT_EQ(e.code().value(), EBUSY);
		EXPECT_TRUE(contains(e.message(), "member of another partition"));
	}
	Result<int> ok = 5;
	EXPECT_EQ(*ok, 5);
	EXPECT_FALSE(ok.error());
}

TEST(Probe, EnosysFromAKernelWithoutKsmpart)
{
	fake::Kernel k;
	k.open_errno = ENOSYS;
	k.is_ksmpart = false;
	sys::ScopedBackend s(k);
	auto r = probe();
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().errnum(), ENOSYS);
	EXPECT_TRUE(contains(r.error().message(), "CONFIG_KSM_PARTITION"));

	auto p = Partition::anonymous();
	ASSERT_FALSE(p);
	EXPECT_EQ(p.error().errnum(), ENOSYS);
	EXPECT_TRUE(contains(p.error().message(), "no ksmpart support"));
}

TEST(Probe, MarkerMeansPresent)
{
	fake::Kernel k; // a kernel that shows the ksmpart marker
	sys::ScopedBackend s(k);
	EXPECT_TRUE(probe());
	EXPECT_EQ(k.opens, 0); // the probe itself makes no call
}

TEST(OpenNames, NulByteIsRejectedBeforeTheKernel)
{
	fake::Kernel k;
	sys::ScopedBackend s(k);
	auto p = Partition::create(std::string_view("a\0b", 3));
	ASSERT_FALSE(p);
	EXPECT_EQ(p.error().errnum(), EINVAL);
	EXPECT_EQ(k.opens, 0);
}

TEST(RealKernel, EitherKsmpartOrEnosysNeverAnotherCall)
{
	// On kernels without ksmpart, 463-466 are unassigned (<= 6.12) or the
	// *xattrat calls (>= 6.13): both must read as ENOSYS, and an fd we get
	// must really be a partition.
	auto p = Partition::anonymous();
	if (p) {
		char buf[64] = {};
		std::string link = "/proc/self/fd/" + std::to_string(p->fd());
		ASSERT_GT(readlink(link.c_str(), buf, sizeof(buf) - 1), 0);
		EXPECT_STREQ(buf, "anon_inode:[ksm_partition]");
		EXPECT_TRUE(probe());
		return;
	}
	EXPECT_EQ(p.error().errnum(), ENOSYS) << p.error().message();
	EXPECT_EQ(p.error().message(), "this kernel has no ksmpart support (needs a kernel "
	                               "with CONFIG_KSM_PARTITION)");
	auto r = probe();
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().errnum(), ENOSYS);
	// Not even a merge on some fd reaches the kernel.
	auto fake_fd = Partition::adopt(0);
	auto m = fake_fd.merge(Pidfd::self(), std::vector<Range>{});
	fake_fd.release();
	EXPECT_EQ(m.error.errnum(), ENOSYS);
}
