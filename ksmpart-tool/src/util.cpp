// SPDX-License-Identifier: GPL-2.0-or-later
#include "util.hpp"

#include <cerrno>
#include <charconv>

#include <fcntl.h>
#include <unistd.h>

namespace ksmtool {

bool read_file(const std::string &path, std::string &out, std::error_code &ec)
{
	out.clear();
	int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ec = std::error_code(errno, std::generic_category());
		return false;
	}
	char buf[4096];
	for (;;) {
		ssize_t n = ::read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ec = std::error_code(errno, std::generic_category());
			::close(fd);
			return false;
		}
		if (n == 0)
			break;
		out.append(buf, n);
	}
	::close(fd);
	ec.clear();
	return true;
}

std::string_view trim(std::string_view s)
{
	const char *ws = " \t\n\r";
	auto b = s.find_first_not_of(ws);
	if (b == std::string_view::npos)
		return {};
	return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::optional<std::uint64_t> parse_u64(std::string_view s, int base)
{
	s = trim(s);
	std::uint64_t v = 0;
	auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
	if (s.empty() || ec != std::errc() || ptr != s.data() + s.size())
		return std::nullopt;
	return v;
}

std::optional<std::int64_t> parse_s64(std::string_view s)
{
	s = trim(s);
	std::int64_t v = 0;
	auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
	if (s.empty() || ec != std::errc() || ptr != s.data() + s.size())
		return std::nullopt;
	return v;
}

} // namespace ksmtool
