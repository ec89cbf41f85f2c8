// Internal to the tahoe module: the json.dumps string writer, one template
// over the output (a std::string, or SHA-256 through a buffer).
//
// Nested canonical strings are escaped again at each level. A string at
// nesting level k is written with unit = 2^k: every backslash that level 0
// would write becomes `unit` backslashes and every quote becomes unit-1
// backslashes and the quote, which is exactly k rounds of JSON escaping of
// printable ASCII.
//
// Output types provide append(p, n), put(c), backslashes(n), and raw(max) /
// commit(end): room for max bytes written through a pointer (nullptr when
// it cannot give that much), which the hot loops use to skip per-write
// capacity checks.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "tahoe/escape.h"

namespace cybexp::tahoe_detail {

// Copies n bytes with fixed-size moves for small n (run lengths between
// escapes are short; a libc call per run would dominate).
[[gnu::always_inline]] inline char* copy_small(char* d, const char* s, std::size_t n) {
  if (n >= 16) {
    std::memcpy(d, s, n);
  } else if (n >= 8) {
    std::memcpy(d, s, 8);
    std::memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(d, s, 4);
    // n is 4..7 here: s + n - 4 is inside the input.
    // cppcheck-suppress pointerOutOfBoundsCond
    std::memcpy(d + n - 4, s + n - 4, 4);
  } else {
    for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
  }
  return d + n;
}

inline constexpr char kSixteenBackslashes[] = "\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\";

// Sixteen backslashes at d (room for them ensured by the caller).
[[gnu::always_inline]] inline void store_backslashes16(char* d) {
  constexpr std::uint64_t kEight = 0x5C5C5C5C5C5C5C5CULL;  // a backslash in every byte
  std::memcpy(d, &kEight, 8);
  std::memcpy(d + 8, &kEight, 8);
}

// A destination with room already ensured for everything written to it.
struct RawSink {
  char* d;
  void append(const char* p, std::size_t n) { d = copy_small(d, p, n); }
  void put(char c) { *d++ = c; }
  void backslashes(std::uint64_t n) {
    if (n <= 16) {
      d = copy_small(d, kSixteenBackslashes, static_cast<std::size_t>(n));
    } else {
      std::memset(d, '\\', static_cast<std::size_t>(n));
      d += n;
    }
  }
};

// Output adaptor over std::string: writes through a cursor into spare
// capacity (std::string::append is not inlined and dominates small writes).
// The string gets its final size when the adaptor is destroyed.
class StringOut {
 public:
  explicit StringOut(std::string& s) : s_(s) {
    const std::size_t used = s.size();
    grow(0);
    cur_ = s_.data() + used;
  }
  ~StringOut() { s_.resize(size()); }
  StringOut(const StringOut&) = delete;
  StringOut& operator=(const StringOut&) = delete;

  void append(const char* p, std::size_t n) {
    reserve(n);
    cur_ = copy_small(cur_, p, n);
  }
  void put(char c) {
    reserve(1);
    // cur_ is set by the constructor's grow(0) and never null after it.
    *cur_++ = c;  // NOLINT(clang-analyzer-core.NullDereference)
  }
  void backslashes(std::uint64_t n) {
    reserve(static_cast<std::size_t>(n));
    RawSink r{cur_};
    r.backslashes(n);
    cur_ = r.d;
  }
  // Room for max bytes, written through the pointer, then commit().
  [[gnu::always_inline]] char* raw(std::size_t max) {
    reserve(max);
    return cur_;
  }
  [[gnu::always_inline]] void commit(char* end) { cur_ = end; }
  std::size_t size() const { return static_cast<std::size_t>(cur_ - s_.data()); }
  // The bytes written so far (valid until the next write).
  const char* data() const { return s_.data(); }
  // Drops what was written after the first n bytes.
  void truncate(std::size_t n) { cur_ = s_.data() + n; }

