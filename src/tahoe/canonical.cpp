// TAHOE's canonical form and the Raw document's _hash. The form is written
// in one pass straight to its destination (a string, or SHA-256 through a
// buffer): a value nested k levels deep is written with its quotes and
// backslashes pre-multiplied for k rounds of escaping (escape_writer.h), so no
// intermediate string exists except each array's items, which must be
// sorted as strings.
#include "cybexp/canonical.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "cybexp/document.h"
#include "cybexp/python_json.h"
#include "tahoe/canonical_internal.h"
#include "tahoe/escape_writer.h"
#include "tahoe/scalar_writer.h"
#include "util/defer.h"
#include "util/encoding.h"
#include "util/keyed_hash.h"

namespace cybexp {

namespace {

using tahoe_detail::Classifier;
using tahoe_detail::StringOut;

// Output adaptor that feeds SHA-256 in 64 KiB blocks.
class HashOut {
 public:
  explicit HashOut(EVP_MD_CTX* ctx) : ctx_(ctx) {}
  void append(const char* p, std::size_t n) {
    if (n > buf_.size() - used_) {
      flush();
      if (n >= buf_.size()) {
        update(p, n);
        return;
      }
    }
    tahoe_detail::copy_small(buf_.data() + used_, p, n);
    used_ += n;
  }
  void put(char c) {
    if (used_ == buf_.size()) flush();
    buf_[used_++] = c;
  }
  void backslashes(std::uint64_t n) {
    if (n <= buf_.size() - used_) {
      tahoe_detail::RawSink r{buf_.data() + used_};
      r.backslashes(n);
      used_ += static_cast<std::size_t>(n);
      return;
    }
    while (n > 0) {
      if (used_ == buf_.size()) flush();
      const std::size_t k =
          static_cast<std::size_t>(std::min<std::uint64_t>(n, buf_.size() - used_));
      std::memset(buf_.data() + used_, '\\', k);
      used_ += k;
      n -= k;
    }
  }
  // Room for max bytes (nullptr if more than the buffer), then commit().
  char* raw(std::size_t max) {
    if (max > buf_.size()) return nullptr;
    if (max > buf_.size() - used_) flush();
    return buf_.data() + used_;
  }
  void commit(char* end) { used_ = static_cast<std::size_t>(end - buf_.data()); }
  void flush() {
    update(buf_.data(), used_);
    used_ = 0;
  }
  bool ok() const { return ok_; }

 private:
  void update(const char* p, std::size_t n) {
    if (n > 0 && EVP_DigestUpdate(ctx_, p, n) != 1) ok_ = false;
  }
  EVP_MD_CTX* ctx_;
  std::array<char, 1 << 16> buf_;
  std::size_t used_ = 0;
  bool ok_ = true;
};

template <class Out>
void write_quote(std::uint64_t unit, Out& out) {
  out.backslashes(unit - 1);
  out.put('"');
}

// An array item's canonical string, with 8 of its bytes (past the prefix
// all items share) as a big-endian key: most comparisons end there.
struct SortItem {
  std::uint64_t key;
  std::string_view text;
};

// An array item's canonical string as an offset and length in its arena,
// with 8 of its bytes as the sort key (as SortItem): 16 bytes an item, for
// arrays of millions of items.
struct ArenaItem {
  std::uint64_t key;
  std::uint32_t offset;
  std::uint32_t length;
};

// Per-nesting-depth scratch, reused across siblings.
struct Scratch {
  std::string arena;
  std::size_t arena_touched = 0;  // the most bytes DocWriter wrote to arena: its resident part
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  std::vector<SortItem> items;
  std::vector<SortItem> sort_tmp;
  std::vector<ArenaItem> doc_items;  // DocWriter's items: 16 bytes each
  std::vector<const Value*> reps;
  std::vector<const Object::value_type*> members;
  std::vector<std::pair<std::string_view, std::size_t>> doc_members;  // key, value node
  std::vector<std::pair<std::string_view, std::size_t>> sorted_members;
  std::vector<std::string_view> prev_keys;  // the last object's keys here, in document order
  std::vector<std::uint32_t> prev_order;    // and their sorted order
  std::vector<std::uint32_t> table;  // item id + 1, 0 = empty (de-duplication)
  std::size_t starts = 0;  // distinct items so far, while de-duplicating (see push_start)
  std::size_t table_used = 0;
};

// Code-point order of object keys is the byte order of their UTF-8; usually
// decided by the first byte.
inline bool key_less(std::string_view x, std::string_view y) {
  if (!x.empty() && !y.empty() && x[0] != y[0])
    return static_cast<unsigned char>(x[0]) < static_cast<unsigned char>(y[0]);
  return x < y;
}

bool item_less(const SortItem& a, const SortItem& b) {
  return a.key != b.key ? a.key < b.key : a.text < b.text;
}

// Large arrays: LSD radix sort on the keys (no comparisons, no bad
// pivots), then items with equal keys by their text.
void sort_items(std::vector<SortItem>& v, std::vector<SortItem>& tmp) {
  if (v.size() < 64) {
    std::sort(v.begin(), v.end(), item_less);
    return;
  }
  tmp.resize(v.size());
  // All eight byte histograms in one pass; passes where every key has
  // the same byte are skipped.
  std::array<std::array<std::size_t, 256>, 8> counts{};
  for (const SortItem& it : v)
    for (int b = 0; b < 8; ++b) ++counts[b][(it.key >> (8 * b)) & 0xFF];
  for (int b = 0; b < 8; ++b) {
    std::array<std::size_t, 256>& c = counts[b];
    if (std::find(c.begin(), c.end(), v.size()) != c.end()) continue;
    std::size_t sum = 0;
    for (std::size_t& n : c) sum += std::exchange(n, sum);
    for (const SortItem& it : v) tmp[c[(it.key >> (8 * b)) & 0xFF]++] = it;
    v.swap(tmp);
  }
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i + 1;
    while (j < v.size() && v[j].key == v[i].key) ++j;
    if (j - i > 1)
      std::sort(v.begin() + static_cast<std::ptrdiff_t>(i),
                v.begin() + static_cast<std::ptrdiff_t>(j), item_less);
    i = j;
  }
}

// Sorts the built items by code point (byte order: they are ASCII) and
// drops duplicates.
void sort_unique(Scratch& s) {
  s.items.clear();
  if (s.spans.empty()) return;
  const std::string_view first(s.arena.data() + s.spans[0].first, s.spans[0].second);
  std::size_t lcp = first.size();
  for (const auto& [start, len] : s.spans) {
    const std::string_view t(s.arena.data() + start, len);
    const std::size_t n = std::min(lcp, t.size());
    std::size_t i = 0;
    while (i < n && t[i] == first[i]) ++i;
    lcp = i;
  }
  for (const auto& [start, len] : s.spans) {
    const std::string_view t(s.arena.data() + start, len);
    // Canonical strings hold no NUL, so zero padding keeps the order.
    std::uint64_t key = 0;
    if (t.size() >= lcp + 8) {
      key = std::byteswap(tahoe_detail::load8(t.data() + lcp));  // first byte most significant
    } else {
      for (std::size_t i = 0; i < 8; ++i)
        key = (key << 8) | (lcp + i < t.size() ? static_cast<unsigned char>(t[lcp + i]) : 0u);
    }
    s.items.push_back({key, t});
  }
  sort_items(s.items, s.sort_tmp);
  s.items.erase(std::unique(s.items.begin(), s.items.end(),
                            [](const SortItem& a, const SortItem& b) {
                              return a.key == b.key && a.text == b.text;
                            }),
                s.items.end());
}


// Writes canonical(v) escaped for nesting level log2(unit). With a
// Classifier (used when duplicates may matter for the size), each array
// builds one item per equality class only.
class Writer {
 public:
  explicit Writer(const Classifier* classes) : classes_(classes) {}

