// SPDX-License-Identifier: GPL-2.0-or-later
// A minimal streaming JSON writer: the tool only emits objects of numbers,
// strings and arrays, so a dependency is not worth it.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ksmtool {

class JsonWriter {
public:
	/// Compact output (one line) unless pretty; --json lines of `watch` need compact.
	explicit JsonWriter(bool pretty = false) : pretty_(pretty) {}

	JsonWriter &begin_object();
	JsonWriter &end_object();
	JsonWriter &begin_array();
	JsonWriter &end_array();
	/// The key of the next value inside an object.
	JsonWriter &key(std::string_view k);

	JsonWriter &value(std::string_view s);
	JsonWriter &value(const char *s) { return value(std::string_view(s)); }
	JsonWriter &value(const std::string &s) { return value(std::string_view(s)); }
	JsonWriter &value(bool v);
	/// Any integer type, written exactly.
	template <std::integral T> JsonWriter &value(T v)
	{
		if constexpr (std::is_signed_v<T>)
			return integer(std::to_string(static_cast<long long>(v)));
		else
			return integer(std::to_string(static_cast<unsigned long long>(v)));
	}
	JsonWriter &null();

	/// key(k).value(v) in one call.
	template <typename T> JsonWriter &field(std::string_view k, const T &v)
	{
		key(k);
		return value(v);
	}

	const std::string &str() const { return out_; }

private:
	JsonWriter &integer(const std::string &digits);
	void before_value();
	void newline();

	struct Level {
		bool array;
		bool empty;
	};
	bool pretty_;
	bool after_key_ = false;
	std::vector<Level> stack_;
	std::string out_;
};

/// `s` as a JSON string literal, quotes included.
std::string json_quote(std::string_view s);

} // namespace ksmtool
