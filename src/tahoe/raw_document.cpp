// The TAHOE Raw document written as Python's json.dumps writes the dict
// upstream builds (key order itype, data, orgid, timezone, sub_type, _hash).
#include "cybexp/raw_document.h"

#include "cybexp/python_json.h"

namespace cybexp {

std::string raw_document_json(const RawDocument& doc) {
  static constexpr std::string_view kHead = "{\"itype\": \"raw\", \"data\": ";
  std::string out;
  out.reserve(kHead.size() + doc.data_json.size() + 64 + python_json_string_size(doc.orgid) +
              python_json_string_size(doc.timezone) + python_json_string_size(doc.sub_type) +
              python_json_string_size(doc.hash));
  out.append(kHead);
  out.append(doc.data_json);
  out.append(", \"orgid\": ");
  append_python_json_string(doc.orgid, out);
  out.append(", \"timezone\": ");
  append_python_json_string(doc.timezone, out);
  out.append(", \"sub_type\": ");
  append_python_json_string(doc.sub_type, out);
  out.append(", \"_hash\": ");
  append_python_json_string(doc.hash, out);
  out.push_back('}');
  return out;
}

bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(s[0])) return false;
  for (char c : s.substr(1))
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  return true;
}

}  // namespace cybexp
