// SPDX-License-Identifier: GPL-2.0-or-later
// The holder process of create --hold: a partition lives only while an fd
// or a member refers to it, so a small daemon keeps the fd open until
// 'release' stops it (SIGTERM).
#pragma once

#include <ksmpart/partition.hpp>

#include <string>
#include <system_error>

#include <sys/types.h>

namespace ksmtool {

/// Default pid file of the holder of partition `name`: /run/ksmpart/NAME.pid
/// for root (euid 0); else $XDG_RUNTIME_DIR/ksmpart/NAME.pid; else
/// /tmp/ksmpart-UID/NAME.pid. `xdg_runtime_dir` may be null or empty.
std::string default_pidfile(const std::string &name, uid_t euid, const char *xdg_runtime_dir);

/// The process name (comm) of holders, checked by release.
inline constexpr const char *holder_comm = "ksmpart-hold";

/// Start a holder of `part`: double fork, setsid, stdio on /dev/null,
/// pid file `pidfile` (directory created if needed) locked for its whole
/// life. Returns the holder's pid once the pid file is written, or -1 with
/// `ec` set: EEXIST if a live holder already owns the pid file (`*other`
/// gets its pid), else the errno of what failed.
pid_t start_holder(const ksmpart::Partition &part, const std::string &pidfile, std::error_code &ec,
                   pid_t *other = nullptr);

/// Tell a supervisor (systemd, Type=notify) that the service is ready /
/// stopping, with a status line; nothing without $NOTIFY_SOCKET.
void notify_ready(const std::string &status);
void notify_stopping();

/// Stop the holder recorded in `pidfile` and wait (up to `timeout_ms`) for
/// it to exit. Returns its pid, or -1 with `ec`: ENOENT (no pid file),
/// ESRCH (stale pid file, now removed), EPERM (another user's), ETIMEDOUT,
/// EBADMSG (not a holder pid file), or another errno.
pid_t stop_holder(const std::string &pidfile, std::error_code &ec, int timeout_ms = 10000);

} // namespace ksmtool
