#include "cybexp/result.h"

namespace cybexp {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidArgument: return "invalid_argument";
    case ErrorKind::kIo: return "io";
    case ErrorKind::kBadData: return "bad_data";
    case ErrorKind::kParse: return "parse";
    case ErrorKind::kLimit: return "limit";
    case ErrorKind::kNotFound: return "not_found";
    case ErrorKind::kDatabase: return "database";
    case ErrorKind::kCrypto: return "crypto";
    case ErrorKind::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace cybexp
