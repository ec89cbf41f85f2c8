// SecureBytes: a byte vector whose memory is wiped (OPENSSL_cleanse) before it
// is freed. Session keys and decrypted payloads live only in these.
//
// Thread safety: as std::vector.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace cybexp {

void secure_wipe(void* p, std::size_t n);

template <class T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <class U>
  WipingAllocator(const WipingAllocator<U>&) {}
  T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
  void deallocate(T* p, std::size_t n) {
    secure_wipe(p, n * sizeof(T));
    std::allocator<T>{}.deallocate(p, n);
  }
  template <class U>
  bool operator==(const WipingAllocator<U>&) const { return true; }
};

using SecureBytes = std::vector<std::uint8_t, WipingAllocator<std::uint8_t>>;

inline std::string_view as_text(const SecureBytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace cybexp
