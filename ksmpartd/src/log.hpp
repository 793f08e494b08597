// SPDX-License-Identifier: GPL-2.0-or-later
// Logging with levels: to stderr, with the "<N>" priority prefix that
// journald reads when it collects the service's output (JOURNAL_STREAM).
#pragma once

#include <string>

namespace ksmpartd {

enum class Level { err = 3, warning = 4, notice = 5, info = 6, debug = 7 };

/// Messages above this level are dropped ("debug", "info", ...).
void set_log_level(const std::string &level);
void log(Level l, const std::string &msg);

} // namespace ksmpartd
