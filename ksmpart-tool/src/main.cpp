// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpart-tool: manage ksmpart partitions from the command line.
#include "cli.hpp"
#include "commands.hpp"

#include <iostream>

int main(int argc, char **argv)
{
	ksmtool::Options opts;
	auto parsed = ksmtool::parse_command_line(argc, argv, opts);
	std::cout << parsed.out;
	std::cerr << parsed.err;
	if (parsed.exit_code)
		return *parsed.exit_code;
	int rc = ksmtool::run(opts, std::cout, std::cerr);
	std::cout.flush();
	return rc;
}
