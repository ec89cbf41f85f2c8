// The TAHOE Raw document as the archive database stores it (docs/UPSTREAM-FORMATS.md
// section 3):
//
//   {"itype": "raw", "data": ..., "orgid": ..., "timezone": ..., "sub_type": ..., "_hash": ...}
//
// Thread safety: plain value type.
#pragma once

#include <string>

namespace cybexp {

struct RawDocument {
  std::string hash;       // _hash: hex sha256 of "raw" + sub_type + canonical(data)
  std::string sub_type;   // an identifier, [A-Za-z_][A-Za-z0-9_]*
  std::string orgid;
  std::string timezone;
  std::string data_json;  // data, written as Python json.dumps writes it
};

// The whole document as one line of Python json.dumps output (key order as above).
std::string raw_document_json(const RawDocument& doc);

// True if s matches [A-Za-z_][A-Za-z0-9_]*.
bool is_identifier(std::string_view s);

}  // namespace cybexp
