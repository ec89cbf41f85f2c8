// Store wrappers for fault injection that also cover the combined store:
// unlike support/faulty_store.h they forward shares_database_with() and
// finish_with_documents(), so the one-transaction commit path is tested too.
// A hook runs before and after every step of archive_one's store traffic and
// may fail it (return an error, as a dropped connection would) or end the
// process (_exit, as a kill would).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "cybexp/store.h"
#include "store/backends.h"

namespace cybexp::testing {

enum class Step { kClaim, kFetch, kPutDocuments, kFinish, kRelease, kFinishWithDocuments };
enum class Phase { kBefore, kAfter };

inline const char* step_name(Step s) {
  switch (s) {
    case Step::kClaim:
      return "claim";
    case Step::kFetch:
      return "fetch_blob";
    case Step::kPutDocuments:
      return "put_documents";
    case Step::kFinish:
      return "finish";
    case Step::kRelease:
      return "release";
    case Step::kFinishWithDocuments:
      return "finish_with_documents";
  }
  return "?";
}

// Called from any thread (fetch_blob runs on the workers). Returning an
// error before a step skips it; after a step, the step took effect but its
// caller sees the error (a commit whose acknowledgement was lost).
using Hook = std::function<std::optional<Error>(Step, Phase)>;

class HookedCache;

class HookedArchive final : public ArchiveStore {
 public:
  HookedArchive(std::shared_ptr<ArchiveStore> inner, Hook hook)
      : inner_(std::move(inner)), hook_(std::move(hook)) {}
  Result<std::map<std::string, std::string>> subtypes() override { return inner_->subtypes(); }
  Result<void> add_subtype(const std::string& t, const std::string& s) override {
    return inner_->add_subtype(t, s);
  }
  Result<bool> remove_subtype(const std::string& t) override { return inner_->remove_subtype(t); }
  Result<std::uint64_t> put_documents(std::span<const RawDocument> d) override {
    if (auto e = hook_(Step::kPutDocuments, Phase::kBefore)) return std::unexpected(*e);
    auto r = inner_->put_documents(d);
    if (auto e = hook_(Step::kPutDocuments, Phase::kAfter)) return std::unexpected(*e);
    return r;
  }
  Result<void> for_each_document(const std::optional<std::string>& s,
                                 const std::function<bool(const RawDocument&)>& fn) override {
    return inner_->for_each_document(s, fn);
  }
  Result<ArchiveCounts> document_counts() override { return inner_->document_counts(); }
  Result<int> schema_version() override { return inner_->schema_version(); }

 private:
  friend class HookedCache;
  std::shared_ptr<ArchiveStore> inner_;
  Hook hook_;
};

class HookedCache final : public CacheStore {
 public:
  HookedCache(std::shared_ptr<CacheStore> inner, Hook hook)
      : inner_(std::move(inner)), hook_(std::move(hook)) {}
  Result<std::string> add_entry(const NewEntry& e, std::span<const std::uint8_t> b) override {
    return inner_->add_entry(e, b);
  }
  Result<std::vector<CacheEntry>> claim(const ClaimRequest& r) override {
    return wrap(Step::kClaim, [&] { return inner_->claim(r); });
  }
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& e, std::uint64_t m) override {
    return wrap(Step::kFetch, [&] { return inner_->fetch_blob(e, m); });
  }
  Result<FinishReport> finish(std::span<const EntryResult> r, const std::string& w) override {
    return wrap(Step::kFinish, [&] { return inner_->finish(r, w); });
  }
  Result<void> release(std::span<const std::string> ids, const std::string& w,
                       ReleaseKind kind) override {
    return wrap(Step::kRelease, [&] { return inner_->release(ids, w, kind); });
  }
  bool shares_database_with(const ArchiveStore& archive) const override {
    const auto* hooked = dynamic_cast<const HookedArchive*>(&archive);
    return hooked != nullptr && inner_->shares_database_with(*hooked->inner_);
  }
  Result<FinishReport> finish_with_documents(std::span<const RawDocument> docs,
                                              std::span<const EntryResult> results,
                                              const std::string& worker) override {
    return wrap(Step::kFinishWithDocuments,
                [&] { return inner_->finish_with_documents(docs, results, worker); });
  }
  Result<std::uint64_t> count_claimable(bool force) override {
    return inner_->count_claimable(force);
  }
  Result<CacheCounts> entry_counts() override { return inner_->entry_counts(); }
  Result<void> for_each_entry(const EntryFilter& f,
                              const std::function<bool(const EntryInfo&)>& fn) override {
    return inner_->for_each_entry(f, fn);
  }
  Result<std::uint64_t> requeue(const EntryFilter& f) override { return inner_->requeue(f); }

 private:
  template <class F>
  auto wrap(Step step, F&& op) -> decltype(op()) {
    if (auto e = hook_(step, Phase::kBefore)) return std::unexpected(*e);
    auto r = op();
    if (auto e = hook_(step, Phase::kAfter)) return std::unexpected(*e);
    return r;
  }

  std::shared_ptr<CacheStore> inner_;
  Hook hook_;
};

inline Stores hooked(const Stores& real, const Hook& hook) {
  return Stores{std::make_shared<HookedCache>(real.cache, hook),
                std::make_shared<HookedArchive>(real.archive, hook)};
}

// A hook that acts on the n-th call (1-based) of one step and phase.
class NthCall {
 public:
  NthCall(Step step, Phase phase, int n) : step_(step), phase_(phase), n_(n) {}
  bool hit(Step s, Phase p) {
    if (s != step_ || p != phase_) return false;
    return ++seen_ == n_;
  }
  int seen() const { return seen_.load(); }

 private:
  Step step_;
  Phase phase_;
  int n_;
  std::atomic<int> seen_{0};
};

}  // namespace cybexp::testing