  template <class Out>
  void emit(const Value& v, std::uint64_t unit, Out& out) {
    if (tahoe_detail::write_scalar(v, out)) return;
    switch (v.storage().index()) {
      case 4:
        tahoe_detail::write_json_string(python_strip(v.as_string()), unit, out);
        break;
      case 5:
        emit_array(v.as_array(), unit, out);
        break;
      case 6:
        emit_object(v.as_object(), unit, out);
        break;
      default:
        break;
    }
  }

 private:
  Scratch& enter() {
    if (depth_ == scratch_.size()) scratch_.emplace_back();
    return scratch_[depth_++];
  }

  template <class Out>
  void emit_object(const Object& obj, std::uint64_t unit, Out& out) {
    Scratch& s = enter();
    s.members.clear();
    for (const auto& m : obj) s.members.push_back(&m);
    // Code-point order of the keys is the byte order of their UTF-8.
    // Objects are small: insertion sort, usually decided by the first byte.
    auto less = [](const Object::value_type* a, const Object::value_type* b) {
      const std::string_view x = a->first, y = b->first;
      if (!x.empty() && !y.empty() && x[0] != y[0])
        return static_cast<unsigned char>(x[0]) < static_cast<unsigned char>(y[0]);
      return x < y;
    };
    if (s.members.size() <= 16) {
      for (std::size_t i = 1; i < s.members.size(); ++i) {
        const Object::value_type* m = s.members[i];
        std::size_t j = i;
        for (; j > 0 && less(m, s.members[j - 1]); --j) s.members[j] = s.members[j - 1];
        s.members[j] = m;
      }
    } else {
      std::sort(s.members.begin(), s.members.end(), less);
    }
    out.put('{');
    for (std::size_t i = 0; i < s.members.size(); ++i) {
      if (i > 0) out.append(", ", 2);
      tahoe_detail::write_json_string(s.members[i]->first, unit, out);
      out.append(": ", 2);
      write_quote(unit, out);
      emit(s.members[i]->second, unit * 2, out);
      write_quote(unit, out);
    }
    out.put('}');
    --depth_;
  }

  template <class Out>
  void emit_array(const Array& arr, std::uint64_t unit, Out& out) {
    Scratch& s = enter();
    s.reps.clear();
    if (classes_ != nullptr && arr.size() > 1) {
      // One representative per class: duplicates are never built.
      std::unordered_set<std::uint32_t> seen;
      for (const Value& item : arr)
        if (seen.insert(classes_->class_of(item)).second) s.reps.push_back(&item);
    } else {
      for (const Value& item : arr) s.reps.push_back(&item);
    }
    s.arena.clear();
    s.spans.clear();
    {
      StringOut o(s.arena);
      for (const Value* item : s.reps) {
        const std::size_t start = o.size();
        emit(*item, 1, o);
        s.spans.emplace_back(start, o.size() - start);
      }
    }
    sort_unique(s);
    out.put('[');
    for (std::size_t i = 0; i < s.items.size(); ++i) {
      if (i > 0) out.append(", ", 2);
      write_quote(unit, out);
      tahoe_detail::write_reescaped(s.items[i].text, unit * 2, out);
      write_quote(unit, out);
    }
    out.put(']');
    --depth_;
  }

