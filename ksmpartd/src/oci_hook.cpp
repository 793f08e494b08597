// SPDX-License-Identifier: GPL-2.0-or-later
// ksmpart-oci-hook: an OCI runtime hook (createRuntime or poststart) for
// runc, crun, podman and CRI-O. It reads the container state from stdin
// and, if the container has the annotation org.ksmpart.partition=NAME,
// hands the container to ksmpartd (which places its processes by policy),
// or without a daemon places the container's process in partition NAME
// itself: poststart only, since at createRuntime the process has not yet
// exec'ed its program and exec leaves a partition.
#include "cgroup.hpp"

#include <ksmpart/ksmpart.hpp>
#include <ksmpart/system.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <sstream>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace {

using json = nlohmann::json;

int fail(const std::string &msg)
{
	std::cerr << "ksmpart-oci-hook: " << msg << "\n";
	return 1;
}

/// One request to ksmpartd; nullopt if it is not running.
std::optional<json> ask_daemon(const std::string &path, const std::string &line)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_un a{};
	a.sun_family = AF_UNIX;
	if (s < 0 || path.size() >= sizeof(a.sun_path))
		return std::nullopt;
	std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
	if (connect(s, reinterpret_cast<sockaddr *>(&a), sizeof(a)) < 0) {
		close(s);
		return std::nullopt;
	}
	timeval tv{10, 0};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	std::string req = line + "\n";
	if (send(s, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
		close(s);
		return json{{"error", "cannot send to ksmpartd"}};
	}
	std::string reply;
	char buf[4096];
	ssize_t n;
	while ((n = recv(s, buf, sizeof(buf), 0)) > 0)
		reply.append(buf, static_cast<std::size_t>(n));
	close(s);
	auto j = json::parse(reply, nullptr, false);
	if (j.is_discarded())
		return json{{"error", "ksmpartd sent no JSON"}};
	return j;
}

} // namespace

int main(int argc, char **argv)
{
	std::string socket_path = "/run/ksmpartd/control.sock";
	std::string key = "org.ksmpart.partition";
	std::string stage = "poststart";
	std::string mode_arg = "0600";
	bool create = false, standalone = false;
	CLI::App app{"OCI hook: put a container whose annotation org.ksmpart.partition names a "
	             "partition into it (through ksmpartd if it runs).",
	             "ksmpart-oci-hook"};
	app.add_option("--stage", stage, "createRuntime or poststart (default poststart)")
	    ->check(CLI::IsMember({"createRuntime", "poststart"}));
	app.add_option("--socket", socket_path, "ksmpartd's control socket")->type_name("PATH");
	app.add_option("--annotation", key, "the annotation to read")->type_name("KEY");
	app.add_flag("--create", create,
	             "without ksmpartd: create the partition if no partition of that name exists");
	app.add_option("--mode", mode_arg, "mode of a partition it creates (default 0600)")
	    ->check(
	        [](const std::string &s) -> std::string {
		        if (s.empty() || s.size() > 4 ||
		            s.find_first_not_of("01234567") != std::string::npos)
			        return "octal permission bits expected, e.g. 0600";
		        if (std::stoul(s, nullptr, 8) & ~0666UL)
			        return "only read and write bits (within 0666)";
		        return {};
	        },
	        "MODE");
	app.add_flag("--standalone", standalone, "do not ask ksmpartd even if it runs");
	app.footer("The container state (OCI runtime spec) is read from standard input.\n"
	           "Exit status 0 also when the annotation is absent (nothing to do).");
	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		return app.exit(e) == 0 ? 0 : 2;
	}
	std::stringstream in;
	in << std::cin.rdbuf();
	auto state = json::parse(in.str(), nullptr, false);
	if (state.is_discarded() || !state.is_object())
		return fail("standard input is not an OCI container state (JSON object)");
	auto ann = state.value("annotations", json::object());
	if (!ann.is_object() || !ann.contains(key))
		return 0; // not ours: leave the container alone
	if (!ann[key].is_string())
		return fail("annotation " + key + " is not a string");
	std::string name = ann[key];
	if (auto why =
	        [&] {
		        if (name.empty() || name.size() > 255 || name[0] == '.')
			        return std::string("not a partition name");
		        for (char c : name)
			        if (!(isalnum(static_cast<unsigned char>(c)) || strchr("._-:@", c)))
				        return std::string("invalid character in partition name");
		        return std::string();
	        }();
	    !why.empty())
		return fail(key + "=" + name + ": " + why);
	pid_t pid = state.value("pid", 0);
	std::string id = state.value("id", std::string("?"));
	if (pid <= 0)
		return fail("container " + id + ": the state has no pid");
	std::string cg = ksmtool::cgroup_of(pid);

	if (!standalone) {
		json req = {{"id", id}, {"pid", pid}, {"annotation", name}, {"cgroup", cg}};
		if (auto reply = ask_daemon(socket_path, "adopt " + req.dump())) {
			if (reply->contains("error"))
				return fail("container " + id +
				            ": ksmpartd: " + (*reply)["error"].get<std::string>());
			std::cerr << "ksmpart-oci-hook: container " << id << " (cgroup " << cg
			          << ") handed to ksmpartd: partition '"
			          << reply->value("partition", std::string("?")) << "'\n";
			return 0;
		}
	}
	if (stage == "createRuntime") {
		// Joining now would be undone by the container's exec.
		std::cerr << "ksmpart-oci-hook: container " << id
		          << ": no ksmpartd; standalone placement happens at poststart\n";
		return 0;
	}
	ksmpart::CreateOptions co;
	unsigned mode = 0;
	for (char c : mode_arg)
		mode = mode * 8 + static_cast<unsigned>(c - '0');
	co.mode = mode & 0666;
	auto part =
	    create ? ksmpart::Partition::open_or_create(name, co)
	           : ksmpart::Result<ksmpart::Opened>([&]() -> ksmpart::Result<ksmpart::Opened> {
		             auto p = ksmpart::Partition::open(name);
		             if (!p)
			             return p.error();
		             return ksmpart::Opened{std::move(p).value(), false};
	             }());
	if (!part)
		return fail("container " + id + ": " + part.error().message());
	auto target = ksmpart::Pidfd::open(pid);
	if (!target)
		return fail("container " + id + ": " + target.error().message());
	auto rep = part->partition.merge(*target, ksmpart::Selector::anonymous());
	if (!rep.ok())
		return fail("container " + id + ": " + rep.error.message());
	std::cerr << "ksmpart-oci-hook: container " << id << " (pid " << pid << ") in partition '"
	          << name << "'" << (part->created ? " (created)" : "") << ", "
	          << rep.counters.pages_merged << " pages merged\n";
	return 0;
}
