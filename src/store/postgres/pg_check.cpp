// `check --deep` on PostgreSQL: every table and index of the schema is there
// (pg_schema.cpp), and for_each_hash, the deep check's scan of the archive
// without reading documents' data.
#include <array>

#include "store/missing_schema_object.h"
#include "store/postgres/pg_values.h"
#include "store/postgres/postgres_store.h"

namespace cybexp::pg {
namespace {

// Hashes read per round trip.
constexpr int kHashPage = 10000;

constexpr std::array<std::pair<const char*, const char*>, 8> kSchemaObjects = {{
    {"table", "cybexp_meta"},
    {"table", "cybexp_entries"},
    {"table", "cybexp_blobs"},
    {"table", "cybexp_documents"},
    {"table", "cybexp_subtypes"},
    {"index", "cybexp_entries_claimable"},
    {"index", "cybexp_entries_unprocessed"},
    {"index", "cybexp_documents_sub_type"},
}};

}  // namespace

// The server checks its own pages (data checksums, if enabled at initdb);
// what a client can see is whether the schema is whole.
Result<std::vector<std::string>> PostgresStore::check_database(CheckDepth depth) {
  std::vector<std::string> problems;
  if (depth != CheckDepth::kDeep) return problems;
  const std::string sql = "SELECT to_regclass($1) IS NULL";
  for (const auto& [type, name] : kSchemaObjects) {
    Params p;
    p.text(name);
    auto res = CYBEXP_TRY(conn_.exec("check", sql, p));
    if (get_text(res.get(), 0, 0) == "t") {
      problems.push_back(missing_schema_object(conn_.label(), "database", type, name));
    }
  }
  return problems;
}

Result<void> PostgresStore::for_each_hash(
    const std::function<bool(const std::string&, const std::string&)>& fn) {
  const std::string sql = "SELECT seq, hash, sub_type FROM cybexp_documents WHERE seq > $1 "
                          "ORDER BY seq LIMIT " + std::to_string(kHashPage);
  std::int64_t after = 0;
  for (;;) {
    Params p;
    p.int8(after);
    auto res = CYBEXP_TRY(conn_.exec("for_each_hash", sql, p));
    const int rows = PQntuples(res.get());
    for (int i = 0; i < rows; ++i) {
      after = get_int(res.get(), i, 0);
      if (!fn(std::string(get_text(res.get(), i, 1)), std::string(get_text(res.get(), i, 2)))) {
        return {};
      }
    }
    if (rows < kHashPage) return {};
  }
}

}  // namespace cybexp::pg
