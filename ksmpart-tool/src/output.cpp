// SPDX-License-Identifier: GPL-2.0-or-later
#include "output.hpp"

#include <libsmartcols/libsmartcols.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sys/ioctl.h>
#include <unistd.h>

namespace ksmtool {

std::string dump(const json &j, bool pretty)
{
	return j.dump(pretty ? 2 : -1, ' ', false, json::error_handler_t::replace);
}

std::string human_bytes(std::int64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	bool neg = bytes < 0;
	// Magnitude as unsigned: -INT64_MIN does not fit in int64_t.
	std::uint64_t mag = neg ? 0 - static_cast<std::uint64_t>(bytes) : bytes;
	char buf[32];
	if (mag < 1024) {
		std::snprintf(buf, sizeof(buf), "%s%llu B", neg ? "-" : "",
		              static_cast<unsigned long long>(mag));
		return buf;
	}
	double v = static_cast<double>(mag) / 1024;
	std::size_t u = 0;
	while (v >= 1024 && u + 1 < std::size(units)) {
		v /= 1024;
		u++;
	}
	std::snprintf(buf, sizeof(buf), "%s%.1f %s", neg ? "-" : "", v, units[u]);
	return buf;
}

namespace {

std::string key_of(const char *name)
{
	std::string k(name);
	for (auto &c : k)
		c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
	return k;
}

std::string upper(std::string s)
{
	for (auto &c : s)
		c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	return s;
}

} // namespace

Output::Output(std::vector<Column> columns, const OutputOptions &opts, std::string &error)
    : all_(std::move(columns)), opts_(opts)
{
	error.clear();
	std::string list = opts.columns;
	bool append = !list.empty() && list.front() == '+';
	if (list.empty() || append) {
		for (std::size_t i = 0; i < all_.size(); i++)
			if (all_[i].dflt)
				selected_.push_back(i);
		if (append)
			list.erase(0, 1);
	}
	std::size_t pos = 0;
	while (pos < list.size()) {
		auto comma = list.find(',', pos);
		auto name = upper(list.substr(pos, comma == list.npos ? list.npos : comma - pos));
		pos = comma == list.npos ? list.size() : comma + 1;
		if (name.empty())
			continue;
		auto it = std::find_if(all_.begin(), all_.end(),
		                       [&](const Column &c) { return name == c.name; });
		if (it == all_.end()) {
			error = "unknown column '" + name + "' (columns:";
			for (const auto &c : all_)
				error += std::string(" ") + c.name;
			error += ")";
			return;
		}
		selected_.push_back(static_cast<std::size_t>(it - all_.begin()));
	}
}

void Output::add(std::vector<Value> row)
{
	row.resize(all_.size());
	rows_.push_back(std::move(row));
}

std::string Output::cell_text(const Value &v, Column::Kind k) const
{
	if (std::holds_alternative<std::monostate>(v))
		return "-";
	if (auto *s = std::get_if<std::string>(&v))
		return *s;
	if (auto *b = std::get_if<bool>(&v))
		return *b ? "yes" : "no";
	if (auto *u = std::get_if<std::uint64_t>(&v))
		return k == Column::Kind::bytes && !opts_.bytes
		           ? human_bytes(static_cast<std::int64_t>(*u))
		           : std::to_string(*u);
	auto n = std::get<std::int64_t>(v);
	if (k == Column::Kind::bytes && !opts_.bytes)
		return human_bytes(n);
	return std::to_string(n);
}

std::string Output::table() const
{
	std::unique_ptr<libscols_table, decltype(&scols_unref_table)> tb(scols_new_table(),
	                                                                 scols_unref_table);
	if (!tb)
		return {};
	scols_table_enable_raw(tb.get(), opts_.raw);
	scols_table_enable_noheadings(tb.get(), opts_.noheadings);
	struct winsize ws {};
	const char *cols = std::getenv("COLUMNS");
	if (cols && std::atoi(cols) > 0) {
		scols_table_set_termforce(tb.get(), SCOLS_TERMFORCE_ALWAYS);
		scols_table_set_termwidth(tb.get(), static_cast<std::size_t>(std::atoi(cols)));
	} else if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	           ws.ws_col > 0) {
		scols_table_set_termforce(tb.get(), SCOLS_TERMFORCE_ALWAYS);
		scols_table_set_termwidth(tb.get(), ws.ws_col);
	} else {
		scols_table_set_termforce(tb.get(), SCOLS_TERMFORCE_NEVER);
	}
	for (std::size_t i : selected_) {
		const auto &c = all_[i];
		int flags = c.kind == Column::Kind::text ? 0 : SCOLS_FL_RIGHT;
		// Free text (names, cgroup paths) may be truncated first.
		if (c.kind == Column::Kind::text && !opts_.raw)
			flags |= SCOLS_FL_TRUNC;
		scols_table_new_column(tb.get(), c.name, 0, flags);
	}
	for (const auto &row : rows_) {
		libscols_line *ln = scols_table_new_line(tb.get(), nullptr);
		if (!ln)
			return {};
		for (std::size_t n = 0; n < selected_.size(); n++) {
			std::size_t i = selected_[n];
			scols_line_set_data(ln, n, cell_text(row[i], all_[i].kind).c_str());
		}
	}
	char *data = nullptr;
	if (scols_print_table_to_string(tb.get(), &data) != 0 || !data)
		return {};
	std::string s(data);
	std::free(data);
	if (!s.empty() && s.back() != '\n')
		s += '\n';
	return s;
}

json Output::json_rows() const
{
	json arr = json::array();
	for (const auto &row : rows_) {
		json o = json::object();
		for (std::size_t i : selected_) {
			const auto &v = row[i];
			auto key = key_of(all_[i].name);
			if (std::holds_alternative<std::monostate>(v))
				o[key] = nullptr;
			else if (auto *s = std::get_if<std::string>(&v))
				o[key] = *s;
			else if (auto *b = std::get_if<bool>(&v))
				o[key] = *b;
			else if (auto *u = std::get_if<std::uint64_t>(&v))
				o[key] = *u;
			else
				o[key] = std::get<std::int64_t>(v);
		}
		arr.push_back(std::move(o));
	}
	return arr;
}

std::string Output::describe(const std::vector<Column> &columns)
{
	std::string s = "Columns (-o; * = default):\n";
	for (const auto &c : columns) {
		char line[160];
		std::snprintf(line, sizeof(line), "  %-12s%s %s\n", c.name, c.dflt ? "*" : " ",
		              c.help);
		s += line;
	}
	return s;
}

} // namespace ksmtool
