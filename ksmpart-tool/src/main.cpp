// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpart-tool: manage ksmpart partitions from the command line.
#include <CLI/CLI.hpp>
#include <ksmpart/ksmpart.hpp>

#include <string>

int main(int argc, char **argv)
{
	CLI::App app{"Manage ksmpart partitions (partitioned, synchronous KSM)", "ksmpart-tool"};
	app.set_version_flag("--version", std::string(ksmpart::version()));
	CLI11_PARSE(app, argc, argv);
	return 0;
}
