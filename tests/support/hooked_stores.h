// Stores whose every step of archive_one's store traffic runs a hook before
// and after it, for fault injection: the hook may fail the step (return an
// error, as a dropped connection would) or end the process (_exit, as a kill
// would). Built on the forwarding wrappers (support/store_wrappers.h), so
// everything else, the one-transaction commit included, reaches the real
// stores.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>

#include "cybexp/store.h"
#include "support/store_wrappers.h"

namespace cybexp::testing {

enum class Step {
  kClaim,
  kFetch,
  kPutDocuments,
  kFinish,
  kRelease,
  kFinishWithDocuments,
  kSubtypes
};
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
    case Step::kSubtypes:
      return "subtypes";
  }
  return "?";
}

// Called from any thread (fetch_blob runs on the workers). Returning an
// error before a step skips it; after a step, the step took effect but its
// caller sees the error (a commit whose acknowledgement was lost).
using Hook = std::function<std::optional<Error>(Step, Phase)>;

// Runs op between the hook's two calls.
template <class F>
auto hooked_step(const Hook& hook, Step step, F&& op) -> decltype(op()) {
  if (auto e = hook(step, Phase::kBefore)) return std::unexpected(*e);
  auto r = op();
  if (auto e = hook(step, Phase::kAfter)) return std::unexpected(*e);
  return r;
}

class HookedArchive final : public ArchiveStoreWrapper {
 public:
  HookedArchive(std::shared_ptr<ArchiveStore> target, Hook hook)
      : ArchiveStoreWrapper(std::move(target)), hook_(std::move(hook)) {}
  Result<std::map<std::string, std::string>> subtypes() override {
    return hooked_step(hook_, Step::kSubtypes, [&] { return ArchiveStoreWrapper::subtypes(); });
  }
  Result<std::uint64_t> put_documents(std::span<const RawDocument> d) override {
    return hooked_step(hook_, Step::kPutDocuments,
                       [&] { return ArchiveStoreWrapper::put_documents(d); });
  }

 private:
  Hook hook_;
};

class HookedCache final : public CacheStoreWrapper {
 public:
  HookedCache(std::shared_ptr<CacheStore> target, Hook hook)
      : CacheStoreWrapper(std::move(target)), hook_(std::move(hook)) {}
  Result<std::vector<CacheEntry>> claim(const ClaimRequest& r) override {
    return hooked_step(hook_, Step::kClaim, [&] { return CacheStoreWrapper::claim(r); });
  }
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& e, std::uint64_t m) override {
    return hooked_step(hook_, Step::kFetch, [&] { return CacheStoreWrapper::fetch_blob(e, m); });
  }
  Result<FinishReport> finish(std::span<const EntryResult> r, const std::string& w) override {
    return hooked_step(hook_, Step::kFinish, [&] { return CacheStoreWrapper::finish(r, w); });
  }
  Result<void> release(std::span<const std::string> ids, const std::string& w,
                       ReleaseKind kind) override {
    return hooked_step(hook_, Step::kRelease,
                       [&] { return CacheStoreWrapper::release(ids, w, kind); });
  }
  Result<FinishReport> finish_with_documents(std::span<const RawDocument> docs,
                                             std::span<const EntryResult> results,
                                             const std::string& worker) override {
    return hooked_step(hook_, Step::kFinishWithDocuments, [&] {
      return CacheStoreWrapper::finish_with_documents(docs, results, worker);
    });
  }

 private:
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
