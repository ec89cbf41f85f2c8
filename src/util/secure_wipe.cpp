#include <openssl/crypto.h>

#include "cybexp/secure_buffer.h"

namespace cybexp {

// OPENSSL_cleanse cannot be optimised away, unlike memset before free.
void secure_wipe(void* p, std::size_t n) {
  if (p != nullptr && n != 0) OPENSSL_cleanse(p, n);
}

}  // namespace cybexp
