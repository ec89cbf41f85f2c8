// No client can block a scrape: idle connections, a slowloris trickling its
// request, and more connections than the server keeps. Real sockets on
// 127.0.0.1 against the real server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "ops/metrics_server.h"

namespace cybexp::ops {
namespace {

using Clock = std::chrono::steady_clock;

// A TCP connection to 127.0.0.1:port that sends nothing unless told to.
class RawClient {
 public:
  explicit RawClient(int port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0;
  }
  ~RawClient() { close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  bool send_text(std::string_view text) {
    return send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
  }
  // Whether the server has closed the connection, waiting up to timeout_ms.
  bool closed_by_server(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return false;
    char c;
    return recv(fd_, &c, 1, MSG_DONTWAIT) <= 0;
  }

  // Everything the server sends until it closes (at most timeout_ms).
  std::string read_until_closed(int timeout_ms) {
    std::string got;
    const auto until = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
        return got + "<timeout>";
      char buf[4096];
      const ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return got;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::unique_ptr<MetricsServer> start_server() {
  ListenAddress where;
  where.port = 0;
  auto server = MetricsServer::start(where, [] { return std::string("x 1\n"); });
  EXPECT_TRUE(server.has_value()) << server.error().message;
  return server ? std::move(*server) : nullptr;
}

// A scrape as Prometheus does it, giving up after 3 s (the old server needed
// 5 s per idle connection per worker).
void expect_scrape_succeeds(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(3);
  client.set_read_timeout(3);
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "x 1\n");
}

TEST(MetricsServerUnderLoad, SixtyFourIdleConnectionsDoNotBlockAScrape) {
  auto server = start_server();
  ASSERT_NE(server, nullptr);
  const int port = server->address().port;
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 64; ++i) {
    idle.push_back(std::make_unique<RawClient>(port));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  expect_scrape_succeeds(port);
  expect_scrape_succeeds(port);

  // The server holds at most kMaxMetricsConnections: the others were closed
  // as the later ones came; and none is kept past the request deadline.
  int closed_at_once = 0;
  for (auto& c : idle) closed_at_once += c->closed_by_server(0) ? 1 : 0;
  EXPECT_GE(closed_at_once, 64 - static_cast<int>(kMaxMetricsConnections));
  const auto deadline = Clock::now() + std::chrono::duration<double>(kMetricsRequestSeconds + 3);
  for (auto& c : idle) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    EXPECT_TRUE(c->closed_by_server(static_cast<int>(std::max<long>(0, left.count()))));
  }
}

TEST(MetricsServerUnderLoad, ASlowlorisIsCutOffAtTheRequestDeadlineWhileScrapesGoOn) {
  auto server = start_server();
  ASSERT_NE(server, nullptr);
  const int port = server->address().port;
  // Before the connect: the server's deadline starts when it accepts, which
  // may come before connect() returns here.
  const auto started = Clock::now();
  RawClient slow(port);
  ASSERT_TRUE(slow.connected());
  ASSERT_TRUE(slow.send_text("GET /metrics HTTP/1.1\r\nHost: x\r\n"));
  bool cut_off = false;
  // One header line every 200 ms: each read is fresh, the request never ends.
  while (!cut_off && Clock::now() - started < std::chrono::seconds(8)) {
    expect_scrape_succeeds(port);
    if (!slow.send_text("X-Slow: 1\r\n")) break;
    cut_off = slow.closed_by_server(200);
  }
  cut_off = cut_off || slow.closed_by_server(0);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  EXPECT_TRUE(cut_off) << "still open after " << seconds << " s";
  EXPECT_LT(seconds, kMetricsRequestSeconds + 3);
  EXPECT_GE(seconds, kMetricsRequestSeconds - 0.1);
}

TEST(MetricsServerUnderLoad, AnOverlongRequestHeadIsAnswered431AndClosed) {
  auto server = start_server();
  ASSERT_NE(server, nullptr);
  RawClient big(server->address().port);
  ASSERT_TRUE(big.connected());
  ASSERT_TRUE(big.send_text("GET /metrics HTTP/1.1\r\nX: " + std::string(9000, 'a')));
  EXPECT_EQ(big.read_until_closed(5000),
            "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; "
            "charset=utf-8\r\nContent-Length: 23\r\nConnection: close\r\n\r\nrequest head too "
            "large\n");
  expect_scrape_succeeds(server->address().port);
}

}  // namespace
}  // namespace cybexp::ops
