// Fault injection by count: fail chosen store operations a chosen number of
// times with kDatabase ("injected failure: OP"), as a dropped connection or
// a full disk would, before they run. Used to prove that no entry is lost or
// marked done without its document. A Hook (support/hooked_stores.h) on
// every step; Op names the steps.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "support/hooked_stores.h"

namespace cybexp::testing {

using Op = Step;

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

inline Stores faulty(const Stores& real, const std::shared_ptr<Faults>& faults) {
  return hooked(real, [faults](Step step, Phase phase) -> std::optional<Error> {
    if (phase != Phase::kBefore || !faults->should_fail(step)) return std::nullopt;
    return Error{ErrorKind::kDatabase, std::string("injected failure: ") + step_name(step)};
  });
}

}  // namespace cybexp::testing
