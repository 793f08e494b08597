// SPDX-License-Identifier: GPL-2.0-or-later
#include "log.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace ksmpartd {

namespace {
Level threshold = Level::info;
std::mutex lock;
} // namespace

void set_log_level(const std::string &level)
{
	threshold = level == "debug"     ? Level::debug
	            : level == "notice"  ? Level::notice
	            : level == "warning" ? Level::warning
	            : level == "err"     ? Level::err
	                                 : Level::info;
}

void log(Level l, const std::string &msg)
{
	if (static_cast<int>(l) > static_cast<int>(threshold))
		return;
	std::lock_guard g(lock);
	// Under systemd, stderr goes to the journal, which takes "<N>" as the
	// priority; elsewhere a readable prefix.
	static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
	if (journal) {
		std::fprintf(stderr, "<%d>%s\n", static_cast<int>(l), msg.c_str());
	} else {
		static const char *const names[] = {"",        "",       "",     "error",
		                                    "warning", "notice", "info", "debug"};
		std::fprintf(stderr, "ksmpartd: %s: %s\n", names[static_cast<int>(l)], msg.c_str());
	}
	std::fflush(stderr);
}

} // namespace ksmpartd
