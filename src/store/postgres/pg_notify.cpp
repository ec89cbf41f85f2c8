// Connection::wait_for_notification and PostgresStore::wait_for_change
// (store.h): the daemon sleeps on its own connection's socket, LISTENing to
// the channel the schema's trigger notifies (pg_schema.cpp), and wakes on the
// first notification another session sent, or on stop. Everything queued is
// drained at once, so a burst of uploads is one wake-up.
#include <poll.h>

#include <chrono>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "store/postgres/pg_connection.h"
#include "store/postgres/postgres_store.h"
#include "store/store_wait.h"

namespace cybexp::pg {
namespace {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

// Reads what the socket holds until it has been quiet for 5 ms (100 ms at
// most): the notifications of a burst of commits arrive over a few
// milliseconds, and one wake-up should take them all.
void Connection::settle_notifications() {
  for (int i = 0; i < 20; ++i) {
    pollfd fd{PQsocket(conn_), POLLIN, 0};
    if (poll(&fd, 1, 5) <= 0 || PQconsumeInput(conn_) == 0) return;
    drain_notifications();
  }
}

// Whether a notification from another session is queued; drains the queue.
bool Connection::drain_notifications() {
  bool any = false;
  const int own_pid = PQbackendPID(conn_);
  while (PGnotify* n = PQnotifies(conn_)) {
    if (n->be_pid != own_pid) any = true;
    PQfreemem(n);
  }
  return any;
}

Result<bool> Connection::wait_for_notification(const char* channel, double seconds,
                                               std::stop_token stop) {
  CYBEXP_TRY_VOID(ensure());
  if (!listening_) {
    CYBEXP_TRY_VOID(run("listen", (std::string("LISTEN ") + channel).c_str()));
    listening_ = true;
    // What was notified before this LISTEN (since the store opened, or while
    // the connection was down) is lost: say "changed" so the caller claims.
    return true;
  }
  StopFd stop_fd(stop);
  const double deadline = steady_seconds() + seconds;
  for (;;) {
    if (PQconsumeInput(conn_) == 0) {
      Error e = error("listen", PQerrorMessage(conn_));
      drop();  // the next call reconnects
      return std::unexpected(std::move(e));
    }
    if (drain_notifications()) {
      settle_notifications();
      return true;
    }
    const double left = deadline - steady_seconds();
    if (stop.stop_requested() || left <= 0) return false;
    pollfd fds[2] = {{PQsocket(conn_), POLLIN, 0}, {stop_fd.fd(), POLLIN, 0}};
    // Without an eventfd, wake every 100 ms to look at the stop token.
    const double cap = stop_fd.fd() < 0 ? 0.1 : left;
    const int ms = static_cast<int>(std::ceil(std::min(left, cap) * 1000));
    if (poll(fds, stop_fd.fd() < 0 ? 1 : 2, ms) < 0 && errno != EINTR) {
      return std::unexpected(error("listen", std::string("poll: ") + std::strerror(errno)));
    }
  }
}

Result<bool> PostgresStore::wait_for_change(double seconds, std::stop_token stop) {
  return conn_.wait_for_notification(kEntriesChannel, seconds, std::move(stop));
}

}  // namespace cybexp::pg
