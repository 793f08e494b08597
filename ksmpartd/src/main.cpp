// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpartd: the ksmpart policy daemon (ksmpartd(8)).
#include "daemon.hpp"
#include "log.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char **argv)
{
	ksmpartd::Options o;
	bool check = false;
	CLI::App app{"ksmpartd: holds KSM partitions and places and merges processes by policy.",
	             "ksmpartd"};
	app.set_version_flag("-V,--version", "ksmpartd " + std::string(ksmpart::version()));
	app.add_option("-c,--config", o.config_path,
	               "policy file (default /etc/ksmpart/ksmpartd.toml)")
	    ->type_name("FILE");
	app.add_flag("--check", check, "validate the policy file, print a summary, and exit");
	app.add_option("--rounds", o.rounds, "")->group(""); // tests: stop after N rounds
	app.add_option("--proc", o.proc, "")->group("");
	app.footer("Signals: SIGHUP reloads the policy (a bad one is rejected and the running one\n"
	           "kept), SIGTERM and SIGINT stop it; partitions stay with their members.\n"
	           "Exit status: 0 stopped, 1 error, 2 usage, 3 no ksmpart kernel, 4 bad policy.");
	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		return app.exit(e) == 0 ? 0 : 2;
	}
	if (check) {
		std::string error;
		auto c = ksmpartd::load_config(o.config_path, error);
		if (!c) {
			std::cerr << "ksmpartd: " << error << "\n";
			return 4;
		}
		std::cout << o.config_path << ": ok, " << c->partitions.size() << " partitions, "
		          << c->rules.size() << " rules\n";
		for (const auto &r : c->rules)
			std::cout << "  " << r.describe() << " -> " << r.partition << "\n";
		return 0;
	}
	ksmpartd::Daemon d(o);
	std::string error;
	if (!d.start(error)) {
		ksmpartd::log(ksmpartd::Level::err, error);
		if (error.find("no ksmpart support") != std::string::npos)
			return 3;
		return error.find(o.config_path) != std::string::npos ? 4 : 1;
	}
	return d.run();
}