 private:
  [[gnu::always_inline]] void reserve(std::size_t n) {
    if (static_cast<std::size_t>(end_ - cur_) < n) [[unlikely]] grow(n);
  }
  // Makes the whole capacity (at least n more bytes) addressable; the new
  // bytes are written before they are ever read.
  [[gnu::noinline]] void grow(std::size_t n) {
    const std::size_t used = cur_ == nullptr ? s_.size() : size();
    const std::size_t cap = s_.capacity();
    const std::size_t want = used + n <= cap ? cap : std::max(cap * 2, used + n + 64);
    s_.resize_and_overwrite(want, [](char*, std::size_t m) { return m; });
    cur_ = s_.data() + used;
    end_ = s_.data() + s_.size();
  }
  std::string& s_;
  char* cur_ = nullptr;
  char* end_ = nullptr;
};

// Input is escaped in chunks of this many bytes, each written through raw
// room sized for its worst case.
inline constexpr std::size_t kChunk = 4096;
inline constexpr std::uint64_t kRawMax = 1 << 15;

// The body of json.dumps(s) (without the quotes) escaped for nesting level
// log2(unit). The input is UTF-8; byte lengths of sequences follow the lead
// byte, consistent with kByteCost.
template <class Sink>
void json_string_body(std::string_view s, std::uint64_t unit, Sink& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;  // start of bytes copied verbatim
  auto u_escape = [&](unsigned cu) {
    out.backslashes(unit);
    const char buf[5] = {'u', kHex[(cu >> 12) & 0xF], kHex[(cu >> 8) & 0xF], kHex[(cu >> 4) & 0xF],
                         kHex[cu & 0xF]};
    out.append(buf, 5);
  };
  while (p < end) {
    if (end - p >= 8) {
      const std::uint64_t m = escape_mask(load8(p));
      if (m == 0) {
        p += 8;
        continue;
      }
      p += std::countr_zero(m) / 8;
    }
    const auto b = static_cast<unsigned char>(*p);
    if (kByteCost.len[b] == 1) {
      ++p;
      continue;
    }
    out.append(run, static_cast<std::size_t>(p - run));
    char short_form = 0;
    switch (b) {
      case '"':
        short_form = '"';
        break;
      case '\\':
        short_form = '\\';
        break;
      case '\b':
        short_form = 'b';
        break;
      case '\f':
        short_form = 'f';
        break;
      case '\n':
        short_form = 'n';
        break;
      case '\r':
        short_form = 'r';
        break;
      case '\t':
        short_form = 't';
        break;
      default:
        break;
    }
    if (short_form == '"') {
      out.backslashes(2 * unit - 1);
      out.put('"');
      ++p;
    } else if (short_form == '\\') {
      out.backslashes(2 * unit);
      ++p;
    } else if (short_form != 0) {
      out.backslashes(unit);
      out.put(short_form);
      ++p;
    } else if (b < 0x80) {
      u_escape(b);
      ++p;
    } else if (b < 0xC0) {
      ++p;  // stray continuation byte (not valid UTF-8): dropped, as sized
    } else {
      // Decode the sequence; missing continuation bytes read as zero bits.
      const int n = b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
      unsigned cp = b & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
      ++p;
      bool truncated = false;
      for (int i = 1; i < n; ++i) {
        unsigned cont = 0;
        if (p < end && (static_cast<unsigned char>(*p) & 0xC0) == 0x80) {
          cont = static_cast<unsigned char>(*p) & 0x3F;
          ++p;
        } else {
          truncated = true;
        }
        cp = (cp << 6) | cont;
      }
      if (truncated) {
        // Not UTF-8 (only unchecked text, such as an entry's metadata, gets
        // here): one U+FFFD, so no input byte yields more than the callers'
        // per-byte room. A lone 4-byte lead used to write a 12-byte pair
        // for 1 byte and overran it (found by fuzz_archive_one).
        u_escape(0xFFFD);
      } else if (n == 4) {
        const unsigned v = cp - 0x10000;
        u_escape(0xD800 + ((v >> 10) & 0x3FF));
        u_escape(0xDC00 + (v & 0x3FF));
      } else {
        u_escape(cp);
      }
    }
    run = p;
  }
  out.append(run, static_cast<std::size_t>(end - run));
}

// Printable-ASCII text (a canonical string) escaped `unit` times over:
// '"' -> unit-1 backslashes and '"', '\\' -> unit backslashes.
template <class Sink>
void reescape_body(std::string_view s, std::uint64_t unit, Sink& out) {
  const char* p = s.data();
  const char* end = p + s.size();
  const char* run = p;
  while (p < end) {
    if (end - p >= 8) {
      const std::uint64_t m = quote_mask(load8(p));
      if (m == 0) {
        p += 8;
        continue;
      }
      p += std::countr_zero(m) / 8;
    }
    if (*p != '"' && *p != '\\') {
      ++p;
      continue;
    }
    out.append(run, static_cast<std::size_t>(p - run));
    if (*p == '"') {
      out.backslashes(unit - 1);
      out.put('"');
    } else {
      out.backslashes(unit);
    }
    run = ++p;
  }
  out.append(run, static_cast<std::size_t>(end - run));
}

// reescape_body for unit <= 8 straight into memory: copies 8 bytes at a
// time and each expansion as one 8-byte store, overrunning what it keeps by
// up to 8 bytes (the caller provides the slack). Returns the new end.
inline char* reescape_small_unit(std::string_view s, std::uint64_t unit, char* d) {
  // [0..8): a quote's expansion, [8..16): a backslash's.
  char expansion[16];
  std::memset(expansion, '\\', 16);
  expansion[unit - 1] = '"';
  const char* p = s.data();
  const char* end = p + s.size();
  while (end - p >= 8) {
    const std::uint64_t x = load8(p);
    std::uint64_t m = quote_mask(x);
    if (m == 0) {
      std::memcpy(d, p, 8);
      d += 8;
      p += 8;
      continue;
    }
    // Walk the word's specials from its mask; nothing here waits on a load
    // of the previous step, so specials cost a few cycles each.
    // Bytes are taken from x (shifted), never read past the input.
    int prev = 0;
    do {
      const int j = std::countr_zero(m) / 8;
      store8(d, x >> (8 * prev));
      d += j - prev;
      const bool is_bslash = ((x >> (8 * j)) & 0xFF) == '\\';
      std::memcpy(d, expansion + std::ptrdiff_t{8} * is_bslash, 8);
      d += unit;
      prev = j + 1;
      m &= m - 1;
    } while (m != 0);
    if (prev < 8) {
      store8(d, x >> (8 * prev));
      d += 8 - prev;
    }
    p += 8;
  }
  for (; p < end; ++p) {
    if (*p == '"' || *p == '\\') {
      std::memcpy(d, expansion + std::ptrdiff_t{8} * (*p == '\\'), 8);
      d += unit;
    } else {
      *d++ = *p;
    }
  }
  return d;
}

// Slack past the worst case that raw writers may scribble on.
inline constexpr std::size_t kRawSlack = 16;

#if defined(__SSE2__)
// reescape_body for 1 <= unit <= 17 straight into memory, 16 bytes at a
// time. Escaping printable ASCII `unit` times over puts unit-1 backslashes
// before each '"' or '\\' and keeps the byte itself, so each special costs
// one copy of the run before it (one 16-byte move) and one 16-byte store of
// backslashes: canonical items of arrays of objects have a special every
// three bytes or so. Writes up to 16 bytes past what it keeps (the caller's
// slack); reads only inside s. Returns the new end.
inline char* reescape_insert(std::string_view s, std::uint64_t unit, char* d) {
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i bslash = _mm_set1_epi8('\\');
  const std::ptrdiff_t extra = static_cast<std::ptrdiff_t>(unit) - 1;
  const char* p = s.data();
  const char* end = p + s.size();
  // Runs are moved with 16-byte loads from their start, which is inside
  // the current block: the block after it must be inside s too.
  while (end - p >= 32) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    auto m = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash))));
    const char* run = p;
    while (m != 0) {
      const char* q = p + std::countr_zero(m);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm_loadu_si128(reinterpret_cast<const __m128i*>(run)));
      d += q - run;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d), bslash);
      d += extra;
      run = q;
      m &= m - 1;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm_loadu_si128(reinterpret_cast<const __m128i*>(run)));
    p += 16;
    d += p - run;
  }
  for (; p < end; ++p) {
    if (*p == '"' || *p == '\\') {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d), bslash);
      d += extra;
    }
    *d++ = *p;
  }
  return d;
}
#endif

