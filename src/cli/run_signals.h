// The signals `run` answers, taken by a thread of its own (sigwait), so no
// handler ever runs inside the pipeline (docs/OPERATIONS.md, "Signals"):
//
//   SIGTERM, SIGINT  first: a stop request (stop_token); the Archiver then
//                    interrupts a store call blocked on someone else's lock,
//                    finishes and commits the entries being decrypted,
//                    releases the rest and run exits 0.
//                    second: on_second_stop (the stores interrupted whatever
//                    they do), a second's grace for the releases in
//                    progress, then the process exits at once with status 1;
//                    leases still held expire after lease_seconds.
//   SIGHUP           on_reload: the configuration file read again (Reloader).
//   SIGUSR1          on_wake: the next pass starts now (Archiver::wake);
//                    `cybexp-archive wake` sends it.
//
// Reloader: what SIGHUP can change without a restart - the private keys
// (files read again), the public key, the limits and the log level - is
// checked in full first; a bad file, key or value keeps every old setting,
// with a log line that says why. What changed is logged; settings that need
// a restart (stores, lease_seconds, timeouts) are named as such.
//
// Thread safety: construct SignalThread on the main thread before any other
// thread starts (it blocks the signals process-wide); the on_* setters and
// finished() may be called from any thread; the callbacks run on the signal
// thread. A Reloader runs on the signal thread only.
#pragma once

#include <signal.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

#include "cli/context.h"
#include "cybexp/archiver.h"

namespace cybexp::cli {

class SignalThread {
 public:
  SignalThread();
  ~SignalThread();
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

  std::stop_token token() { return stop_.get_token(); }
  void on_reload(std::function<void()> fn);
  void on_wake(std::function<void()> fn);
  void on_second_stop(std::function<void()> fn);
  // The loop has ended: no callback runs after this returns (what they
  // refer to may be destroyed), and a second signal only waits for the exit.
  void finished();

 private:
  void take(int sig);
  void second_stop();
  // Sent by the destructor to end the thread's wait (a real-time signal,
  // blocked in every thread of the process).
  static int quit_signal();

  sigset_t set_;
  std::stop_source stop_;
  std::mutex callbacks_mu_;            // held while a callback runs
  std::function<void()> reload_;       // guarded by callbacks_mu_
  std::function<void()> wake_;         // guarded by callbacks_mu_
  std::function<void()> second_stop_;  // guarded by callbacks_mu_
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false;  // guarded by mu_
  std::jthread thread_;
};

class Reloader {
 public:
  // `current`: the configuration the loop runs with now.
  Reloader(const Context& ctx, Archiver& archiver, Config current);
  void operator()();

 private:
  const Context& ctx_;
  Archiver& archiver_;
  Config current_;
};

}  // namespace cybexp::cli
