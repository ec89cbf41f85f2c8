// `check` on the embedded store: the file's own consistency (quick_check, or
// integrity_check for --deep) and, for --deep, that every table and index of
// the schema is there; and for_each_hash, the deep check's scan of the
// archive without reading documents' data.
#include <array>

#include "store/missing_schema_object.h"
#include "store/sqlite/sqlite_store.h"

namespace cybexp::sqlite {
namespace {

// Lines of a failed quick_check / integrity_check shown; the rest counted.
constexpr std::size_t kShownLines = 3;

// Every table and index of schema version 1 (sqlite_schema.cpp).
constexpr std::array<std::pair<const char*, const char*>, 8> kSchemaObjects = {{
    {"table", "entries"},
    {"table", "blobs"},
    {"table", "documents"},
    {"table", "subtypes"},
    {"index", "entries_claimable"},
    {"index", "entries_unprocessed"},
    {"index", "entries_leased"},
    {"index", "documents_sub_type"},
}};

std::string corrupt_line(const std::string& path, const std::string& pragma,
                         const std::string& findings) {
  return "sqlite " + path + ": the database file is corrupt (" + pragma + ": " + findings +
         "): " + corruption_advice(path);
}

}  // namespace

Result<std::vector<std::string>> SqliteStore::check_database(CheckDepth depth) {
  std::lock_guard lock(mu_);
  std::vector<std::string> problems;
  const std::string pragma = depth == CheckDepth::kDeep ? "integrity_check" : "quick_check";
  auto rows = CYBEXP_TRY(db_->prepare("PRAGMA " + pragma + "(100)", "check"));
  std::vector<std::string> lines;
  for (;;) {
    auto row = rows.step();
    if (!row) {
      // A file too damaged to walk fails the pragma itself.
      if (!is_corruption(db_->last_error_code())) return std::unexpected(row.error());
      lines.push_back(sqlite3_errmsg(db_->handle()));
      break;
    }
    if (!*row) break;
    lines.push_back(rows.column_text(0));
  }
  if (!(lines.size() == 1 && lines[0] == "ok")) {
    std::string shown;
    for (std::size_t i = 0; i < lines.size() && i < kShownLines; ++i) {
      shown += (i ? "; " : "") + lines[i];
    }
    if (lines.size() > kShownLines) {
      shown += "; " + std::to_string(lines.size() - kShownLines) + " more";
    }
    problems.push_back(corrupt_line(path_, pragma, shown));
    return problems;  // the schema cannot be judged on a corrupt file
  }
  if (depth == CheckDepth::kDeep) {
    auto find = CYBEXP_TRY(
        db_->prepare("SELECT count(*) FROM sqlite_master WHERE type = ?1 AND name = ?2", "check"));
    for (const auto& [type, name] : kSchemaObjects) {
      find.bind(1, std::string_view(type)).bind(2, std::string_view(name));
      CYBEXP_TRY(find.step());
      const bool present = find.column_int64(0) == 1;
      find.reset();
      if (!present) {
        problems.push_back(missing_schema_object("sqlite " + path_, "file", type, name));
      }
    }
  }
  return problems;
}

Result<void> SqliteStore::for_each_hash(
    const std::function<bool(const std::string&, const std::string&)>& fn) {
  std::lock_guard lock(mu_);
  auto rows =
      CYBEXP_TRY(db_->prepare("SELECT hash, sub_type FROM documents ORDER BY seq", "for_each_hash"));
  while (CYBEXP_TRY(rows.step())) {
    if (!fn(rows.column_text(0), rows.column_text(1))) break;
  }
  return {};
}

}  // namespace cybexp::sqlite
