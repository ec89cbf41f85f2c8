// What every store test needs, whatever the backend: ok() to unwrap a Result
// (a thrown failure, so it works in helpers and expressions), builders for
// entries, results, claims and documents, listings of what a store holds, and
// the one place each for the calls whose signature issue 11 changes.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <set>
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
  return EntryResult{id, true, std::move(refs), "", ""};
}
inline EntryResult skipped(const std::string& id, std::string state, std::string reason) {
  return EntryResult{id, false, {}, std::move(state), std::move(reason)};
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

// ---- interface: the calls issue 11 changes, each in one place -------------
// Tests call these, never the store's counts(), finish(),
// finish_with_documents() or release() themselves.

inline double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// What a finish committed; FinishReport's fields (lost: ids whose lease the
// worker no longer held).
struct Finished {
  std::uint64_t inserted = 0;
  std::uint64_t marked = 0;
  std::vector<std::string> lost;
};

inline Result<CacheCounts> try_entry_counts(CacheStore& cache) { return cache.counts(); }
inline CacheCounts entry_counts(CacheStore& cache) { return ok(try_entry_counts(cache)); }
inline ArchiveCounts document_counts(ArchiveStore& archive) { return ok(archive.counts()); }

// The ids among results whose lease `worker` holds now (none when the store
// cannot list them, e.g. for an id it cannot parse).
inline std::set<std::string> leases_held(CacheStore& cache, std::span<const EntryResult> results,
                                         const std::string& worker) {
  EntryFilter filter;
  for (const auto& r : results) filter.ids.push_back(r.id);
  std::set<std::string> held;
  const double now = now_seconds();
  auto listed = cache.for_each_entry(filter, [&](const EntryInfo& info) {
    if (info.lease_owner == worker && info.lease_until > now) held.insert(info.entry.id);
    return true;
  });
  if (!listed) held.clear();
  return held;
}
inline std::vector<std::string> not_in(std::span<const EntryResult> results,
                                       const std::set<std::string>& held) {
  std::vector<std::string> out;
  for (const auto& r : results) {
    if (!held.contains(r.id)) out.push_back(r.id);
  }
  return out;
}

// How many finish() marked, nothing else asked of the store (fit for
// failure tests and throughput figures).
inline Result<std::uint64_t> try_finish_marked(CacheStore& cache,
                                               std::span<const EntryResult> results,
                                               const std::string& worker) {
  return cache.finish(results, worker);
}
inline std::uint64_t finish_marked(CacheStore& cache, std::span<const EntryResult> results,
                                   const std::string& worker) {
  return ok(try_finish_marked(cache, results, worker));
}
// The whole report; lost is read off the store's leases first.
inline Finished finish(CacheStore& cache, std::span<const EntryResult> results,
                       const std::string& worker) {
  Finished f;
  f.lost = not_in(results, leases_held(cache, results, worker));
  f.marked = finish_marked(cache, results, worker);
  return f;
}

// Today's finish_with_documents returns only what it inserted: what it marked
// is read off the store (a marked entry's lease has ended).
inline Result<Finished> try_finish_with_documents(CacheStore& cache,
                                                  std::span<const RawDocument> docs,
                                                  std::span<const EntryResult> results,
                                                  const std::string& worker) {
  const std::set<std::string> before = leases_held(cache, results, worker);
  auto inserted = cache.finish_with_documents(docs, results, worker);
  if (!inserted) return std::unexpected(inserted.error());
  Finished f;
  f.inserted = *inserted;
  f.lost = not_in(results, before);
  const std::set<std::string> after = leases_held(cache, results, worker);
  for (const auto& id : before) f.marked += after.contains(id) ? 0 : 1;
  return f;
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
  ok(cache.release(ids, worker));
}
inline void release_untried(CacheStore& cache, std::span<const std::string> ids,
                            const std::string& worker) {
  ok(cache.release(ids, worker));
}

// A forced claim that retakes only entries skipped before `finished_before`.
inline ClaimRequest forced_claim(std::string worker, double finished_before) {
  ClaimRequest r = claim_request(std::move(worker), 64, true);
  (void)finished_before;
  return r;
}

}  // namespace cybexp::testing