  const Classifier* classes_;
  std::deque<Scratch> scratch_;  // deque: references stay valid as it grows
  std::size_t depth_ = 0;
};


// Thrown out of a DocWriter when its deadline has passed; raw_hash and
// canonical turn it into an error.
struct DeadlinePassed {};

// Writer over a Document's tape: the same output as Writer without a
// Classifier (documents whose size needs one take the Value path).
class DocWriter {
 public:
  // size_bound: an upper bound of the whole canonical form, which bounds
  // every array's arena too.
  DocWriter(const Document& doc, std::uint64_t size_bound, const Deadline& deadline)
      : doc_(doc),
        nodes_(doc.nodes()),
        size_bound_(size_bound),
        deadline_(deadline),
        countdown_(deadline.set() ? kCheckEvery : SIZE_MAX),
        shared_(!t_in_use),
        scratch_(shared_ ? t_scratch : own_) {
    t_in_use = true;
  }
  // The per-depth buffers stay with the thread for the next document, up
  // to a few MiB each (fresh large blocks cost a page fault per 4 KiB).
  ~DocWriter() {
    if (!shared_) return;
    t_in_use = false;
    constexpr std::size_t kKeep = 4u << 20;
    // The first few depths only: at most about 16 MiB stay with the thread.
    if (scratch_.size() > 4) scratch_.resize(4);
    for (Scratch& s : scratch_) {
      // An arena reserved at a document's size bound is mostly pages never
      // written (not resident): it is kept while what was written of it
      // stays small, so the next document of that size neither maps nor
      // faults in a fresh one (large blocks are mmapped: apps/.../main.cpp).
      if (s.arena_touched > kKeep) {
        std::string().swap(s.arena);
        s.arena_touched = 0;
      }
      if (s.doc_items.capacity() * sizeof(ArenaItem) > kKeep) std::vector<ArenaItem>().swap(s.doc_items);
      if (s.doc_members.capacity() * sizeof(s.doc_members[0]) > kKeep) {
        decltype(s.doc_members)().swap(s.doc_members);
        decltype(s.sorted_members)().swap(s.sorted_members);
      }
      s.prev_keys.clear();  // views into this document
      s.prev_order.clear();
    }
  }
  DocWriter(const DocWriter&) = delete;
  DocWriter& operator=(const DocWriter&) = delete;

  template <class Out>
  void emit(std::size_t i, std::uint64_t unit, Out& out) {
    const Document::Node& n = nodes_[i];
    if (n.kind() == Document::kArray) {
      tick();
      emit_array(i, unit, out);
    } else if (n.kind() == Document::kObject) {
      tick();
      emit_object(i, unit, out);
    } else {
      emit_leaf(n, unit, out);
    }
  }

  // An array's items in order: nodes, and the items of its runs.
  struct ItemCursor {
    std::size_t j;                 // the next node
    std::uint32_t run_left = 0;    // items left of the run before it
    Document::RunItems run = {};
  };
  template <class Out>
  void emit_next_item(ItemCursor& c, std::uint64_t unit, Out& out) {
    if (c.run_left == 0 && nodes_[c.j].is_run()) {
      c.run = Document::RunItems(doc_, nodes_[c.j]);
      c.run_left = nodes_[c.j].count();
      ++c.j;
    }
    if (c.run_left > 0) {
      --c.run_left;
      emit_leaf(c.run.next(), unit, out);
      return;
    }
    emit(c.j, unit, out);
    c.j = doc_.next(c.j);
  }

  // A scalar or a string (a node of the tape, or an item of a run).
  template <class Out>
  void emit_leaf(const Document::Node& n, std::uint64_t unit, Out& out) {
    tick();
    switch (n.kind()) {
      case Document::kNull:
        out.append("null", 4);
        break;
      case Document::kFalse:
        out.append("false", 5);
        break;
      case Document::kTrue:
        out.append("true", 4);
        break;
      case Document::kInteger: {
        const std::string_view t = doc_.text(n);
        out.append(t.data(), t.size());
        break;
      }
      case Document::kFloat: {
        const std::string_view t = doc_.text(n);
        out.append(t.data(), t.size());
        break;
      }
      case Document::kString:
        if (n.flag()) {
          tahoe_detail::write_plain_string(strip_plain(doc_.text(n)), unit, out);
        } else {
          tahoe_detail::write_json_string(python_strip(doc_.text(n)), unit, out);
        }
        break;
      case Document::kArray:
      case Document::kObject:
        break;  // emit's
    }
  }

 private:
  Scratch& enter() {
    if (depth_ == scratch_.size()) scratch_.emplace_back();
    return scratch_[depth_++];
  }

  // limits.entry_seconds, every kCheckEvery nodes (a clock read each).
  [[gnu::always_inline]] void tick() {
    if (--countdown_ == 0) {
      countdown_ = kCheckEvery;
      if (deadline_.passed()) throw DeadlinePassed{};
    }
  }

  // str.strip() of a plain string (printable ASCII): only spaces.
  static std::string_view strip_plain(std::string_view t) {
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    return t;
  }

