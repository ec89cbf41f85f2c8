// Errors as values: every expected failure in cybexp-archive is returned as a
// cybexp::Error inside a std::expected, never thrown. Exceptions are kept for
// the truly fatal (out of memory, programming errors).
//
// Thread safety: Error and Result are plain values; share them as you would a
// std::string.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace cybexp {

// What kind of failure it was; callers decide what to do from this, the
// message is for people.
enum class ErrorKind {
  kInvalidArgument,  // bad usage or configuration (exit code 2)
  kIo,               // a file could not be read or written
  kBadData,          // an entry's blob is missing, truncated or fails to decrypt
  kParse,            // a payload could not be turned into a document
  kLimit,            // a configured size, depth or time limit was exceeded
  kNotFound,         // the thing asked for does not exist
  kDatabase,         // the store failed; worth retrying after a backoff
  kCrypto,           // OpenSSL failed for a reason other than bad data
  kInternal,         // a bug
};

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;  // one line: what failed, where, and what to do
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> make_error(ErrorKind kind, std::string message) {
  return std::unexpected<Error>(Error{kind, std::move(message)});
}

const char* error_kind_name(ErrorKind kind);

}  // namespace cybexp

// TRY(expr): evaluates a Result; on error returns the error from the enclosing
// function, otherwise yields the value (GCC statement expression).
// Use it as a whole initializer or statement, or as an argument with nothing
// built before it in the same expression: never after another member of a
// braced initializer. Returning out of a statement expression there skips the
// destructor of what was already built (clang; fuzz_config found such a leak
// in `Named{key + "...", TRY(...)}`).
#define CYBEXP_TRY(expr)                                                  \
  ({                                                                      \
    auto&& cybexp_try_result_ = (expr);                                   \
    if (!cybexp_try_result_) return std::unexpected(std::move(cybexp_try_result_).error()); \
    std::move(cybexp_try_result_).value();                                \
  })

// TRY_VOID(expr): as TRY for Result<void>.
#define CYBEXP_TRY_VOID(expr)                                             \
  do {                                                                    \
    auto&& cybexp_try_result_ = (expr);                                   \
    if (!cybexp_try_result_) return std::unexpected(std::move(cybexp_try_result_).error()); \
  } while (0)
