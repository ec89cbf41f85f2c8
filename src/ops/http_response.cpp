// See http_response.h.
#include "ops/http_response.h"

#include <exception>

namespace cybexp::ops {
namespace {

std::string response(std::string_view status, std::string_view extra_headers,
                     std::string_view content_type, const std::string& body, bool with_body) {
  std::string out = "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  if (with_body) out += body;
  return out;
}

std::string plain(std::string_view status, const std::string& body,
                  std::string_view extra_headers = {}) {
  return response(status, extra_headers, "text/plain; charset=utf-8", body, true);
}

}  // namespace

std::optional<std::string_view> complete_request_head(std::string_view received) {
  for (std::string_view end : {"\r\n\r\n", "\n\n"}) {
    if (const std::size_t at = received.find(end); at != std::string_view::npos) {
      return received.substr(0, at);
    }
  }
  return std::nullopt;
}

std::string respond(std::string_view head, const std::function<std::string()>& render) {
  std::string_view line = head.substr(0, head.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos ||
      !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
    return plain("400 Bad Request", "bad request\n");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (target.substr(0, target.find('?')) != "/metrics") {
    return plain("404 Not Found", "not found: this server answers GET /metrics\n");
  }
  if (method != "GET" && method != "HEAD") {
    return plain("405 Method Not Allowed", "use GET\n", "Allow: GET, HEAD\r\n");
  }
  std::string body;
  try {
    body = render();
  } catch (const std::exception&) {
    return plain("500 Internal Server Error", "internal error\n");
  }
  return response("200 OK", {}, "text/plain; version=0.0.4; charset=utf-8", body, method == "GET");
}

std::string request_too_large() {
  return plain("431 Request Header Fields Too Large", "request head too large\n");
}

}  // namespace cybexp::ops
