// SPDX-License-Identifier: GPL-2.0-or-later
// Column output for humans, in the style of util-linux (lsns, lsblk).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ksmtool {

class Table {
public:
	enum class Align { left, right };
	struct Column {
		std::string header;
		Align align = Align::left;
	};

	explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

	/// Cells beyond the number of columns are ignored, missing ones are empty.
	void add_row(std::vector<std::string> cells);
	std::size_t rows() const { return rows_.size(); }

	/// Header plus rows, columns separated by two spaces, no trailing blanks.
	std::string render(bool header = true) const;

private:
	std::vector<Column> columns_;
	std::vector<std::vector<std::string>> rows_;
};

/// Bytes in binary units for people: "0 B", "4.0 KiB", "1.5 GiB"; negative allowed.
std::string human_bytes(std::int64_t bytes);

} // namespace ksmtool