// Runs body(chunk, sink) over s in chunks that do not split a UTF-8
// sequence, through raw room when the worst case (per_byte * chunk) is small.
template <class Out, class Body>
void write_chunked(std::string_view s, std::uint64_t per_byte, Out& out, Body body) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t n = std::min(s.size() - pos, kChunk);
    while (pos + n < s.size() && (static_cast<unsigned char>(s[pos + n]) & 0xC0) == 0x80) ++n;
    const std::string_view chunk = s.substr(pos, n);
    char* d = per_byte <= kRawMax / n ? out.raw(static_cast<std::size_t>(per_byte * n)) : nullptr;
    if (d != nullptr) {
      RawSink r{d};
      body(chunk, r);
      out.commit(r.d);
    } else {
      body(chunk, out);
    }
    pos += n;
  }
}

// Writes json.dumps(s) (ensure_ascii) escaped for nesting level log2(unit);
// unit == 1 is plain json.dumps.
template <class Out>
void write_json_string(std::string_view s, std::uint64_t unit, Out& out) {
  // Worst case per input byte: a quote or backslash (2 * unit) or a
  // \u escape (unit + 5).
  const std::uint64_t per_byte = std::max<std::uint64_t>(2 * unit, unit + 5);
  if (s.size() <= kChunk && per_byte <= kRawMax / (s.size() + 1)) {
    // The usual short string: one room for all of it, quotes included.
    if (char* d = out.raw(static_cast<std::size_t>(per_byte * (s.size() + 1))); d != nullptr) {
      RawSink r{d};
      r.backslashes(unit - 1);
      r.put('"');
      json_string_body(s, unit, r);
      r.backslashes(unit - 1);
      r.put('"');
      out.commit(r.d);
      return;
    }
  }
  out.backslashes(unit - 1);
  out.put('"');
  write_chunked(s, per_byte, out, [unit](std::string_view chunk, auto& sink) {
    json_string_body(chunk, unit, sink);
  });
  out.backslashes(unit - 1);
  out.put('"');
}

