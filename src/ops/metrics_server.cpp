// See metrics_server.h. Debian's cpp-httplib is a compiled library; its
// header is included here only, with the definitions its pkg-config file
// gives (they change the classes' layout).
#include "ops/metrics_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>

namespace cybexp::ops {
namespace {

constexpr const char* kForms = "use PORT, HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9464";

std::unexpected<Error> bad_address(std::string_view text, const std::string& why) {
  return make_error(ErrorKind::kInvalidArgument,
                    "--metrics-listen '" + std::string(text) + "': " + why + ": " + kForms);
}

}  // namespace

std::string ListenAddress::text() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool ListenAddress::loopback() const {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  ListenAddress out;
  std::string_view port = text;
  if (text.starts_with('[')) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad_address(text, "an IPv6 address needs brackets and a port");
    }
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else if (const std::size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) return bad_address(text, "put an IPv6 address in brackets");
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (out.host.empty()) return bad_address(text, "the host is empty");
  int n = -1;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || n < 0 || n > 65535) {
    return bad_address(text, "the port must be a number from 0 to 65535");
  }
  out.port = n;
  return out;
}

struct MetricsServer::Impl {
  httplib::Server server;
  ListenAddress address;
  std::atomic<bool> listen_done{false};
  std::thread listener;
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const ListenAddress& address,
                                                            Render render) {
  auto impl = std::make_unique<Impl>();
  httplib::Server& s = impl->server;
  s.new_task_queue = [] { return new httplib::ThreadPool(2); };
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would
  // let a second daemon share the port and answer half the scrapes.
  s.set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.set_read_timeout(5);
  s.set_write_timeout(5);
  s.Get("/metrics", [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content("internal error\n", "text/plain");
  });

  impl->address = address;
  errno = 0;
  bool bound = false;
  if (address.port == 0) {
    const int port = s.bind_to_any_port(address.host);
    bound = port > 0;
    impl->address.port = port;
  } else {
    bound = s.bind_to_port(address.host, address.port);
  }
  if (!bound) {
    const int err = errno;
    return make_error(ErrorKind::kIo,
                      "cannot listen on " + address.text() + " for metrics" +
                          (err != 0 ? std::string(": ") + std::strerror(err) : std::string()) +
                          ": choose another --metrics-listen address");
  }
  Impl* p = impl.get();
  impl->listener = std::thread([p] {
    p->server.listen_after_bind();
    p->listen_done = true;
  });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::~MetricsServer() {
  // httplib's stop() only works once the listener runs; it starts at once,
  // so this wait is a few microseconds at most.
  while (!impl_->server.is_running() && !impl_->listen_done) std::this_thread::yield();
  if (impl_->server.is_running()) impl_->server.stop();
  impl_->listener.join();
}

const ListenAddress& MetricsServer::address() const { return impl_->address; }

}  // namespace cybexp::ops
