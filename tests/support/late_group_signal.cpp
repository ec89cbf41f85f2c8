// A fault for the test PostgreSQL server, loaded into it with LD_PRELOAD
// (PostgresServerOptions::preload): the late half of a cancel.
//
// The postmaster answers a cancel request by signalling the backend twice,
// SIGINT to its pid and then to its process group (signal_child in
// postmaster.c). On a busy machine the second signal can arrive after the
// canceled statement has already failed, and then cancels whatever that
// connection runs next. Here every SIGINT to a process group waits
// CYBEXP_TEST_GROUP_SIGINT_DELAY_MS milliseconds first, which makes that
// window wide and certain. Built without sanitizers: it runs inside the
// server's processes, which have none.
#include <dlfcn.h>
#include <signal.h>
#include <time.h>

#include <cstdlib>

extern "C" int kill(pid_t pid, int sig) {
  using KillFunction = int (*)(pid_t, int);
  static const auto real_kill = reinterpret_cast<KillFunction>(dlsym(RTLD_NEXT, "kill"));
  if (sig == SIGINT && pid < -1) {
    if (const char* delay = std::getenv("CYBEXP_TEST_GROUP_SIGINT_DELAY_MS")) {
      const long ms = std::strtol(delay, nullptr, 10);
      timespec wait{ms / 1000, (ms % 1000) * 1000000L};
      while (nanosleep(&wait, &wait) != 0) {
      }
    }
  }
  return real_kill(pid, sig);
}
