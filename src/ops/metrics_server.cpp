// See metrics_server.h. One thread and poll(2): a connection costs a file
// descriptor and a few hundred bytes until its request is whole, never a
// thread, so idle or slow clients cannot keep a scrape waiting. (cpp-httplib,
// used before, gave each connection a pooled thread for as long as the client
// kept it open, a read timeout at a time: four idle connections blocked it.)
#include "ops/metrics_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <thread>
#include <vector>

#include "ops/http_response.h"

namespace cybexp::ops {
namespace {

constexpr const char* kForms = "use PORT, HOST:PORT or [IPV6]:PORT, e.g. 127.0.0.1:9464";
using SteadyClock = std::chrono::steady_clock;

std::unexpected<Error> bad_address(std::string_view text, const std::string& why) {
  return make_error(ErrorKind::kInvalidArgument,
                    "--metrics-listen '" + std::string(text) + "': " + why + ": " + kForms);
}

SteadyClock::duration seconds(double s) {
  return std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(s));
}

// One client connection: reading its request head, writing the response, or
// draining what it still sends so that closing does not reset the response.
struct Connection {
  enum class Phase { kReading, kWriting, kDraining };
  int fd = -1;
  std::uint64_t order = 0;  // accept order: the oldest is evicted first
  Phase phase = Phase::kReading;
  SteadyClock::time_point deadline;
  std::string in;   // the request head so far
  std::string out;  // the response
  std::size_t sent = 0;
  bool done = false;
};

// The listening socket for address (port 0: any free port), or the error.
Result<int> open_listener(ListenAddress& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  const int gai = getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found);
  if (gai != 0) {
    return make_error(ErrorKind::kIo, "cannot listen on " + address.text() +
                                          " for metrics: " + gai_strerror(gai) +
                                          ": choose another --metrics-listen address");
  }
  int err = 0;
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    // SO_REUSEADDR only: SO_REUSEPORT would let a second daemon share the
    // port and answer half the scrapes.
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return make_error(ErrorKind::kIo, "cannot listen on " + address.text() +
                                          " for metrics: " + std::strerror(err) +
                                          ": choose another --metrics-listen address");
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    address.port =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  return fd;
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
  ListenAddress address;
  Render render;
  int listener = -1;
  int wake[2] = {-1, -1};  // a byte on wake[1] ends the loop
  std::vector<Connection> connections;
  std::uint64_t accepted = 0;
  SteadyClock::time_point accept_paused_until;
  std::thread thread;

  ~Impl() {
    for (Connection& c : connections) close(c.fd);
    for (int fd : {listener, wake[0], wake[1]}) {
      if (fd >= 0) close(fd);
    }
  }
  void loop();
  int poll_timeout_ms(SteadyClock::time_point now) const;
  void accept_all(SteadyClock::time_point now);
  void evict_one();
  void on_ready(Connection& c, SteadyClock::time_point now);
  void read_request(Connection& c, SteadyClock::time_point now);
  void write_response(Connection& c, SteadyClock::time_point now);
  void drain(Connection& c);
};

void MetricsServer::Impl::loop() {
  std::vector<pollfd> fds;
  for (;;) {
    const auto now = SteadyClock::now();
    fds.clear();
    fds.push_back({wake[0], POLLIN, 0});
    const bool accepting = now >= accept_paused_until;
    fds.push_back({accepting ? listener : -1, POLLIN, 0});
    for (const Connection& c : connections) {
      fds.push_back(
          {c.fd, static_cast<short>(c.phase == Connection::Phase::kWriting ? POLLOUT : POLLIN), 0});
    }
    if (poll(fds.data(), fds.size(), poll_timeout_ms(now)) < 0 && errno != EINTR) return;
    if (fds[0].revents != 0) return;
    const auto after = SteadyClock::now();
    for (std::size_t i = 0; i < connections.size(); ++i) {
      if (fds[i + 2].revents != 0) on_ready(connections[i], after);
      if (after >= connections[i].deadline) connections[i].done = true;
    }
    std::erase_if(connections, [](const Connection& c) {
      if (c.done) close(c.fd);
      return c.done;
    });
    if (fds[1].revents != 0) accept_all(after);
  }
}

