// Internal to the tahoe module: length-preserving rewrites of JSON text for
// the cases where RapidJSON refuses what Python's json.loads accepts. Each
// keeps every byte offset, so error positions still point into the original.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cybexp::tahoe_detail {

// True if the text might hold a \uDC00..\uDFFF escape (a cheap over-estimate).
bool may_hold_low_surrogate(std::string_view text);

// Replaces every \uXXXX escape of a surrogate that is not part of a valid
// high+low pair with \u003f ('?'), so RapidJSON can parse the rest.
void replace_lone_surrogates(std::string& text);

// Replaces every number token outside strings (RapidJSON refuses integers
// and exponents past double range) with "0" and spaces; `numbers` receives
// the original tokens, as views into `original` (same offsets as `text`).
void neutralise_numbers(std::string_view original, std::string& text,
                        std::vector<std::string_view>& numbers);

}  // namespace cybexp::tahoe_detail
