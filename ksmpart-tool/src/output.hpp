// SPDX-License-Identifier: GPL-2.0-or-later
// Output in the conventions of util-linux (lsblk, findmnt, lsns): tables
// through libsmartcols with -o/--output column selection, -n, -r and -b,
// and JSON through nlohmann-json (always valid UTF-8: invalid bytes become
// U+FFFD). JSON keys are the column names in lower case, '-' as '_'.
#pragma once

#include "cli.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace ksmtool {

using json = nlohmann::ordered_json;

/// Serialise for output: compact (one line) or indented, never throwing on
/// invalid UTF-8 (replaced by U+FFFD).
std::string dump(const json &j, bool pretty);

/// Bytes in binary units for people: "0 B", "4.0 KiB", "1.5 GiB"; negative allowed.
std::string human_bytes(std::int64_t bytes);

struct Column {
	enum class Kind { text, number, bytes, flag };
	const char *name;
	Kind kind;
	bool dflt; ///< shown without -o
	const char *help;
};

/// A cell: nothing (shown as "-", JSON null), text, a number (ids are full
/// u64), or a flag.
using Value = std::variant<std::monostate, std::string, std::int64_t, std::uint64_t, bool>;

class Output {
public:
	/// `error` is set if -o names an unknown column.
	Output(std::vector<Column> columns, const OutputOptions &opts, std::string &error);

	/// One value per column of the constructor's list, in that order.
	void add(std::vector<Value> row);
	std::size_t rows() const { return rows_.size(); }

	/// The selected columns as a table (header unless -n; -r: raw).
	std::string table() const;
	/// The selected columns as an array of objects.
	json json_rows() const;
	/// The names of every column with their help, for --help footers.
	static std::string describe(const std::vector<Column> &columns);

private:
	std::string cell_text(const Value &v, Column::Kind k) const;
	std::vector<Column> all_;
	std::vector<std::size_t> selected_;
	OutputOptions opts_;
	std::vector<std::vector<Value>> rows_;
};

} // namespace ksmtool
