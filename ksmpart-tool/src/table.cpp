// SPDX-License-Identifier: GPL-2.0-or-later
#include "table.hpp"

#include <algorithm>
#include <cstdio>

namespace ksmtool {

void Table::add_row(std::vector<std::string> cells)
{
	cells.resize(columns_.size());
	rows_.push_back(std::move(cells));
}

std::string Table::render(bool header) const
{
	std::vector<std::size_t> width(columns_.size());
	for (std::size_t c = 0; c < columns_.size(); c++) {
		if (header)
			width[c] = columns_[c].header.size();
		for (const auto &row : rows_)
			width[c] = std::max(width[c], row[c].size());
	}

	std::string out;
	auto line = [&](const std::vector<std::string> &cells) {
		std::string l;
		for (std::size_t c = 0; c < cells.size(); c++) {
			if (c)
				l += "  ";
			std::size_t pad = width[c] - cells[c].size();
			if (columns_[c].align == Align::right)
				l.append(pad, ' ') += cells[c];
			else
				(l += cells[c]).append(pad, ' ');
		}
		l.erase(l.find_last_not_of(' ') + 1);
		out += l + '\n';
	};
	if (header) {
		std::vector<std::string> h;
		for (const auto &col : columns_)
			h.push_back(col.header);
		line(h);
	}
	for (const auto &row : rows_)
		line(row);
	return out;
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

} // namespace ksmtool