  // The usual object member, a plain key and a scalar or plain string
  // value, nested at most 3 levels (unit <= 8): written through one room
  // with fixed-size stores (a write call per quote, separator and token
  // cost several times as much: objects of short fields are most of a
  // batch of events). False, writing nothing, for any other member.
  template <class Out>
  bool write_leaf_member(std::string_view key, std::size_t vi, bool comma, std::uint64_t unit, Out& out) {
    const Document::Node& v = nodes_[vi];
    if (unit > 8 || v.kind() >= Document::kArray || !nodes_[vi - 1].flag()) return false;
    std::string_view text;
    bool quoted = false;
    switch (v.kind()) {
      case Document::kNull:
        text = "null";
        break;
      case Document::kFalse:
        text = "false";
        break;
      case Document::kTrue:
        text = "true";
        break;
      case Document::kString:
        if (!v.flag()) return false;
        text = strip_plain(doc_.text(v));
        quoted = true;
        break;
      default:  // numbers
        text = doc_.text(v);
        break;
    }
    // ", ", the key and ": " with their quotes, the value's two quotes and
    // its own (twice the unit) around it, and slack for 16-byte stores.
    const std::size_t room = key.size() + text.size() + static_cast<std::size_t>(8 * unit) + 4 + 16;
    char* d = out.raw(room);
    if (d == nullptr) return false;
    tick();
    const std::size_t q = static_cast<std::size_t>(unit - 1);  // at most 7
    auto quote = [&d](std::size_t backslashes) {
      tahoe_detail::store_backslashes16(d);
      d += backslashes;
      *d++ = '"';
    };
    auto pair = [&d](char a, char b) {  // a separator: no NUL, no call
      d[0] = a;
      d[1] = b;
      d += 2;
    };
    if (comma) pair(',', ' ');
    quote(q);
    d = tahoe_detail::copy_small(d, key.data(), key.size());
    quote(q);
    pair(':', ' ');
    quote(q);
    if (quoted) {
      quote(2 * q + 1);
      d = tahoe_detail::copy_small(d, text.data(), text.size());
      quote(2 * q + 1);
    } else {
      d = tahoe_detail::copy_small(d, text.data(), text.size());
    }
    quote(q);
    out.commit(d);
    return true;
  }

  template <class Out>
  void emit_object(std::size_t i, std::uint64_t unit, Out& out) {
    Scratch& s = enter();
    auto& m = s.doc_members;
    m.clear();
    const std::uint32_t count = nodes_[i].count();
    std::size_t j = i + 1;
    for (std::uint32_t k = 0; k < count; ++k) {
      m.emplace_back(doc_.text(nodes_[j]), j + 1);
      j = doc_.next(j + 1);
    }
    if (m.size() > kCachedKeys) {
      // Large objects: sorted in place, nothing kept.
      std::sort(m.begin(), m.end(), [](const auto& a, const auto& b) { return key_less(a.first, b.first); });
    } else {
      // Objects in a batch mostly have the same keys in the same order: the
      // previous object's order at this depth is reused when they match.
      bool same = m.size() == s.prev_keys.size();
      for (std::size_t k = 0; same && k < m.size(); ++k) same = m[k].first == s.prev_keys[k];
      if (!same) {
        auto& order = s.prev_order;
        order.resize(m.size());
        for (std::size_t k = 0; k < m.size(); ++k) order[k] = static_cast<std::uint32_t>(k);
        auto less = [&m](std::uint32_t a, std::uint32_t b) { return key_less(m[a].first, m[b].first); };
        for (std::size_t a = 1; a < order.size(); ++a) {
          const std::uint32_t cur = order[a];
          std::size_t b = a;
          for (; b > 0 && less(cur, order[b - 1]); --b) order[b] = order[b - 1];
          order[b] = cur;
        }
        s.prev_keys.resize(m.size());
        for (std::size_t k = 0; k < m.size(); ++k) s.prev_keys[k] = m[k].first;
      }
      s.sorted_members.resize(m.size());
      for (std::size_t k = 0; k < m.size(); ++k) s.sorted_members[k] = m[s.prev_order[k]];
      m.swap(s.sorted_members);
    }
    out.put('{');
    for (std::size_t k = 0; k < m.size(); ++k) {
      if (write_leaf_member(m[k].first, m[k].second, k > 0, unit, out)) continue;
      if (k > 0) out.append(", ", 2);
      if (nodes_[m[k].second - 1].flag()) {
        tahoe_detail::write_plain_string(m[k].first, unit, out);
      } else {
        tahoe_detail::write_json_string(m[k].first, unit, out);
      }
      out.append(": ", 2);
      write_quote(unit, out);
      emit(m[k].second, unit * 2, out);
      write_quote(unit, out);
    }
    out.put('}');
    --depth_;
  }

