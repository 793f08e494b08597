// SPDX-License-Identifier: GPL-2.0-or-later
// Mapping errors to the documented exit codes and messages.
#include "errors.hpp"

#include <ksmpart/error.hpp>

#include <gtest/gtest.h>

#include <cerrno>

using namespace ksmtool;

namespace {

std::error_code sys(int e)
{
	return {e, std::system_category()};
}

} // namespace

TEST(ExitCodes, Values)
{
	// The numbers are documented (man page, --help): they must not change.
	EXPECT_EQ(code(Exit::ok), 0);
	EXPECT_EQ(code(Exit::failure), 1);
	EXPECT_EQ(code(Exit::usage), 2);
	EXPECT_EQ(code(Exit::unsupported), 3);
	EXPECT_EQ(code(Exit::permission), 4);
	EXPECT_EQ(code(Exit::not_found), 5);
	EXPECT_EQ(code(Exit::partial), 6);
	EXPECT_EQ(code(Exit::conflict), 7);
}

TEST(ExitCodes, FromErrno)
{
	EXPECT_EQ(exit_for(Op::merge, {}), Exit::ok);
	EXPECT_EQ(exit_for(Op::open, sys(ENOSYS)), Exit::unsupported);
	EXPECT_EQ(exit_for(Op::merge, sys(ENOSYS)), Exit::unsupported);
	EXPECT_EQ(exit_for(Op::merge, sys(EPERM)), Exit::permission);
	EXPECT_EQ(exit_for(Op::open, sys(EACCES)), Exit::permission);
	EXPECT_EQ(exit_for(Op::table, sys(EACCES)), Exit::permission);
	EXPECT_EQ(exit_for(Op::merge, sys(ESRCH)), Exit::not_found);
	EXPECT_EQ(exit_for(Op::open, sys(ENOENT)), Exit::not_found);
	EXPECT_EQ(exit_for(Op::leave, sys(ENOENT)), Exit::not_found);
	EXPECT_EQ(exit_for(Op::cgroup, sys(ENOTDIR)), Exit::not_found);
	EXPECT_EQ(exit_for(Op::cgroup, sys(EMEDIUMTYPE)), Exit::not_found);
	EXPECT_EQ(exit_for(Op::open, sys(EEXIST)), Exit::conflict);
	EXPECT_EQ(exit_for(Op::merge, sys(EBUSY)), Exit::conflict);
	EXPECT_EQ(exit_for(Op::merge, sys(ENOMEM)), Exit::failure);
	EXPECT_EQ(exit_for(Op::merge, sys(EINTR)), Exit::failure);
	// The same errno with generic_category() maps the same way.
	EXPECT_EQ(exit_for(Op::merge, std::make_error_code(std::errc::operation_not_permitted)),
	          Exit::permission);
}

TEST(ExitCodes, DependOnTheOperation)
{
	// A missing feature of a newer kernel is "unsupported" only where it
	// can mean that.
	EXPECT_EQ(exit_for(Op::stats, sys(ENOTTY)), Exit::unsupported);
	EXPECT_EQ(exit_for(Op::stats, sys(EINVAL)), Exit::unsupported);
	EXPECT_EQ(exit_for(Op::create, sys(EINVAL)), Exit::unsupported);
	EXPECT_EQ(exit_for(Op::open, sys(EINVAL)), Exit::failure);
	EXPECT_EQ(exit_for(Op::merge, sys(ENOTTY)), Exit::failure);
	EXPECT_EQ(exit_for(Op::table, sys(ENOENT)), Exit::unsupported);
}

TEST(ExitCodes, LibraryConditions)
{
	EXPECT_EQ(exit_for(Op::merge, make_error_code(ksmpart::errc::region_not_found)),
	          Exit::not_found);
	EXPECT_EQ(exit_for(Op::merge, make_error_code(ksmpart::errc::invalid_range)), Exit::usage);
	EXPECT_EQ(exit_for(Op::merge, make_error_code(ksmpart::errc::no_progress)), Exit::failure);
}

TEST(ExitCodes, Combine)
{
	EXPECT_EQ(combine({}), Exit::ok);
	EXPECT_EQ(combine({Exit::ok, Exit::ok}), Exit::ok);
	EXPECT_EQ(combine({Exit::ok, Exit::permission}), Exit::partial);
	EXPECT_EQ(combine({Exit::not_found, Exit::ok}), Exit::partial);
	EXPECT_EQ(combine({Exit::not_found, Exit::permission}), Exit::not_found);
	EXPECT_EQ(combine({Exit::permission}), Exit::permission);
	EXPECT_EQ(combine({Exit::partial}), Exit::partial);
}

TEST(Messages, NameTheCause)
{
	ErrorContext ctx;
	ctx.partition = "db";
	ctx.path = "/sys/fs/cgroup/x";
	EXPECT_NE(describe(Op::cgroup, sys(ENOENT), ctx).find("no such cgroup"), std::string::npos);
	EXPECT_NE(describe(Op::cgroup, sys(EMEDIUMTYPE), ctx).find("not a cgroup v2"),
	          std::string::npos);
	EXPECT_NE(describe(Op::cgroup, sys(EACCES), ctx).find("permission"), std::string::npos);
	ctx.path = "/sys/kernel/mm/ksm/partitions";
	EXPECT_NE(describe(Op::table, sys(EACCES), ctx).find("root-only"), std::string::npos);
	EXPECT_NE(describe(Op::table, sys(ENOENT), ctx).find("does not list"), std::string::npos);
	ctx.path = "/run/ksmpart/db.pid";
	EXPECT_NE(describe(Op::holder, sys(ENOENT), ctx).find("not held"), std::string::npos);
	EXPECT_NE(describe(Op::holder, sys(ESRCH), ctx).find("stale"), std::string::npos);
	EXPECT_NE(describe(Op::holder, sys(ENOSYS), ctx).find("no ksmpart support"),
	          std::string::npos);
}

TEST(Messages, Hints)
{
	EXPECT_NE(hint(Op::open, sys(ENOENT)).find("--hold"), std::string::npos);
	EXPECT_NE(hint(Op::merge, sys(EBUSY)).find("leave"), std::string::npos);
	EXPECT_EQ(hint(Op::merge, sys(ENOMEM)), "");
}
