// Turns the OpenSSL error queue into a cybexp::Error, for the envelope module's
// sources only.
#pragma once

#include <openssl/err.h>

#include <string>

#include "cybexp/result.h"

namespace cybexp::envelope_detail {

// Appends OpenSSL's most recent reason to `what` and clears the thread's error
// queue, so a stale entry never leaks into a later, unrelated message.
inline Error openssl_error(ErrorKind kind, std::string what) {
  unsigned long code = ERR_peek_last_error();
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    what += " (";
    what += buf;
    what += ")";
  }
  ERR_clear_error();
  return Error{kind, std::move(what)};
}

inline std::unexpected<Error> openssl_failure(ErrorKind kind, std::string what) {
  return std::unexpected<Error>(openssl_error(kind, std::move(what)));
}

}  // namespace cybexp::envelope_detail
