// The scalars null, true, false, integers and floats as json.dumps writes
// them, shared by the json.dumps writer (python_json.cpp) and the canonical
// form (canonical.cpp), which differ only in strings and containers.
//
// Thread safety: pure function.
#pragma once

#include "cybexp/json_value.h"
#include "tahoe/escape.h"

namespace cybexp::tahoe_detail {

// Appends v and returns true when v is one of those scalars; returns false,
// writing nothing, for strings, arrays and objects.
template <class Out>
bool write_scalar(const Value& v, Out& out) {
  if (v.is_null()) {
    out.append("null", 4);
  } else if (v.is_bool()) {
    if (v.as_bool()) {
      out.append("true", 4);
    } else {
      out.append("false", 5);
    }
  } else if (v.is_integer()) {
    out.append(v.as_integer().digits.data(), v.as_integer().digits.size());
  } else if (v.is_float()) {
    char buf[32];
    out.append(buf, format_python_float(v.as_float(), buf));
  } else {
    return false;
  }
  return true;
}

}  // namespace cybexp::tahoe_detail
