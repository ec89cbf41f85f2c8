// PostgresStore as the archive database: Raw documents and the sub-type
// registry (see postgres_store.h). Document text is stored exactly as given
// and read back byte for byte: it travels as binary-format text parameters
// over a UTF8 client encoding, so nothing is escaped or converted.
#include <algorithm>
#include <numeric>
#include <string>

#include "store/postgres/pg_schema.h"
#include "store/postgres/pg_values.h"
#include "store/postgres/postgres_store.h"

namespace cybexp::pg {
namespace {

// One INSERT carries at most this many documents or bytes: PostgreSQL allows
// 65535 parameters and 1 GB per protocol message.
constexpr std::size_t kInsertRows = 1000;
constexpr std::uint64_t kInsertBytes = 256ull << 20;
// for_each_document reads pages of at most this many documents and, past the
// first document of a page, this many bytes of data.
constexpr int kDocPage = 1000;
constexpr std::int64_t kDocPageBytes = 64LL << 20;

bool identifier(std::string_view s) {
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (s.empty() || !alpha(s[0])) return false;
  for (char c : s.substr(1)) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string insert_sql(std::size_t rows) {
  std::string sql =
      "INSERT INTO cybexp_documents (seq, hash, sub_type, orgid, timezone, data) VALUES ";
  for (std::size_t i = 0; i < rows; ++i) {
    std::size_t b = i * 6;
    if (i) sql += ',';
    sql += '(';
    for (std::size_t j = 1; j <= 6; ++j) sql += (j > 1 ? ",$" : "$") + std::to_string(b + j);
    sql += ')';
  }
  // Duplicates (already stored, or twice in this batch) are skipped, so the
  // command's row count is the number of new documents.
  sql += " ON CONFLICT (hash) DO NOTHING";
  return sql;
}

// n values of seq (the bigserial's sequence, named by PostgreSQL's rule
// TABLE_COLUMN_seq) in one round trip: insert_documents inserts in _hash
// order but numbers the documents in the order given.
const Statement kReserveSeq{"cybexp_reserve_seq",
                            "SELECT nextval('cybexp_documents_seq_seq') "
                            "FROM generate_series(1, $1::bigint)"};

}  // namespace

Result<std::uint64_t> PostgresStore::insert_documents(std::string_view what,
                                                      std::span<const RawDocument> docs) {
  if (docs.empty()) return 0;
  // Rows go in in _hash order. An insert that meets another transaction's
  // uncommitted row with the same _hash waits for it; two workers committing
  // the same documents in opposite orders (the same payload uploaded twice,
  // claimed by different workers) would each wait for the other, and the
  // server would break the deadlock after a second by failing one commit.
  // One global order makes that impossible. seq still numbers the documents
  // in the order given, so that export lists them in upload order.
  Params reserve;
  reserve.int8(static_cast<std::int64_t>(docs.size()));
  auto seq_res = CYBEXP_TRY(conn_.exec(what, kReserveSeq, reserve));
  if (PQntuples(seq_res.get()) != static_cast<int>(docs.size())) {
    return std::unexpected(conn_.error(what, "could not reserve document numbers"));
  }
  std::vector<std::int64_t> seqs(docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) seqs[i] = get_int(seq_res.get(), static_cast<int>(i), 0);
  std::sort(seqs.begin(), seqs.end());
  std::vector<std::size_t> order(docs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // Stable: of two equal _hashes in one call, the first given is the one kept.
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return docs[a].hash < docs[b].hash; });