  template <class Out>
  void emit_array(std::size_t i, std::uint64_t unit, Out& out) {
    Scratch& s = enter();
    s.arena.clear();
    std::vector<ArenaItem>& items = s.doc_items;
    items.clear();
    // A large array's arena would otherwise double as it grows, holding the
    // old copy and twice the room at once (up to 4 times its items' size).
    // Given the whole form's bound as room instead (pages never written are
    // never resident), it never moves. Two such at a time at most, so a
    // nesting of large arrays cannot reserve the bound at every level.
    bool reserved = false;
    if (std::max(nodes_[i].ref, nodes_[i].count()) >= kReserveFromNodes && arenas_reserved_ < 2 && s.arena.capacity() < size_bound_) {
      // A quarter more, so that documents a little larger reuse it.
      s.arena.reserve(static_cast<std::size_t>(size_bound_ + std::min<std::uint64_t>(size_bound_ / 4, 16u << 20)));
      reserved = true;
      ++arenas_reserved_;
    }
    DEFER(if (reserved) --arenas_reserved_);
    {
      // Each item's canonical string into the arena; its start offset is
      // kept in the key until the arena stops moving.
      StringOut o(s.arena);
      const std::uint32_t count = nodes_[i].count();
      ItemCursor cursor{i + 1};
      if (count < kDedupFrom) {
        // Room for every item (pages never written are never resident), so
        // the vector is not copied as it grows.
        items.reserve(count);
        for (std::uint32_t k = 0; k < count; ++k) {
          items.push_back({o.size(), 0, 0});
          emit_next_item(cursor, 1, o);
        }
      } else {
        // Large arrays drop duplicates as they are built (a table keyed by
        // the process's secret hash: the items are the sender's), so memory
        // follows the distinct items and the sort sees each once.
        // Their starts are kept in 4 bytes each until then (push_start), and
        // the 16-byte sort entries made in their place once the table is
        // gone: 16 bytes a distinct item at most, instead of 16 plus the
        // table's 8 to 16.
        items.reserve(count);
        s.starts = 0;
        s.table.assign(1024, 0);
        s.table_used = 0;
        for (std::uint32_t k = 0; k < count; ++k) {
          const std::size_t start = o.size();
          if (start > UINT32_MAX) throw std::length_error("an array's canonical items exceed 4 GiB");
          emit_next_item(cursor, 1, o);
          const std::string_view t(o.data() + start, o.size() - start);
          if (t.size() > kDedupUpTo) {
            // Long items cost more than their 16 bytes of sort entry
            // anyway; the sort drops their duplicates.
            push_start(s, start);
            continue;
          }
          if (s.table_used * 2 >= s.table.size()) grow_table(s, o.data(), start);
          const std::size_t mask = s.table.size() - 1;
          std::size_t slot = keyed_hash(t) & mask;
          bool dup = false;
          for (; s.table[slot] != 0; slot = (slot + 1) & mask) {
            const std::size_t id = s.table[slot] - 1;
            if (item_text(s, o.data(), id, start) == t) {
              dup = true;
              break;
            }
          }
          if (dup) {
            o.truncate(start);
          } else {
            push_start(s, start);
            s.table[slot] = static_cast<std::uint32_t>(s.starts);
            ++s.table_used;
          }
        }
        s.table.clear();
        s.table.shrink_to_fit();
        expand_starts(s);
      }
    }
    s.arena_touched = std::max(s.arena_touched, s.arena.size());
    sort_unique_in_place(s);
    out.put('[');
    const char* base = s.arena.data();
    for (std::size_t k = 0; k < items.size(); ++k) {
      if (k > 0) out.append(", ", 2);
      write_quote(unit, out);
      tahoe_detail::write_reescaped(std::string_view(base + items[k].offset, items[k].length), unit * 2, out);
      write_quote(unit, out);
    }
    out.put(']');
    --depth_;
  }

  static constexpr std::uint32_t kDedupFrom = 64;
  static constexpr std::uint32_t kReserveFromNodes = 1u << 16;  // a subtree or array this large
  static constexpr std::size_t kCachedKeys = 64;
  static constexpr std::size_t kDedupUpTo = 32;
  static constexpr std::size_t kSmallArray = 8;

  // While an array is de-duplicated, the start of its k-th distinct item is
  // the k-th 4-byte word of doc_items' storage (four to an element, written
  // and read as bytes), so the sort entries can later be made in place.
  static void push_start(Scratch& s, std::size_t start) {
    const auto word = static_cast<std::uint32_t>(start);  // checked by the caller: at most 4 GiB
    if (s.starts % 4 == 0) s.doc_items.push_back({0, 0, 0});
    std::memcpy(reinterpret_cast<char*>(s.doc_items.data()) + 4 * s.starts, &word, 4);
    ++s.starts;
  }
  static std::uint32_t start_at(const Scratch& s, std::size_t k) {
    std::uint32_t word;
    std::memcpy(&word, reinterpret_cast<const char*>(s.doc_items.data()) + 4 * k, 4);
    return word;
  }
  // The sort entries (key: the start) over the words, from the last: entry
  // k (bytes 16k on) only covers words k and above, already read.
  static void expand_starts(Scratch& s) {
    s.doc_items.resize(s.starts);
    for (std::size_t k = s.starts; k-- > 0;) s.doc_items[k] = ArenaItem{start_at(s, k), 0, 0};
    s.starts = 0;
  }

  // Item id's text while the arena is being written (end: where the item
  // after the last one starts).
  static std::string_view item_text(const Scratch& s, const char* base, std::size_t id,
                                    std::size_t end) {
    const std::size_t from = start_at(s, id);
    const std::size_t to = id + 1 < s.starts ? start_at(s, id + 1) : end;
    return {base + from, to - from};
  }

  static void grow_table(Scratch& s, const char* base, std::size_t end) {
    // Rebuilt from the items, so the old table goes first: assign() would
    // hold both (1.5 times the new size) at the peak of a large array.
    const std::size_t size = s.table.size() * 2;
    std::vector<std::uint32_t>().swap(s.table);
    s.table.assign(size, 0);
    const std::size_t mask = s.table.size() - 1;
    for (std::size_t id = 0; id < s.starts; ++id) {
      const std::string_view t = item_text(s, base, id, end);
      if (t.size() > kDedupUpTo) continue;
      std::size_t slot = keyed_hash(t) & mask;
      while (s.table[slot] != 0) slot = (slot + 1) & mask;
      s.table[slot] = static_cast<std::uint32_t>(id + 1);
    }
  }