// write_json_string for a string with nothing to escape (printable ASCII
// without '"' or '\\'): the quotes around it.
template <class Out>
void write_plain_string(std::string_view s, std::uint64_t unit, Out& out) {
  if (unit >= 1 && unit <= 16) {
    const std::size_t q = static_cast<std::size_t>(unit - 1);  // at most 15
    if (char* d = out.raw(s.size() + 2 * q + 2); d != nullptr) {
      d = copy_small(d, kSixteenBackslashes, q);
      *d++ = '"';
      d = copy_small(d, s.data(), s.size());
      d = copy_small(d, kSixteenBackslashes, q);
      *d++ = '"';
      out.commit(d);
      return;
    }
  }
  out.backslashes(unit - 1);
  out.put('"');
  out.append(s.data(), s.size());
  out.backslashes(unit - 1);
  out.put('"');
}

// Writes s chunk by chunk, each through write_raw(chunk, dest) into room the
// sink hands out (returning the end written), or through reescape_body when
// the sink has no such room.
template <class Out, class WriteRaw>
void reescape_chunks(std::string_view s, std::uint64_t unit, Out& out, WriteRaw write_raw) {
  for (std::size_t pos = 0; pos < s.size(); pos += kChunk) {
    const std::string_view chunk = s.substr(pos, kChunk);
    char* d = out.raw(static_cast<std::size_t>(chunk.size() * unit) + kRawSlack);
    if (d == nullptr) {
      reescape_body(chunk, unit, out);
    } else {
      out.commit(write_raw(chunk, d));
    }
  }
}

// Writes a canonical string (printable ASCII) escaped `unit` times over.
template <class Out>
void write_reescaped(std::string_view s, std::uint64_t unit, Out& out) {
#if defined(__SSE2__)
  if (unit <= 17) {
    reescape_chunks(s, unit, out, [unit](std::string_view chunk, char* d) {
      return reescape_insert(chunk, unit, d);
    });
    return;
  }
#endif
  if (unit <= 8) {
    reescape_chunks(s, unit, out, [unit](std::string_view chunk, char* d) {
      return reescape_small_unit(chunk, unit, d);
    });
    return;
  }
  write_chunked(s, unit, out,
                [unit](std::string_view chunk, auto& sink) { reescape_body(chunk, unit, sink); });
}

}  // namespace cybexp::tahoe_detail
