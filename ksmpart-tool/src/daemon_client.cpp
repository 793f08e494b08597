// SPDX-License-Identifier: GPL-2.0-or-later
// daemon: ask ksmpartd over its control socket what it holds and what its
// rules matched. The protocol is one request line ("status" or "rules"),
// answered with one JSON document, then EOF.
#include "commands.hpp"

#include <cerrno>
#include <cstring>
#include <ostream>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace ksmtool {

namespace {

struct Fd {
	int fd;
	~Fd()
	{
		if (fd >= 0)
			::close(fd);
	}
};

} // namespace

int cmd_daemon(const Options &o, std::ostream &out, std::ostream &err)
{
	Fd s{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
	if (s.fd < 0)
		return fail(err, Exit::failure, std::string("socket: ") + std::strerror(errno));
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	if (o.socket_path.size() >= sizeof(addr.sun_path))
		return fail(err, Exit::usage, "socket path too long: " + o.socket_path);
	std::memcpy(addr.sun_path, o.socket_path.c_str(), o.socket_path.size() + 1);
	if (::connect(s.fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0) {
		int e = errno;
		if (e == ENOENT || e == ECONNREFUSED)
			return fail(err, Exit::not_found,
			            "ksmpartd is not running (no control socket " + o.socket_path +
			                ")",
			            "start it with 'systemctl start ksmpartd'");
		if (e == EACCES)
			return fail(err, Exit::permission,
			            "no permission to connect to " + o.socket_path +
			                " (the control socket is root's)");
		return fail(err, Exit::failure,
		            "connect " + o.socket_path + ": " + std::strerror(e));
	}
	timeval tv{5, 0};
	::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	std::string req = o.daemon_what + "\n";
	if (::send(s.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
		return fail(err, Exit::failure, std::string("send: ") + std::strerror(errno));
	std::string reply;
	char buf[4096];
	for (;;) {
		ssize_t n = ::recv(s.fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(err, Exit::failure,
			            std::string("no answer from ksmpartd: ") +
			                std::strerror(errno));
		if (n == 0)
			break;
		reply.append(buf, n);
	}
	json j = json::parse(reply, nullptr, false);
	if (j.is_discarded())
		return fail(err, Exit::failure, "ksmpartd sent an answer that is not JSON");
	if (j.contains("error"))
		return fail(err, Exit::failure, "ksmpartd: " + j["error"].get<std::string>());
	if (o.output.json) {
		out << dump(j, true) << "\n";
		return 0;
	}
	if (o.daemon_what == "status") {
		out << "ksmpartd " << j.value("version", "?") << ", pid " << j.value("pid", 0)
		    << ", config " << j.value("config", "?") << " (loaded "
		    << j.value("loaded", "?") << ")\n";
		for (const auto &p : j.value("partitions", json::array())) {
			out << "partition '" << p.value("name", "?") << "' id "
			    << p.value("id", 0ull) << ": " << p.value("members", 0)
			    << " members, saved " << human_bytes(p.value("saved_bytes", 0ll))
			    << "\n";
		}
	} else {
		for (const auto &r : j.value("rules", json::array())) {
			out << "rule " << r.value("index", 0) << " -> '"
			    << r.value("partition", "?") << "' (" << r.value("match", "?") << "): ";
			auto pids = r.value("pids", json::array());
			if (pids.empty())
				out << "no processes";
			for (std::size_t i = 0; i < pids.size(); i++)
				out << (i ? " " : "") << pids[i].get<long>();
			out << "\n";
		}
	}
	return 0;
}

} // namespace ksmtool
