// Stores that forward every call to another store (a target), as leveldb's
// EnvWrapper forwards to an Env: a fake or a fault injector derives from one
// and overrides only the calls it changes.
//
//   class SlowFetch : public CacheStoreWrapper {
//     using CacheStoreWrapper::CacheStoreWrapper;
//     Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& e, std::uint64_t m) override {
//       std::this_thread::sleep_for(10ms);
//       return CacheStoreWrapper::fetch_blob(e, m);
//     }
//   };
//
// shares_database_with() looks through wrappers on both sides, so wrapped
// stores on one database still take the one-transaction commit.
#pragma once

#include <memory>
#include <utility>

#include "cybexp/store.h"

namespace cybexp::testing {

class ArchiveStoreWrapper : public ArchiveStore {
 public:
  explicit ArchiveStoreWrapper(std::shared_ptr<ArchiveStore> target) : target_(std::move(target)) {}
  ArchiveStore& target() const { return *target_; }

  // The store behind any number of wrappers.
  static const ArchiveStore& innermost(const ArchiveStore& store) {
    const auto* wrapper = dynamic_cast<const ArchiveStoreWrapper*>(&store);
    return wrapper == nullptr ? store : innermost(*wrapper->target_);
  }

  Result<std::map<std::string, std::string>> subtypes() override { return target_->subtypes(); }
  Result<void> add_subtype(const std::string& typetag, const std::string& sub_type) override {
    return target_->add_subtype(typetag, sub_type);
  }
  Result<bool> remove_subtype(const std::string& typetag) override {
    return target_->remove_subtype(typetag);
  }
  std::optional<std::string> validate(const RawDocument& doc) const override {
    return target_->validate(doc);
  }
  Result<std::uint64_t> put_documents(std::span<const RawDocument> docs) override {
    return target_->put_documents(docs);
  }
  Result<void> for_each_document(const std::optional<std::string>& sub_type,
                                 const std::function<bool(const RawDocument&)>& fn) override {
    return target_->for_each_document(sub_type, fn);
  }
  Result<ArchiveCounts> document_counts() override { return target_->document_counts(); }
  Result<int> schema_version() override { return target_->schema_version(); }

 private:
  std::shared_ptr<ArchiveStore> target_;
};

class CacheStoreWrapper : public CacheStore {
 public:
  explicit CacheStoreWrapper(std::shared_ptr<CacheStore> target) : target_(std::move(target)) {}
  CacheStore& target() const { return *target_; }

  Result<std::string> add_entry(const NewEntry& entry,
                                std::span<const std::uint8_t> blob) override {
    return target_->add_entry(entry, blob);
  }
  Result<std::vector<CacheEntry>> claim(const ClaimRequest& request) override {
    return target_->claim(request);
  }
  Result<std::vector<std::uint8_t>> fetch_blob(const CacheEntry& entry,
                                               std::uint64_t max_bytes) override {
    return target_->fetch_blob(entry, max_bytes);
  }
  Result<FinishReport> finish(std::span<const EntryResult> results,
                              const std::string& worker) override {
    return target_->finish(results, worker);
  }
  Result<void> release(std::span<const std::string> ids, const std::string& worker,
                       ReleaseKind kind) override {
    return target_->release(ids, worker, kind);
  }
  bool shares_database_with(const ArchiveStore& archive) const override {
    return target_->shares_database_with(ArchiveStoreWrapper::innermost(archive));
  }
  Result<FinishReport> finish_with_documents(std::span<const RawDocument> docs,
                                             std::span<const EntryResult> results,
                                             const std::string& worker) override {
    return target_->finish_with_documents(docs, results, worker);
  }
  Result<std::uint64_t> count_claimable(bool force) override {
    return target_->count_claimable(force);
  }
  Result<CacheCounts> entry_counts() override { return target_->entry_counts(); }
  Result<void> for_each_entry(const EntryFilter& filter,
                              const std::function<bool(const EntryInfo&)>& fn) override {
    return target_->for_each_entry(filter, fn);
  }
  Result<std::uint64_t> requeue(const EntryFilter& filter) override {
    return target_->requeue(filter);
  }
  Result<bool> wait_for_change(double seconds, std::stop_token stop) override {
    return target_->wait_for_change(seconds, std::move(stop));
  }

 private:
  std::shared_ptr<CacheStore> target_;
};

}  // namespace cybexp::testing
