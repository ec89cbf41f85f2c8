// Fault injection for the stores: wraps real stores and fails chosen
// operations a chosen number of times with kDatabase, as a dropped connection
// or a full disk would. Used to prove that no entry is lost or marked done
// without its document.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "cybexp/store.h"

namespace cybexp::testing {

enum class Op { kClaim, kFetch, kFinish, kRelease, kPutDocuments, kSubtypes, kFinishWithDocuments };

class Faults {
 public:
  void fail(Op op, int times) {
    std::lock_guard lock(mu_);
    remaining_[op] = times;
  }
  bool should_fail(Op op) {
    std::lock_guard lock(mu_);
    auto it = remaining_.find(op);
    if (it == remaining_.end() || it->second == 0) return false;
    --it->second;
    ++injected_[op];
    return true;
  }
  int injected(Op op) {
    std::lock_guard lock(mu_);
    return injected_[op];
  }

 private:
  std::mutex mu_;
  std::map<Op, int> remaining_;
  std::map<Op, int> injected_;
};

inline std::unexpected<Error> injected_failure(const char* what) {
  return make_error(ErrorKind::kDatabase, std::string("injected failure: ") + what);
}

class FaultyCache final : public CacheStore {
 public:
  FaultyCache(std::shared_ptr<CacheStore> inner, std::shared_ptr<Faults> f)
      : inner_(std::move(inner)), f_(std::move(f)) {}
  Result<std::string> add_entry(const NewEntry& e, std::span<const std::uint8_t> b) override {
    return inner_->add_entry(e, b);
  }
  Result<std::vector<CacheEntry>> claim(const ClaimRequest& r) override {
    if (f_->should_fail(Op::kClaim)) return injected_failure("claim");
    return inner_->claim(r);
  }
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& e, std::uint64_t m) override {
    if (f_->should_fail(Op::kFetch)) return injected_failure("fetch_blob");
    return inner_->fetch_blob(e, m);
  }
  Result<FinishReport> finish(std::span<const EntryResult> r, const std::string& w) override {
    if (f_->should_fail(Op::kFinish)) return injected_failure("finish");
    return inner_->finish(r, w);
  }
  Result<void> release(std::span<const std::string> ids, const std::string& w,
                       ReleaseKind kind) override {
    if (f_->should_fail(Op::kRelease)) return injected_failure("release");
    return inner_->release(ids, w, kind);
  }
  Result<std::uint64_t> count_claimable(bool force) override { return inner_->count_claimable(force); }
  Result<CacheCounts> entry_counts() override { return inner_->entry_counts(); }
  Result<void> for_each_entry(const EntryFilter& f,
                              const std::function<bool(const EntryInfo&)>& fn) override {
    return inner_->for_each_entry(f, fn);
  }
  Result<std::uint64_t> requeue(const EntryFilter& f) override { return inner_->requeue(f); }

 private:
  std::shared_ptr<CacheStore> inner_;
  std::shared_ptr<Faults> f_;
};

class FaultyArchive final : public ArchiveStore {
 public:
  FaultyArchive(std::shared_ptr<ArchiveStore> inner, std::shared_ptr<Faults> f)
      : inner_(std::move(inner)), f_(std::move(f)) {}
  Result<std::map<std::string, std::string>> subtypes() override {
    if (f_->should_fail(Op::kSubtypes)) return injected_failure("subtypes");
    return inner_->subtypes();
  }
  Result<void> add_subtype(const std::string& t, const std::string& s) override {
    return inner_->add_subtype(t, s);
  }
  Result<bool> remove_subtype(const std::string& t) override { return inner_->remove_subtype(t); }
  Result<std::uint64_t> put_documents(std::span<const RawDocument> d) override {
    if (f_->should_fail(Op::kPutDocuments)) return injected_failure("put_documents");
    return inner_->put_documents(d);
  }
  Result<void> for_each_document(const std::optional<std::string>& s,
                                 const std::function<bool(const RawDocument&)>& fn) override {
    return inner_->for_each_document(s, fn);
  }
  Result<ArchiveCounts> document_counts() override { return inner_->document_counts(); }
  Result<int> schema_version() override { return inner_->schema_version(); }

 private:
  std::shared_ptr<ArchiveStore> inner_;
  std::shared_ptr<Faults> f_;
};

inline Stores faulty(const Stores& real, const std::shared_ptr<Faults>& f) {
  return Stores{std::make_shared<FaultyCache>(real.cache, f),
                std::make_shared<FaultyArchive>(real.archive, f)};
}

}  // namespace cybexp::testing
