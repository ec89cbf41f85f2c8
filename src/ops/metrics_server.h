// The metrics endpoint: an HTTP server answering GET /metrics with the
// Prometheus text format and 404 elsewhere. Off unless `run` is given
// --metrics-listen; a bare port listens on 127.0.0.1 only, and any other
// address is the operator's explicit choice.
//
// No client can keep a scrape waiting: connections are served by one thread
// with poll(2), each must send its whole request within
// kMetricsRequestSeconds (whatever it trickles), responses close the
// connection, and at most kMaxMetricsConnections are open: one more evicts
// the one that has been sending its request the longest.
//
// The render function is called on the server's thread, so it must only read
// thread-safe state (ArchiveMetrics), never a store.
//
// Thread safety: start() and the destructor from one thread; the server runs
// on a thread of its own.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cybexp/result.h"

namespace cybexp::ops {

inline constexpr std::size_t kMaxMetricsConnections = 32;
inline constexpr double kMetricsRequestSeconds = 2.0;  // to send a request, or take the response

struct ListenAddress {
  std::string host = "127.0.0.1";  // IPv4, IPv6 (without brackets) or a host name
  int port = 9464;                 // 0: any free port (tests)

  std::string text() const;  // "127.0.0.1:9464", "[::1]:9464"
  bool loopback() const;     // 127.0.0.0/8, ::1 or localhost
};

// "HOST:PORT", "[IPV6]:PORT" or "PORT" (127.0.0.1). kInvalidArgument with the
// accepted forms otherwise.
Result<ListenAddress> parse_listen_address(std::string_view text);

class MetricsServer {
 public:
  using Render = std::function<std::string()>;

  // Binds at once (so a port in use is reported here, as kIo) and serves in
  // the background until destroyed.
  static Result<std::unique_ptr<MetricsServer>> start(const ListenAddress& address, Render render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The address actually bound (its port is the real one when 0 was asked).
  const ListenAddress& address() const;

  struct Impl;

 private:
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cybexp::ops
