// What every store test needs, whatever the backend: ok() to unwrap a Result
// (a thrown failure, so it works in helpers and expressions), builders for
// entries, results, claims and documents, listings of what a store holds, and
// the one place each for the calls whose signature issue 11 changes.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "cybexp/store.h"

namespace cybexp::testing {

// The value of a Result, or a test failure naming the error's kind.
template <class T>
T ok(Result<T> r) {
  if (!r) {
    throw std::runtime_error(std::string(error_kind_name(r.error().kind)) + ": " +
                             r.error().message);
  }
  return std::move(*r);
}
inline void ok(Result<void> r) {
  if (!r) {
    throw std::runtime_error(std::string(error_kind_name(r.error().kind)) + ": " +
                             r.error().message);
  }
}

inline std::vector<std::uint8_t> bytes(std::string_view s) {
  return std::vector<std::uint8_t>(s.begin(), s.end());
}

inline NewEntry new_entry(std::string name, std::string typetag = "unr-honeypot",
                          double timestamp = 1700000000.25) {
  return NewEntry{std::move(name), std::move(typetag), "org1", "UTC", timestamp};
}

inline RawDocument doc(std::string hash, std::string data = R"({"a": "1"})",
                       std::string sub_type = "unr_honeypot") {
  return RawDocument{std::move(hash), std::move(sub_type), "org1", "UTC", std::move(data)};
}

inline EntryResult processed(const std::string& id, std::vector<std::string> refs) {
  return EntryResult{id, EntryFate::kProcessed, std::move(refs), ""};
}
// A skip in `state` (a skip state's name, e.g. kStateBadData).
inline EntryResult skipped(const std::string& id, std::string_view state, std::string reason) {
  return EntryResult{id, fate_from_state(state).value_or(EntryFate::kError), {},
                     std::move(reason)};
}

inline ClaimRequest claim_request(std::string worker, std::size_t max_entries = 64,
                                  bool force = false) {
  ClaimRequest r;
  r.worker = std::move(worker);
  r.max_entries = max_entries;
  r.force = force;
  return r;
}

// The ids of claimed entries (CacheEntry) or listed ones (EntryInfo).
template <class T>
std::vector<std::string> ids_of(const std::vector<T>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) {
    if constexpr (std::is_same_v<T, EntryInfo>) {
      out.push_back(i.entry.id);
    } else {
      out.push_back(i.id);
    }
  }
  return out;
}

inline std::vector<EntryInfo> entries_of(CacheStore& store, const EntryFilter& filter = {}) {
  std::vector<EntryInfo> out;
  ok(store.for_each_entry(filter, [&](const EntryInfo& e) {
    out.push_back(e);
    return true;
  }));
  return out;
}

inline std::vector<RawDocument> documents_of(ArchiveStore& store,
                                             const std::optional<std::string>& sub_type = {}) {
  std::vector<RawDocument> out;
  ok(store.for_each_document(sub_type, [&](const RawDocument& d) {
    out.push_back(d);
    return true;
  }));
  return out;
}

inline std::vector<std::string> hashes_of(const std::vector<RawDocument>& docs) {
  std::vector<std::string> out;
  for (const auto& d : docs) out.push_back(d.hash);
  return out;
}

// ---- the calls of the store interface issue 11 changed, each in one place --
// Tests call these for counts, finish, finish_with_documents, release and
// forced claims, so that the next change of those signatures is made here.

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

using Finished = FinishReport;

inline Result<CacheCounts> try_entry_counts(CacheStore& cache) { return cache.entry_counts(); }
inline CacheCounts entry_counts(CacheStore& cache) { return ok(try_entry_counts(cache)); }
inline ArchiveCounts document_counts(ArchiveStore& archive) {
  return ok(archive.document_counts());
}

inline Result<Finished> try_finish(CacheStore& cache, std::span<const EntryResult> results,
                                   const std::string& worker) {
  return cache.finish(results, worker);
}
inline Finished finish(CacheStore& cache, std::span<const EntryResult> results,
                       const std::string& worker) {
  return ok(try_finish(cache, results, worker));
}
// How many finish() marked.
inline Result<std::uint64_t> try_finish_marked(CacheStore& cache,
                                               std::span<const EntryResult> results,
                                               const std::string& worker) {
  auto report = try_finish(cache, results, worker);
  if (!report) return std::unexpected(report.error());
  return report->marked;
}
inline std::uint64_t finish_marked(CacheStore& cache, std::span<const EntryResult> results,
                                   const std::string& worker) {
  return finish(cache, results, worker).marked;
}

inline Result<Finished> try_finish_with_documents(CacheStore& cache,
                                                  std::span<const RawDocument> docs,
                                                  std::span<const EntryResult> results,
                                                  const std::string& worker) {
  return cache.finish_with_documents(docs, results, worker);
}
inline Finished finish_with_documents(CacheStore& cache, std::span<const RawDocument> docs,
                                      std::span<const EntryResult> results,
                                      const std::string& worker) {
  return ok(try_finish_with_documents(cache, docs, results, worker));
}

// Released after a real try (attempts kept), or untried (the claim's attempt
// is given back).
inline void release_tried(CacheStore& cache, std::span<const std::string> ids,
                          const std::string& worker) {
  ok(cache.release(ids, worker, ReleaseKind::kTried));
}
inline void release_untried(CacheStore& cache, std::span<const std::string> ids,
                            const std::string& worker) {
  ok(cache.release(ids, worker, ReleaseKind::kUntried));
}

// A forced claim that retakes only entries skipped before `finished_before`.
inline ClaimRequest forced_claim(std::string worker, double finished_before) {
  ClaimRequest r = claim_request(std::move(worker), 64, true);
  r.finished_before = finished_before;
  return r;
}

}  // namespace cybexp::testing
