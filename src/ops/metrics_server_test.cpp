// A real server on 127.0.0.1 (port 0: any free one) and real HTTP requests.
#include "ops/metrics_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>

namespace cybexp::ops {
namespace {

TEST(ListenAddress, ParsesTheThreeFormsAndDefaultsToLoopback) {
  auto port_only = parse_listen_address("9464");
  ASSERT_TRUE(port_only.has_value()) << port_only.error().message;
  EXPECT_EQ(port_only->host, "127.0.0.1");
  EXPECT_EQ(port_only->port, 9464);
  EXPECT_TRUE(port_only->loopback());

  auto any = parse_listen_address("0.0.0.0:9100");
  ASSERT_TRUE(any.has_value());
  EXPECT_EQ(any->host, "0.0.0.0");
  EXPECT_EQ(any->port, 9100);
  EXPECT_FALSE(any->loopback());
  EXPECT_EQ(any->text(), "0.0.0.0:9100");

  auto v6 = parse_listen_address("[::1]:80");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_TRUE(v6->loopback());
  EXPECT_EQ(v6->text(), "[::1]:80");

  EXPECT_TRUE(parse_listen_address("localhost:9464")->loopback());
}

TEST(ListenAddress, RefusesMalformedAddressesWithTheAcceptedForms) {
  for (const char* bad :
       {"", ":9464", "host:", "host:x", "host:65536", "::1:80", "[::1]", "[::1]x80", "-1"}) {
    auto r = parse_listen_address(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalidArgument);
    EXPECT_NE(r.error().message.find("use PORT, HOST:PORT or [IPV6]:PORT"), std::string::npos)
        << r.error().message;
  }
  EXPECT_EQ(parse_listen_address("host:x").error().message,
            "--metrics-listen 'host:x': the port must be a number from 0 to 65535: use PORT, "
            "HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9464");
}

TEST(MetricsServer, ServesMetricsOnGetAnd404Elsewhere) {
  std::atomic<int> renders{0};
  ListenAddress where;
  where.port = 0;
  auto server = MetricsServer::start(where, [&] {
    ++renders;
    return std::string("# TYPE x counter\nx ") + std::to_string(renders.load()) + "\n";
  });
  ASSERT_TRUE(server.has_value()) << server.error().message;
  const int port = (*server)->address().port;
  ASSERT_GT(port, 0);
  EXPECT_EQ((*server)->address().host, "127.0.0.1");

  httplib::Client client("127.0.0.1", port);
  auto first = client.Get("/metrics");
  ASSERT_TRUE(first) << httplib::to_string(first.error());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "# TYPE x counter\nx 1\n");
  EXPECT_EQ(first->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  auto second = client.Get("/metrics");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "# TYPE x counter\nx 2\n");  // rendered per request

  auto other = client.Get("/");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
  auto post = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_NE(post->status, 200);
  EXPECT_EQ(renders.load(), 2);
}

TEST(MetricsServer, APortInUseIsReportedAtStart) {
  ListenAddress where;
  where.port = 0;
  auto first = MetricsServer::start(where, [] { return std::string(); });
  ASSERT_TRUE(first.has_value());
  auto second = MetricsServer::start((*first)->address(), [] { return std::string(); });
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().kind, ErrorKind::kIo);
  EXPECT_TRUE(second.error().message.starts_with("cannot listen on " + (*first)->address().text() +
                                                 " for metrics"))
      << second.error().message;
  EXPECT_TRUE(second.error().message.ends_with(": choose another --metrics-listen address"))
      << second.error().message;
}

TEST(MetricsServer, StopsPromptlyEvenRightAfterStarting) {
  for (int i = 0; i < 20; ++i) {
    ListenAddress where;
    where.port = 0;
    auto server = MetricsServer::start(where, [] { return std::string(); });
    ASSERT_TRUE(server.has_value());
  }  // each destructor must return (a hang fails the test by timeout)
}

}  // namespace
}  // namespace cybexp::ops