int MetricsServer::Impl::poll_timeout_ms(SteadyClock::time_point now) const {
  auto next = SteadyClock::time_point::max();
  if (now < accept_paused_until) next = accept_paused_until;
  for (const Connection& c : connections) next = std::min(next, c.deadline);
  if (next == SteadyClock::time_point::max()) return -1;
  if (next <= now) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
}

void MetricsServer::Impl::accept_all(SteadyClock::time_point now) {
  for (;;) {
    const int fd = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: make room, and let the backlog wait a moment
        // rather than spin on a listener that stays readable.
        if (!connections.empty()) evict_one();
        accept_paused_until = now + std::chrono::milliseconds(100);
      }
      return;  // EAGAIN (all taken), or an error of the one connection
    }
    if (connections.size() >= kMaxMetricsConnections) evict_one();
    Connection c;
    c.fd = fd;
    c.order = accepted++;
    c.deadline = now + seconds(kMetricsRequestSeconds);
    connections.push_back(std::move(c));
  }
}

// The connection least likely to be a scrape about to complete: one that is
// only draining, else the one that has been sending its request the longest.
void MetricsServer::Impl::evict_one() {
  auto rank = [](const Connection& c) {
    return std::pair(c.phase == Connection::Phase::kDraining  ? 0
                     : c.phase == Connection::Phase::kReading ? 1
                                                              : 2,
                     c.order);
  };
  auto victim =
      std::min_element(connections.begin(), connections.end(),
                       [&](const Connection& a, const Connection& b) { return rank(a) < rank(b); });
  close(victim->fd);
  connections.erase(victim);
}

void MetricsServer::Impl::on_ready(Connection& c, SteadyClock::time_point now) {
  switch (c.phase) {
    case Connection::Phase::kReading:
      read_request(c, now);
      break;
    case Connection::Phase::kWriting:
      write_response(c, now);
      break;
    case Connection::Phase::kDraining:
      drain(c);
      break;
  }
}

void MetricsServer::Impl::read_request(Connection& c, SteadyClock::time_point now) {
  char buf[4096];
  const std::size_t room = kMaxRequestHeadBytes + 4 - c.in.size();
  const ssize_t n = recv(c.fd, buf, std::min(sizeof buf, room), 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    c.done = true;  // the client went away (or reset) before asking
    return;
  }
  if (n < 0) return;
  c.in.append(buf, static_cast<std::size_t>(n));
  const std::optional<std::string_view> head = complete_request_head(c.in);
  if (!head && c.in.size() <= kMaxRequestHeadBytes) return;  // more to come
  c.out = head ? respond(*head, render) : request_too_large();
  c.in.clear();
  c.in.shrink_to_fit();
  c.phase = Connection::Phase::kWriting;
  c.deadline = now + seconds(kMetricsRequestSeconds);
  write_response(c, now);
}

void MetricsServer::Impl::write_response(Connection& c, SteadyClock::time_point now) {
  while (c.sent < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) c.done = true;
      return;
    }
    c.sent += static_cast<std::size_t>(n);
  }
  // Said all; whatever the client still sends (a body) is read and dropped
  // for a moment, so the close does not turn into a reset that loses the
  // response on its way.
  shutdown(c.fd, SHUT_WR);
  c.out.clear();
  c.out.shrink_to_fit();
  c.phase = Connection::Phase::kDraining;
  c.deadline = std::min(c.deadline, now + std::chrono::milliseconds(500));
}

void MetricsServer::Impl::drain(Connection& c) {
  char buf[4096];
  const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) c.done = true;
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const ListenAddress& address,
                                                            Render render) {
  auto impl = std::make_unique<Impl>();
  impl->address = address;
  impl->render = std::move(render);
  impl->listener = CYBEXP_TRY(open_listener(impl->address));
  if (pipe2(impl->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    return make_error(ErrorKind::kIo, std::string("metrics: pipe: ") + std::strerror(errno));
  }
  Impl* p = impl.get();
  impl->thread = std::thread([p] { p->loop(); });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::~MetricsServer() {
  const char stop = 1;
  while (write(impl_->wake[1], &stop, 1) < 0 && errno == EINTR) {
  }
  impl_->thread.join();
}

const ListenAddress& MetricsServer::address() const { return impl_->address; }

}  // namespace cybexp::ops