  // As sort_unique, for items whose keys hold their arena offsets: 16 bytes
  // an item and no second buffer (a comparison sort, keys first). Offsets
  // and lengths are 32 bits: the canonical size limit keeps one array's
  // items far below 4 GiB (checked).
  static void sort_unique_in_place(Scratch& s) {
    std::vector<ArenaItem>& v = s.doc_items;
    if (v.empty()) return;
    if (s.arena.size() > UINT32_MAX) throw std::length_error("an array's canonical items exceed 4 GiB");
    const char* base = s.arena.data();
    for (std::size_t k = 0; k < v.size(); ++k) {
      const std::size_t start = static_cast<std::size_t>(v[k].key);
      const std::size_t end = k + 1 < v.size() ? static_cast<std::size_t>(v[k + 1].key) : s.arena.size();
      v[k].offset = static_cast<std::uint32_t>(start);
      v[k].length = static_cast<std::uint32_t>(end - start);
    }
    auto text = [base](const ArenaItem& it) { return std::string_view(base + it.offset, it.length); };
    if (v.size() <= kSmallArray) {
      // Small arrays (tags, coordinates): insertion sort on the texts, no
      // keys to work out.
      for (std::size_t a = 1; a < v.size(); ++a) {
        const ArenaItem cur = v[a];
        std::size_t b = a;
        for (; b > 0 && text(cur) < text(v[b - 1]); --b) v[b] = v[b - 1];
        v[b] = cur;
      }
      v.erase(std::unique(v.begin(), v.end(),
                          [&text](const ArenaItem& a, const ArenaItem& b) { return text(a) == text(b); }),
              v.end());
      return;
    }
    const std::string_view first = text(v[0]);
    std::size_t lcp = first.size();
    for (const ArenaItem& it : v) {
      const std::string_view t = text(it);
      const std::size_t n = std::min(lcp, t.size());
      std::size_t k = 0;
      while (k < n && t[k] == first[k]) ++k;
      lcp = k;
    }
    for (ArenaItem& it : v) {
      const std::string_view t = text(it);
      std::uint64_t key = 0;
      if (t.size() >= lcp + 8) {
        key = std::byteswap(tahoe_detail::load8(t.data() + lcp));
      } else {
        for (std::size_t k = 0; k < 8; ++k)
          key = (key << 8) | (lcp + k < t.size() ? static_cast<unsigned char>(t[lcp + k]) : 0u);
      }
      it.key = key;
    }
    // Equal keys of texts that end within them are equal texts (canonical
    // strings hold no NUL): no byte comparison for those.
    const std::size_t short_len = lcp + 8;
    auto less = [short_len, &text](const ArenaItem& a, const ArenaItem& b) {
      if (a.key != b.key) return a.key < b.key;
      if (a.length <= short_len && b.length <= short_len) return false;
      return text(a) < text(b);
    };
    std::sort(v.begin(), v.end(), less);
    v.erase(std::unique(v.begin(), v.end(),
                        [short_len, &text](const ArenaItem& a, const ArenaItem& b) {
                          if (a.key != b.key) return false;
                          if (a.length <= short_len && b.length <= short_len) return true;
                          return text(a) == text(b);
                        }),
            v.end());
  }

  static thread_local std::deque<Scratch> t_scratch;
  static thread_local bool t_in_use;

