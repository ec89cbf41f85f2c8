#include "ops/http_response.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace cybexp::ops {
namespace {

std::string render() { return "x 1\n"; }

TEST(HttpResponse, AHeadIsCompleteAtTheBlankLine) {
  EXPECT_EQ(complete_request_head("GET /metrics HTTP/1.1\r\nHost: a\r\n"), std::nullopt);
  EXPECT_EQ(complete_request_head("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\nbody"),
            "GET /metrics HTTP/1.1\r\nHost: a");
  EXPECT_EQ(complete_request_head("GET /metrics HTTP/1.0\n\n"), "GET /metrics HTTP/1.0");
  EXPECT_EQ(complete_request_head(""), std::nullopt);
}

TEST(HttpResponse, GetMetricsIsTheRenderedTextAndTheConnectionCloses) {
  EXPECT_EQ(respond("GET /metrics HTTP/1.1\r\nHost: a", render),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\nx 1\n");
  EXPECT_EQ(respond("HEAD /metrics?x=1 HTTP/1.0", render),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: 4\r\nConnection: close\r\n\r\n");
}

TEST(HttpResponse, OtherPathsMethodsAndMalformedLinesAreRefused) {
  EXPECT_EQ(respond("GET / HTTP/1.1", render),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 44\r\nConnection: close\r\n\r\nnot found: this server answers GET "
            "/metrics\n");
  EXPECT_EQ(respond("POST /metrics HTTP/1.1", render),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 8\r\nConnection: close\r\nAllow: GET, HEAD\r\n\r\nuse GET\n");
  for (const char* bad : {"GET /metrics", "GET  /metrics HTTP/1.1", "GET /metrics HTTP/2",
                          "GET /metrics HTTP/1.1 x", "\x1b[2J"}) {
    EXPECT_EQ(respond(bad, render),
              "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: 12\r\nConnection: close\r\n\r\nbad request\n")
        << bad;
  }
}

TEST(HttpResponse, ARenderThatThrowsIsA500) {
  EXPECT_EQ(
      respond("GET /metrics HTTP/1.1", []() -> std::string { throw std::runtime_error("x"); }),
      "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: 15\r\nConnection: close\r\n\r\ninternal error\n");
}

}  // namespace
}  // namespace cybexp::ops
