// Google Benchmark of each pipeline stage on its own, to see where an entry's
// time goes: RSA-OAEP + EAX (the envelope), JSON parse + canonical hash +
// json.dumps (parsemain), and the SQLite claim/finish round.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>
#include <string>

#include "cybexp/archiver.h"
#include "cybexp/canonical.h"
#include "cybexp/eax.h"
#include "cybexp/envelope.h"
#include "cybexp/parsemain.h"
#include "cybexp/python_json.h"
#include "cybexp/store_factory.h"
#include "honeypot_payload.h"
#include "support/hash_flood.h"

namespace {

using namespace cybexp;

const PrivateKey& private_key() {
  static PrivateKey k = *PrivateKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/priv.pem", false);
  return k;
}
const PublicKey& public_key() {
  static PublicKey k = *PublicKey::load_file(std::string(CYBEXP_TEST_DATA_DIR) + "/pub.pem");
  return k;
}

std::string json_payload(std::size_t size) {
  std::string s = "{\"events\": [";
  for (int i = 0; s.size() + 80 < size; ++i) {
    if (i > 0) s += ", ";
    s += "{\"i\": " + std::to_string(i) + ", \"ip\": \"10.0." + std::to_string(i / 256 % 256) + "." +
         std::to_string(i % 256) + "\", \"msg\": \"" + std::string(40, static_cast<char>('a' + i % 26)) + "\"}";
  }
  return s + "]}";
}

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

void BM_DecryptEnvelope(benchmark::State& state) {
  std::string p = json_payload(static_cast<std::size_t>(state.range(0)));
  auto blob = *encrypt_envelope(bytes(p), public_key());
  for (auto _ : state) {
    auto plain = decrypt_envelope(blob, private_key());
    benchmark::DoNotOptimize(plain);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * p.size()));
}
BENCHMARK(BM_DecryptEnvelope)->Arg(500)->Arg(1 << 20)->UseRealTime();

void BM_EaxDecrypt(benchmark::State& state) {
  std::vector<std::uint8_t> key(32, 7), nonce(16, 9), data(static_cast<std::size_t>(state.range(0)), 'x'),
      out(data.size());
  auto tag = *eax_encrypt(key, nonce, {}, data, out);
  for (auto _ : state) {
    auto r = eax_decrypt(key, nonce, {}, out, tag, data);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_EaxDecrypt)->Arg(500)->Arg(1 << 20);

void BM_Parsemain(benchmark::State& state) {
  std::string p = json_payload(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto out = parsemain(default_subtypes(), "unr-honeypot", "org", "UTC", p, Limits{});
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * p.size()));
}
BENCHMARK(BM_Parsemain)->Arg(500)->Arg(1 << 20);

// Realistic honeypot batches (bench/honeypot_payload.h, as scripts/bench.sh
// fills them): nested objects, arrays of strings, floats, booleans, nulls.
void BM_ParsemainHoneypot(benchmark::State& state) {
  std::string p = bench::honeypot_batch(1, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto out = parsemain(default_subtypes(), "unr-honeypot", "org", "UTC", p, Limits{});
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * p.size()));
}
BENCHMARK(BM_ParsemainHoneypot)->Arg(500)->Arg(1 << 20);

// Hash flooding: an object whose 2^n keys all collide under std::hash
// (tests/support/hash_flood.h), through parsemain. With the parser's
// duplicate-key table on std::hash this grows with the square of the keys;
// with keyed_hash.h it grows like any other object of that size.
void BM_ParsemainHashFlood(benchmark::State& state) {
  const std::string p = "{\"flood\": " + testing::colliding_object(static_cast<int>(state.range(0))) + "}";
  for (auto _ : state) {
    auto out = parsemain(default_subtypes(), "unr-honeypot", "org", "UTC", p, Limits{});
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * p.size()));
  state.counters["keys"] = static_cast<double>(std::size_t{1} << state.range(0));
}
BENCHMARK(BM_ParsemainHashFlood)->Arg(10)->Arg(12)->Arg(14)->Unit(benchmark::kMillisecond);

void BM_Utf8Check(benchmark::State& state) {
  std::string p = json_payload(1 << 20);
  for (auto _ : state) benchmark::DoNotOptimize(is_valid_utf8(p));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * p.size()));
}
BENCHMARK(BM_Utf8Check);

// One claim + finish round of 256 small entries against a SQLite file.
void BM_SqliteClaimFinish(benchmark::State& state) {
  auto dir = std::filesystem::temp_directory_path() / ("cybexp-bench-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  auto stores = *open_stores({"sqlite:" + (dir / "cache.db").string(), "", ""},
                             {"sqlite:" + (dir / "archive.db").string(), "", ""});
  std::vector<std::uint8_t> blob(500, 1);
  const std::size_t batch = 256;
  for (auto _ : state) {
    state.PauseTiming();
    for (std::size_t i = 0; i < batch; ++i) (void)stores.cache->add_entry({"n", "t", "o", "UTC", 0}, blob);
    state.ResumeTiming();
    ClaimRequest req;
    req.worker = "bench";
    req.max_entries = batch;
    auto claimed = *stores.cache->claim(req);
    std::vector<EntryResult> results;
    std::vector<RawDocument> docs;
    for (const auto& e : claimed) {
      std::string h = std::to_string(std::hash<std::string>{}(e.id)) + e.id;
      results.push_back({e.id, EntryFate::kProcessed, {h}, ""});
      docs.push_back({h, "unr_honeypot", "o", "UTC", "{\"a\": 1}"});
    }
    (void)stores.archive->put_documents(docs);
    (void)stores.cache->finish(results, "bench");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SqliteClaimFinish)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
