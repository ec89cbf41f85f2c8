// DEFER(statement): runs the statement when the enclosing scope ends, on
// every path out of it (return, exception), like ccache's DEFER. For the
// clean-up that must happen however a function is left.
//
// Thread safety: a local object; nothing shared.
#pragma once

#include <utility>

namespace cybexp {

template <class F>
class ScopeGuard {
 public:
  explicit ScopeGuard(F f) : f_(std::move(f)) {}
  ~ScopeGuard() { f_(); }
  ScopeGuard(const ScopeGuard&) = delete;
  ScopeGuard& operator=(const ScopeGuard&) = delete;

 private:
  F f_;
};

}  // namespace cybexp

#define CYBEXP_DEFER_CONCAT2(a, b) a##b
#define CYBEXP_DEFER_CONCAT(a, b) CYBEXP_DEFER_CONCAT2(a, b)
#define DEFER(...) \
  ::cybexp::ScopeGuard CYBEXP_DEFER_CONCAT(cybexp_defer_, __LINE__)([&]() noexcept { __VA_ARGS__; })