  static constexpr std::size_t kCheckEvery = 1u << 16;
  const Document& doc_;
  const std::vector<Document::Node>& nodes_;
  std::uint64_t size_bound_;
  const Deadline& deadline_;
  std::size_t countdown_;
  int arenas_reserved_ = 0;  // large arenas given size_bound_ of room (at most two)
  bool shared_;
  std::deque<Scratch> own_;  // when another DocWriter on this thread has t_scratch
  std::deque<Scratch>& scratch_;
  std::size_t depth_ = 0;
};

thread_local std::deque<Scratch> DocWriter::t_scratch;
thread_local bool DocWriter::t_in_use = false;

// Sizes over the tape, as measure_coarse and measure_upper_bound do for a
// Value (canonical_internal.h).
using tahoe_detail::Measure;

struct DocAccumulator {
  Measure m{2, 0};
  std::uint64_t count = 0;
  void item(const Measure& child, const tahoe_detail::StrCost* key = nullptr) {
    using tahoe_detail::sat_add;
    using tahoe_detail::sat_mul;
    if (count++ > 0) m.len = sat_add(m.len, 2);
    if (key != nullptr) {
      m.len = sat_add(m.len, key->len + 2);
      m.quotes = sat_add(m.quotes, key->quotes);
    }
    m.len = sat_add(m.len, sat_add(child.len, sat_add(child.quotes, 2)));
    m.quotes = sat_add(m.quotes, sat_add(sat_mul(child.quotes, 2), 2));
  }
};

// kCoarse: string costs taken as 6 bytes and 2 quotes a byte (an upper
// bound); kExact: from their contents, as if no array held duplicates (an
// upper bound, exact when may_dedup stays false); kLower: exact strings,
// each array counted by its largest item only (a lower bound whatever the
// duplicates). may_dedup is set when some array has two or more items.
enum class Bound { kCoarse, kExact, kLower };

// A scalar's or string's measure (exact, or the coarse bound).
inline Measure measure_leaf(const Document& doc, const Document::Node& n, bool exact) {
  using tahoe_detail::sat_add;
  using tahoe_detail::sat_mul;
  switch (n.kind()) {
    case Document::kNull:
    case Document::kTrue:
      return {4, 0};
    case Document::kFalse:
      return {5, 0};
    case Document::kInteger:
      return {n.count(), 0};
    case Document::kFloat:
      return {exact ? n.count() : 24u, 0};
    default: {  // kString
      if (!exact) return {sat_add(sat_mul(n.count(), 6), 2), sat_add(sat_mul(n.count(), 2), 2)};
      if (n.flag()) return {python_strip(doc.text(n)).size() + 2u, 2};
      const tahoe_detail::StrCost c = tahoe_detail::json_string_cost(python_strip(doc.text(n)));
      return {c.len, c.quotes};
    }
  }
}

Measure measure_doc(const Document& doc, std::size_t& i, Bound mode, bool& may_dedup);

// The item at i, leaves without a call of measure_doc (most items are).
inline Measure measure_item(const Document& doc, std::size_t& i, Bound mode, bool& may_dedup) {
  const Document::Node& n = doc.nodes()[i];
  if (n.kind() >= Document::kArray) return measure_doc(doc, i, mode, may_dedup);
  ++i;
  return measure_leaf(doc, n, mode != Bound::kCoarse);
}

// Calls f with the measure of each item of the array whose first node is
// at i, in order (a run's items read from the text); i ends past them.
template <class F>
void measure_items(const Document& doc, std::size_t& i, std::uint32_t count, Bound mode, bool& may_dedup,
                   F&& f) {
  for (std::uint32_t k = 0; k < count;) {
    const Document::Node& n = doc.nodes()[i];
    if (n.is_run()) {
      Document::RunItems items(doc, n);
      for (std::uint32_t r = 0; r < n.count(); ++r) f(measure_leaf(doc, items.next(), mode != Bound::kCoarse));
      k += n.count();
      ++i;
    } else {
      f(measure_item(doc, i, mode, may_dedup));
      ++k;
    }
  }
}

Measure measure_doc(const Document& doc, std::size_t& i, Bound mode, bool& may_dedup) {
  const bool exact = mode != Bound::kCoarse;
  using tahoe_detail::sat_add;
  using tahoe_detail::sat_mul;
  const Document::Node& n = doc.nodes()[i++];
  switch (n.kind()) {
    case Document::kNull:
    case Document::kTrue:
    case Document::kFalse:
    case Document::kInteger:
    case Document::kFloat:
    case Document::kString:
      return measure_leaf(doc, n, exact);
    case Document::kArray: {
      if (n.count() > 1) may_dedup = true;
      DocAccumulator acc;
      if (mode == Bound::kLower) {
        Measure largest;
        bool first = true;
        measure_items(doc, i, n.count(), mode, may_dedup, [&](const Measure& m) {
          if (first || sat_add(m.len, m.quotes) > sat_add(largest.len, largest.quotes)) largest = m;
          first = false;
        });
        if (n.count() > 0) acc.item(largest);
        return acc.m;
      }
      measure_items(doc, i, n.count(), mode, may_dedup, [&acc](const Measure& m) { acc.item(m); });
      return acc.m;
    }
    case Document::kObject: {
      DocAccumulator acc;
      for (std::uint32_t k = 0; k < n.count(); ++k) {
        const Document::Node& key = doc.nodes()[i++];
        const tahoe_detail::StrCost kc =
            exact ? tahoe_detail::json_string_cost(doc.text(key))
                  : tahoe_detail::StrCost{sat_add(sat_mul(key.count(), 6), 2),
                                          sat_add(sat_mul(key.count(), 2), 2)};
        acc.item(measure_item(doc, i, mode, may_dedup), &kc);
      }
      return acc.m;
    }
  }
  return {};
}

// True when the tape writer can write canonical(doc) within max_bytes
// without a Classifier; false when only the Value path can decide.
// Whether canonical(doc) fits in max_bytes as if no array held duplicates;
// if so, `bound` is an upper bound of its size.
bool doc_fits(const Document& doc, std::uint64_t max_bytes, std::uint64_t& bound) {
  if (doc.nodes().empty()) return false;
  bool may_dedup = false;
  std::size_t i = 0;
  bound = measure_doc(doc, i, Bound::kCoarse, may_dedup).len;
  if (bound <= max_bytes && bound != UINT64_MAX) return true;
  i = 0;
  may_dedup = false;
  bound = measure_doc(doc, i, Bound::kExact, may_dedup).len;
  return bound <= max_bytes && bound != UINT64_MAX;
}

}  // namespace

std::uint64_t canonical_nesting_lower_bound(std::size_t depth) {
  if (depth == 0) return 1;  // the smallest scalar, a one-digit integer
  Measure m{2, 0};           // "[]"
  for (std::size_t level = 1; level < depth && m.len != UINT64_MAX; ++level) {
    DocAccumulator acc;
    acc.item(m);
    m = acc.m;
  }
  return m.len;
}

