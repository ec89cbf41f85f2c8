// Result column readers and array literals (see pg_values.h).
#include "store/postgres/pg_values.h"

#include <bit>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "store/postgres/pg_connection.h"

namespace cybexp::pg {
namespace {

std::uint64_t be_uint(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

bool binary(const PGresult* res, int col) { return PQfformat(res, col) == 1; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void append_quoted(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

}  // namespace

bool is_null(const PGresult* res, int row, int col) { return PQgetisnull(res, row, col) != 0; }

std::string_view get_text(const PGresult* res, int row, int col) {
  if (is_null(res, row, col)) return {};
  return {PQgetvalue(res, row, col), static_cast<std::size_t>(PQgetlength(res, row, col))};
}

std::int64_t get_int(const PGresult* res, int row, int col) {
  if (is_null(res, row, col)) return 0;
  const char* p = PQgetvalue(res, row, col);
  int len = PQgetlength(res, row, col);
  if (binary(res, col)) {
    // Sign-extend from the column's width (int2, int4 or int8).
    if (len == 2) return static_cast<std::int16_t>(be_uint(p, 2));
    if (len == 4) return static_cast<std::int32_t>(be_uint(p, 4));
    if (len == 8) return static_cast<std::int64_t>(be_uint(p, 8));
    return 0;
  }
  std::int64_t v = 0;
  std::from_chars(p, p + len, v);
  return v;
}

double get_double(const PGresult* res, int row, int col) {
  if (is_null(res, row, col)) return 0;
  const char* p = PQgetvalue(res, row, col);
  if (binary(res, col)) {
    Oid type = PQftype(res, col);
    if (type == kFloat8Oid) return std::bit_cast<double>(be_uint(p, 8));
    if (type == kFloat4Oid)
      return std::bit_cast<float>(static_cast<std::uint32_t>(be_uint(p, 4)));
    return static_cast<double>(get_int(res, row, col));
  }
  // strtod reads "Infinity", "-Infinity" and "NaN" as the server writes them.
  return std::strtod(p, nullptr);
}

bool get_bool(const PGresult* res, int row, int col) {
  if (is_null(res, row, col)) return false;
  const char* p = PQgetvalue(res, row, col);
  return binary(res, col) ? p[0] != 0 : p[0] == 't';
}

std::vector<std::uint8_t> get_bytes(const PGresult* res, int row, int col) {
  if (is_null(res, row, col)) return {};
  const char* p = PQgetvalue(res, row, col);
  std::size_t len = static_cast<std::size_t>(PQgetlength(res, row, col));
  if (binary(res, col) || PQftype(res, col) != kByteaOid) {
    return std::vector<std::uint8_t>(reinterpret_cast<const std::uint8_t*>(p),
                                     reinterpret_cast<const std::uint8_t*>(p) + len);
  }
  // Text format bytea is "\x" and hex (bytea_output = hex, the default since 9.0).
  std::vector<std::uint8_t> out;
  if (len >= 2 && p[0] == '\\' && p[1] == 'x') {
    out.reserve((len - 2) / 2);
    for (std::size_t i = 2; i + 1 < len; i += 2)
      out.push_back(static_cast<std::uint8_t>(hex_value(p[i]) * 16 + hex_value(p[i + 1])));
  }
  return out;
}

std::vector<std::string> get_text_array(const PGresult* res, int row, int col) {
  if (is_null(res, row, col)) return {};
  return parse_text_array(get_text(res, row, col));
}

std::uint64_t rows_affected(const PGresult* res) {
  // PQcmdTuples takes a non-const pointer but only reads.
  std::string_view n = PQcmdTuples(const_cast<PGresult*>(res));
  std::uint64_t v = 0;
  std::from_chars(n.data(), n.data() + n.size(), v);
  return v;
}

std::string int_array_literal(std::span<const std::int64_t> values) {
  std::string out = "{";
  char buf[24];
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, values[i]);
    out.append(buf, end);
  }
  out += '}';
  return out;
}

std::string bool_array_literal(const std::vector<bool>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += values[i] ? 't' : 'f';
  }
  out += '}';
  return out;
}

std::string text_array_literal(std::span<const std::string> values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    // Always quoted: an unquoted NULL, empty string or one with braces,
    // commas or spaces would be read differently.
    append_quoted(out, values[i]);
  }
  out += '}';
  return out;
}

std::vector<std::string> parse_text_array(std::string_view text) {
  std::vector<std::string> out;
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') return out;
  std::string_view body = text.substr(1, text.size() - 2);
  std::size_t i = 0;
  while (i < body.size()) {
    std::string item;
    if (body[i] == '"') {
      for (++i; i < body.size() && body[i] != '"'; ++i) {
        if (body[i] == '\\' && i + 1 < body.size()) ++i;
        item += body[i];
      }
      ++i;  // closing quote
    } else {
      // Unquoted items have no quotes, backslashes, commas or spaces
      // (the server quotes those); NULL cannot occur in refs.
      std::size_t end = body.find(',', i);
      if (end == std::string_view::npos) end = body.size();
      item.assign(body.substr(i, end - i));
      i = end;
    }
    out.push_back(std::move(item));
    if (i < body.size() && body[i] == ',') ++i;
  }
  return out;
}

std::optional<std::int64_t> parse_id(std::string_view id) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), v);
  if (ec != std::errc() || end != id.data() + id.size() || v <= 0) return std::nullopt;
  return v;
}

}  // namespace cybexp::pg
