// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpart-tool: manage ksmpart partitions from the command line.
#include "cli.hpp"
#include "commands.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace {

/// As util-linux's close_stdout(): output that could not be written is an
/// error (a full disk, a closed pipe), not a silent success.
int close_stdout(int rc)
{
	std::cout.flush();
	bool bad = !std::cout || std::ferror(stdout);
	int e = errno;
	if (std::fflush(stdout) != 0) {
		bad = true;
		e = errno;
	}
	if (std::fclose(stdout) != 0 && !bad) {
		bad = true;
		e = errno;
	}
	if (bad) {
		std::fprintf(stderr, "ksmpart-tool: write error: %s\n",
		             e ? std::strerror(e) : "standard output");
		return rc ? rc : 1;
	}
	return rc;
}

} // namespace

int main(int argc, char **argv)
{
	ksmtool::Options opts;
	auto parsed = ksmtool::parse_command_line(argc, argv, opts);
	std::cout << parsed.out;
	std::cerr << parsed.err;
	if (parsed.exit_code)
		return close_stdout(*parsed.exit_code);
	int rc = ksmtool::run(opts, std::cout, std::cerr);
	return close_stdout(rc);
}