namespace {

// The refusal when even a lower bound of canonical(doc) is over max_bytes
// (so the Value path's exact count is not needed), else nothing.
std::optional<Error> doc_surely_over(const Document& doc, std::uint64_t max_bytes) {
  bool may_dedup = false;
  std::size_t i = 0;
  const std::uint64_t lower = measure_doc(doc, i, Bound::kLower, may_dedup).len;
  if (lower <= max_bytes) return std::nullopt;
  return make_error(ErrorKind::kLimit, "canonical form would be at least " + std::to_string(lower) +
                                           " bytes, over the " + std::to_string(max_bytes) +
                                           "-byte limit")
      .error();
}

// The size check shared by canonical() and raw_hash(): a coarse bound,
// then the exact size as if without duplicates, and only when that is over
// the limit and some array could hold duplicates are equality classes
// worked out.
struct SizePlan {
  std::uint64_t bound = 0;  // an upper bound; exact when `exact`
  bool exact = false;
  std::unique_ptr<Classifier> classes;
};

Result<SizePlan> plan_size(const Value& v, std::uint64_t max_bytes) {
  SizePlan plan;
  // A bound that only walks the tree settles the usual case cheaply.
  plan.bound = tahoe_detail::measure_coarse(v).len;
  if (plan.bound <= max_bytes && plan.bound != UINT64_MAX) return plan;
  bool may_dedup = false;
  plan.bound = tahoe_detail::measure_upper_bound(v, may_dedup).len;
  plan.exact = !may_dedup;
  if (!plan.exact && (plan.bound > max_bytes || plan.bound == UINT64_MAX)) {
    plan.classes = std::make_unique<Classifier>();
    plan.bound = plan.classes->measure(plan.classes->classify(v)).len;
    plan.exact = true;
  }
  if (plan.exact && (plan.bound > max_bytes || plan.bound == UINT64_MAX)) {
    const std::string size = plan.bound == UINT64_MAX ? "at least " + std::to_string(UINT64_MAX)
                                                      : std::to_string(plan.bound);
    return make_error(ErrorKind::kLimit, "canonical form would be " + size + " bytes, over the " +
                                             std::to_string(max_bytes) + "-byte limit");
  }
  return plan;
}

const EVP_MD* sha256() {
  // Fetched once; an EVP_MD may be shared between threads.
  static const std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> md(
      EVP_MD_fetch(nullptr, "SHA256", nullptr), &EVP_MD_free);
  return md.get();
}

}  // namespace

std::uint64_t canonical_size(const Value& v) {
  bool may_dedup = false;
  const std::uint64_t bound = tahoe_detail::measure_upper_bound(v, may_dedup).len;
  if (!may_dedup) return bound;
  Classifier classes;
  return classes.measure(classes.classify(v)).len;
}

Result<std::string> canonical(const Value& v, std::uint64_t max_bytes) {
  const SizePlan plan = CYBEXP_TRY(plan_size(v, max_bytes));
  std::string out;
  // An inexact bound may be far above the real size; do not trust it much.
  out.reserve(static_cast<std::size_t>(plan.exact ? plan.bound
                                                  : std::min<std::uint64_t>(plan.bound, 1 << 20)));
  {
    Writer w(plan.classes.get());
    StringOut o(out);
    w.emit(v, 1, o);
  }
  return out;
}

namespace {

// SHA-256 of "raw" + sub_type + whatever write(out) writes, as hex.
template <class Write>
Result<std::string> hash_hex(std::string_view sub_type, Write write) {
  const EVP_MD* md = sha256();
  if (md == nullptr) return make_error(ErrorKind::kCrypto, "SHA-256 is not available from OpenSSL");
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                    &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1)
    return make_error(ErrorKind::kCrypto, "cannot start a SHA-256 digest");
  {
    auto out = std::make_unique<HashOut>(ctx.get());
    out->append("raw", 3);
    out->append(sub_type.data(), sub_type.size());
    write(*out);
    out->flush();
    if (!out->ok()) return make_error(ErrorKind::kCrypto, "SHA-256 update failed");
  }
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &len) != 1)
    return make_error(ErrorKind::kCrypto, "SHA-256 finalisation failed");
  return to_hex(std::span<const std::uint8_t>(digest.data(), len));
}

}  // namespace

Result<std::string> raw_hash(std::string_view sub_type, const Value& data,
                             std::uint64_t max_bytes) {
  const SizePlan plan = CYBEXP_TRY(plan_size(data, max_bytes));
  return hash_hex(sub_type, [&](HashOut& out) {
    Writer w(plan.classes.get());
    w.emit(data, 1, out);
  });
}

Result<std::string> canonical(const Document& doc, std::uint64_t max_bytes) {
  const Deadline never;
  std::uint64_t bound = 0;
  if (!doc_fits(doc, max_bytes, bound)) {
    if (auto over = doc_surely_over(doc, max_bytes)) return std::unexpected(std::move(*over));
    return canonical(doc.to_value(), max_bytes);
  }
  std::string out;
  {
    DocWriter w(doc, bound, never);
    StringOut o(out);
    w.emit(0, 1, o);
  }
  return out;
}

Result<std::string> raw_hash(std::string_view sub_type, const Document& doc,
                             std::uint64_t max_bytes, const Deadline& deadline) {
  // Over the limit as if no array held duplicates: only the Value path's
  // Classifier can tell the exact size (and the few documents it takes
  // are small or refused).
  std::uint64_t bound = 0;
  if (!doc_fits(doc, max_bytes, bound)) {
    if (auto over = doc_surely_over(doc, max_bytes)) return std::unexpected(std::move(*over));
    return raw_hash(sub_type, doc.to_value(), max_bytes);
  }
  try {
    return hash_hex(sub_type, [&](HashOut& out) {
      DocWriter w(doc, bound, deadline);
      w.emit(0, 1, out);
    });
  } catch (const DeadlinePassed&) {
    return make_error(ErrorKind::kLimit,
                      "abandoned while hashing: the entry's time (limits.entry_seconds) ran out");
  }
}

// Worst cases per payload byte (docs/PERFORMANCE.md): the plaintext 1, the
// tape 4 (8 bytes a node, a node per 2 bytes at densest), decoded strings 1,
// float reprs kept aside up to 4 ("1e15" is written 1000000000000000.0),
// then, while the canonical form is built, an array's 16-byte sort entries
// and de-duplication table (about 8 for distinct short items) and its
// items' canonical strings (up to about 4), or json.dumps (up to about 4);
// measured shapes use 3 to 7.
std::uint64_t working_memory_bound(std::uint64_t payload_bytes) {
  return tahoe_detail::sat_add(tahoe_detail::sat_mul(payload_bytes, 20), 32u << 20);
}

}  // namespace cybexp
