// Reading result columns and writing array parameters for the PostgreSQL
// store. Readers accept both result formats: claim() and fetch_blob() ask for
// binary results (bytea arrives as raw bytes, not as hex text twice its size),
// the other queries for text.
//
// Thread safety: pure functions.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cybexp::pg {

bool is_null(const PGresult* res, int row, int col);
std::string_view get_text(const PGresult* res, int row, int col);  // "" when NULL
std::int64_t get_int(const PGresult* res, int row, int col);       // 0 when NULL
double get_double(const PGresult* res, int row, int col);          // 0 when NULL
bool get_bool(const PGresult* res, int row, int col);              // false when NULL
std::vector<std::uint8_t> get_bytes(const PGresult* res, int row, int col);
// A text[] column (text format); empty when NULL.
std::vector<std::string> get_text_array(const PGresult* res, int row, int col);

// Rows an INSERT, UPDATE or DELETE changed.
std::uint64_t rows_affected(const PGresult* res);

// Array literals in PostgreSQL's text input format.
std::string int_array_literal(std::span<const std::int64_t> values);
std::string bool_array_literal(const std::vector<bool>& values);
std::string text_array_literal(std::span<const std::string> values);

// Parses PostgreSQL's text output of a one-dimensional text[] ("{a,"b c"}").
std::vector<std::string> parse_text_array(std::string_view text);

// An entry id as the store hands it out (a positive bigint in decimal).
std::optional<std::int64_t> parse_id(std::string_view id);

}  // namespace cybexp::pg