  std::uint64_t inserted = 0;
  std::size_t start = 0;
  while (start < order.size()) {
    std::size_t end = start;
    std::uint64_t bytes = 0;
    Params p;
    while (end < order.size() && end - start < kInsertRows &&
           (end == start || bytes + docs[order[end]].data_json.size() <= kInsertBytes)) {
      const RawDocument& d = docs[order[end]];
      p.int8(seqs[order[end]]).text(d.hash).text(d.sub_type).text(d.orgid).text(d.timezone)
          .text(d.data_json);
      bytes += d.data_json.size();
      ++end;
    }
    auto res = CYBEXP_TRY(conn_.exec(what, insert_sql(end - start), p));
    inserted += rows_affected(res.get());
    start = end;
  }
  return inserted;
}

Result<std::uint64_t> PostgresStore::put_documents(std::span<const RawDocument> docs) {
  if (docs.empty()) return 0;
  // Several INSERTs commit together, so that an error reports nothing stored.
  return conn_.transaction("put_documents",
                           [&] { return insert_documents("put_documents", docs); });
}

Result<void> PostgresStore::for_each_document(
    const std::optional<std::string>& sub_type,
    const std::function<bool(const RawDocument&)>& fn) {
  // Pages by seq. The running byte total (octet_length reads the stored size
  // without fetching the value) keeps a page of large documents in bounds.
  std::string sql =
      "WITH w AS (SELECT seq, sum(octet_length(data)) OVER (ORDER BY seq) AS total "
      "FROM cybexp_documents WHERE seq > $1";
  if (sub_type) sql += " AND sub_type = $3";
  sql += " ORDER BY seq LIMIT " + std::to_string(kDocPage) +
         ") SELECT d.seq, d.hash, d.sub_type, d.orgid, d.timezone, d.data "
         "FROM w JOIN cybexp_documents d ON d.seq = w.seq "
         "WHERE w.total <= $2 OR w.seq = (SELECT min(seq) FROM w) ORDER BY d.seq";
  std::int64_t after = 0;
  for (;;) {
    Params p;
    p.int8(after).int8(kDocPageBytes);
    if (sub_type) p.text(*sub_type);
    auto res = CYBEXP_TRY(conn_.exec("for_each_document", sql, p));
    const PGresult* r = res.get();
    int rows = PQntuples(r);
    if (rows == 0) return {};
    for (int i = 0; i < rows; ++i) {
      after = get_int(r, i, 0);
      RawDocument doc;
      doc.hash = get_text(r, i, 1);
      doc.sub_type = get_text(r, i, 2);
      doc.orgid = get_text(r, i, 3);
      doc.timezone = get_text(r, i, 4);
      doc.data_json = get_text(r, i, 5);
      if (!fn(doc)) return {};
    }
  }
}

Result<ArchiveCounts> PostgresStore::document_counts() {
  auto res = CYBEXP_TRY(conn_.exec(
      "counts", std::string("SELECT count(*), coalesce(sum(octet_length(data)), 0) "
                            "FROM cybexp_documents")));
  return ArchiveCounts{static_cast<std::uint64_t>(get_int(res.get(), 0, 0)),
                       static_cast<std::uint64_t>(get_int(res.get(), 0, 1))};
}

Result<std::map<std::string, std::string>> PostgresStore::subtypes() {
  auto res = CYBEXP_TRY(
      conn_.exec("subtypes", std::string("SELECT typetag, sub_type FROM cybexp_subtypes")));
  std::map<std::string, std::string> out;
  for (int i = 0; i < PQntuples(res.get()); ++i) {
    out.emplace(get_text(res.get(), i, 0), get_text(res.get(), i, 1));
  }
  return out;
}

Result<void> PostgresStore::add_subtype(const std::string& typetag, const std::string& sub_type) {
  if (typetag.empty()) {
    return make_error(ErrorKind::kInvalidArgument, "postgresql: add_subtype: empty typetag");
  }
  if (!identifier(sub_type)) {
    return make_error(ErrorKind::kInvalidArgument,
                      "postgresql: add_subtype: sub type '" + sub_type +
                          "' is not an identifier ([A-Za-z_][A-Za-z0-9_]*)");
  }
  Params p;
  p.text(typetag).text(sub_type);
  CYBEXP_TRY(conn_.exec("add_subtype",
                        std::string("INSERT INTO cybexp_subtypes (typetag, sub_type) VALUES ($1, $2) "
                                    "ON CONFLICT (typetag) DO UPDATE SET sub_type = EXCLUDED.sub_type"),
                        p));
  return {};
}

Result<bool> PostgresStore::remove_subtype(const std::string& typetag) {
  Params p;
  p.text(typetag);
  auto res = CYBEXP_TRY(conn_.exec(
      "remove_subtype", std::string("DELETE FROM cybexp_subtypes WHERE typetag = $1"), p));
  return rows_affected(res.get()) > 0;
}

Result<int> PostgresStore::schema_version() { return read_schema_version(conn_, "schema_version"); }

}  // namespace cybexp::pg
