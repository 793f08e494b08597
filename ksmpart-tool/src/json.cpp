// SPDX-License-Identifier: GPL-2.0-or-later
#include "json.hpp"

#include <cstdio>

namespace ksmtool {

std::string json_quote(std::string_view s)
{
	std::string r = "\"";
	for (unsigned char c : s) {
		switch (c) {
		case '"':
			r += "\\\"";
			break;
		case '\\':
			r += "\\\\";
			break;
		case '\n':
			r += "\\n";
			break;
		case '\t':
			r += "\\t";
			break;
		case '\r':
			r += "\\r";
			break;
		default:
			if (c < 0x20) {
				char buf[8];
				std::snprintf(buf, sizeof(buf), "\\u%04x", c);
				r += buf;
			} else {
				r += static_cast<char>(c);
			}
		}
	}
	return r + "\"";
}

void JsonWriter::newline()
{
	if (!pretty_)
		return;
	out_ += '\n';
	out_.append(stack_.size() * 2, ' ');
}

void JsonWriter::before_value()
{
	if (after_key_) {
		after_key_ = false;
		return;
	}
	if (stack_.empty())
		return;
	if (!stack_.back().empty)
		out_ += ',';
	stack_.back().empty = false;
	newline();
}

JsonWriter &JsonWriter::begin_object()
{
	before_value();
	out_ += '{';
	stack_.push_back({false, true});
	return *this;
}

JsonWriter &JsonWriter::end_object()
{
	bool empty = stack_.back().empty;
	stack_.pop_back();
	if (!empty)
		newline();
	out_ += '}';
	return *this;
}

JsonWriter &JsonWriter::begin_array()
{
	before_value();
	out_ += '[';
	stack_.push_back({true, true});
	return *this;
}

JsonWriter &JsonWriter::end_array()
{
	bool empty = stack_.back().empty;
	stack_.pop_back();
	if (!empty)
		newline();
	out_ += ']';
	return *this;
}

JsonWriter &JsonWriter::key(std::string_view k)
{
	before_value();
	out_ += json_quote(k);
	out_ += pretty_ ? ": " : ":";
	after_key_ = true;
	return *this;
}

JsonWriter &JsonWriter::value(std::string_view s)
{
	before_value();
	out_ += json_quote(s);
	return *this;
}

JsonWriter &JsonWriter::integer(const std::string &digits)
{
	before_value();
	out_ += digits;
	return *this;
}

JsonWriter &JsonWriter::value(bool v)
{
	before_value();
	out_ += v ? "true" : "false";
	return *this;
}

JsonWriter &JsonWriter::null()
{
	before_value();
	out_ += "null";
	return *this;
}

} // namespace ksmtool
