// cybexp-bench-latency: submit-to-processed latency of a running daemon that
// sleeps between passes (issue 16), for scripts/bench-latency.sh.
//
//   cybexp-bench-latency CACHE_URL PUB_PEM RUN_DIR SAMPLES FIRST_LEFT MIN_LEFT
//
// Reads the daemon's state file in RUN_DIR (src/ops/daemon_state.h). The
// first sample is submitted once the daemon is idle with at least
// FIRST_LEFT seconds of its sleep to go (FIRST_LEFT 55: inside the 64 s
// sleep it reaches after idling about a minute); each later one once it is
// idle again, asleep for a second already, with at least MIN_LEFT seconds
// to go, so that without a wake-up every sample would wait that long. Each sample adds one encrypted
// entry (a small cowrie event) and, from the moment its commit returned (the
// entry exists from then on; the commit's own time, an fsync, is printed
// apart), polls its state every 2 ms until it is processed. Prints one line
// per sample, then "median_ms MAX_ms" on the last line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "cybexp/envelope.h"
#include "cybexp/store_factory.h"
#include "ops/daemon_state.h"

namespace {

using SteadyClock = std::chrono::steady_clock;

double epoch_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Seconds of its sleep the daemon has left, once it is idle with at least
// `min_left` to go (polls the state file; gives up after 10 minutes).
double wait_idle(const std::string& run_dir, double min_left) {
  const auto deadline = SteadyClock::now() + std::chrono::minutes(10);
  while (SteadyClock::now() < deadline) {
    auto daemons = cybexp::ops::read_daemons(run_dir);
    // Asleep for a second at least: not in the 0.2 s after a pass in which a
    // wake-up waits for the pass gap (archiver.h).
    if (daemons.size() == 1 && daemons[0].state == "idle" &&
        epoch_now() - daemons[0].updated_at >= 1) {
      const double left = daemons[0].next_pass_at - epoch_now();
      if (left >= min_left) return left;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

struct Sample {
  double commit_ms = -1;     // add_entry: the upload's own (durable) commit
  double processed_ms = -1;  // from that commit to the entry reading processed
};

// One upload, timed: its commit, then until it reads processed.
Sample one_sample(cybexp::Stores& stores, const cybexp::PublicKey& key, int n) {
  const std::string payload = "{\"eventid\": \"cowrie.session.connect\", \"sample\": " +
                              std::to_string(n) + ", \"at\": " + std::to_string(epoch_now()) + "}";
  auto blob = cybexp::encrypt_envelope(
      {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()}, key);
  Sample sample;
  if (!blob) return sample;
  cybexp::NewEntry e{"latency-" + std::to_string(n), "cowrie", "identity--bench", "UTC", epoch_now()};
  const auto submitted = SteadyClock::now();
  auto id = stores.cache->add_entry(e, *blob);
  if (!id) return sample;
  const auto start = SteadyClock::now();
  sample.commit_ms = std::chrono::duration<double, std::milli>(start - submitted).count();
  cybexp::EntryFilter filter;
  filter.ids = {*id};
  while (SteadyClock::now() - start < std::chrono::seconds(120)) {
    std::string state;
    auto r = stores.cache->for_each_entry(filter, [&](const cybexp::EntryInfo& info) {
      state = info.state;
      return false;
    });
    if (!r) return sample;
    if (state == "processed") {
      sample.processed_ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
      return sample;
    }
    if (!state.empty() && state != "pending") return sample;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return sample;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr,
                 "usage: cybexp-bench-latency CACHE_URL PUB_PEM RUN_DIR SAMPLES FIRST_LEFT MIN_LEFT\n");
    return 2;
  }
  const std::string url = argv[1];
  const std::string run_dir = argv[3];
  const int samples = std::stoi(argv[4]);
  auto key = cybexp::PublicKey::load_file(argv[2]);
  auto stores = cybexp::open_stores({url, "cache_db", "file_entries"}, {url, "tahoe_db", "instance"});
  if (!key || !stores) {
    std::fprintf(stderr, "%s\n", (!key ? key.error() : stores.error()).message.c_str());
    return 1;
  }
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    const double left = wait_idle(run_dir, i == 0 ? std::stod(argv[5]) : std::stod(argv[6]));
    if (left < 0) {
      std::fprintf(stderr, "the daemon never went idle long enough\n");
      return 1;
    }
    const Sample s = one_sample(*stores, *key, i);
    if (s.processed_ms < 0) {
      std::fprintf(stderr, "sample %d failed\n", i + 1);
      return 1;
    }
    std::printf("sample %2d: %7.1f ms committed to processed (the upload's commit took %.1f ms; "
                "the daemon had %.1f s of sleep left)\n",
                i + 1, s.processed_ms, s.commit_ms, left);
    std::fflush(stdout);
    ms.push_back(s.processed_ms);
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms.size() % 2 == 1 ? ms[ms.size() / 2]
                                            : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  std::printf("%.1f %.1f\n", median, ms.back());
  return 0;
}
