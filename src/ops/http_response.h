// The HTTP the metrics endpoint speaks, apart from its sockets: when a request
// head is complete, and the whole response to it (HTTP/1.1, Connection:
// close). GET or HEAD /metrics is answered with render()'s text; another path
// is 404, another method 405, a malformed request line 400, a head over
// kMaxRequestHeadBytes 431.
//
// Thread safety: pure functions (render is called on the caller's thread).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace cybexp::ops {

inline constexpr std::size_t kMaxRequestHeadBytes = 8192;

// The request head (request line and headers, without the blank line that
// ends it) once `received` holds all of it.
std::optional<std::string_view> complete_request_head(std::string_view received);

std::string respond(std::string_view head, const std::function<std::string()>& render);
std::string request_too_large();

}  // namespace cybexp::ops
