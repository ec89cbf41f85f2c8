// A compact document model for parsemain (issue 15): the parsed payload as
// one flat tape of 8-byte nodes in document order, strings and numbers as
// views into the text itself (strings that hold escapes are decoded into a
// side buffer), so memory is the text, 8 bytes a value and the decoded
// strings, with no allocation per value and no copy of the text.
// Same json.loads semantics as parse_python_json (json_value.h): exact
// integers, floats kept as their text and converted when written, objects in
// insertion order with the last duplicate key's value at the first key's
// place.
//
// Node layout: `head` = count_or_length << 4 | flag << 3 | kind; `ref` =
// byte offset of a string or number in the text (a string's offset past the
// text's end is in the decoded-strings buffer), or, for an array or
// object, the number of nodes of its whole subtree (itself included). An
// object's members are a key (a string node) followed by the value's
// subtree. The flag on a string: plain, json.dumps writes it as it is
// between quotes (printable ASCII, no '"' or '\\'); on a float: its text is
// repr(float) kept in a side buffer (else the token is already the repr).
// The flag on a null: a run, kRunFrom or more consecutive items of one
// array that are integers, true, false or null, kept as this one node
// (count: the items; ref: the first one's offset in the text) and read
// back from the text with RunItems, so that flat arrays of scalars cost
// their text, not 8 bytes an item. An array's count is its items, runs'
// included; only arrays hold runs.
//
// Thread safety: a Document is a plain value; parsing is reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cybexp/clock.h"
#include "cybexp/json_value.h"

namespace cybexp {

class Document {
 public:
  Document() = default;
  Document(Document&&) = default;
  Document& operator=(Document&&) = default;
  // No copies: base_ may point into owned_.
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  enum Kind : std::uint8_t { kNull, kFalse, kTrue, kInteger, kFloat, kString, kArray, kObject };
  struct Node {
    std::uint32_t head = 0;
    std::uint32_t ref = 0;
    Kind kind() const { return static_cast<Kind>(head & 7); }
    bool flag() const { return (head & 8) != 0; }
    std::uint32_t count() const { return head >> 4; }  // length, or items / members
    bool is_run() const { return (head & 15) == (8 | kNull); }
  };
  // Runs are made of this many items or more (shorter ones stay nodes).
  static constexpr std::uint32_t kRunFrom = 16;

  // The items of a run, in order, each as the node it would have had
  // (an integer's refers to its token in the text, "-0" read as "0").
  class RunItems {
   public:
    RunItems() = default;
    RunItems(const Document& doc, const Node& run) : base_(doc.base_), p_(doc.base_ + run.ref) {}
    [[gnu::always_inline]] Node next() {
      if (*p_ == ',') ++p_;  // the usual ", " at once; any other spacing below
      if (*p_ == ' ') ++p_;
      while (*p_ == ' ' || *p_ == ',' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t') ++p_;
      switch (*p_) {
        case 'n':
          p_ += 4;
          return {kNull, 0};
        case 't':
          p_ += 4;
          return {kTrue, 0};
        case 'f':
          p_ += 5;
          return {kFalse, 0};
        default:
          break;
      }
      const char* start = p_;
      if (*p_ == '-') ++p_;
      while (static_cast<unsigned char>(*p_ - '0') < 10) ++p_;
      if (p_ - start == 2 && start[0] == '-' && start[1] == '0') ++start;  // Python int: -0 is 0
      return {static_cast<std::uint32_t>((p_ - start) << 4 | kInteger),
              static_cast<std::uint32_t>(start - base_)};
    }

   private:
    const char* base_ = nullptr;
    const char* p_ = nullptr;  // the text ends in ']' or padding, never mid-token
  };
  // Strings, numbers and containers up to this many bytes or items.
  static constexpr std::uint32_t kMaxCount = (1u << 28) - 1;

  const std::vector<Node>& nodes() const { return nodes_; }
  // The text of a string (decoded), an integer (its token, "-0" as "0")
  // or a float (as repr() writes it).
  [[gnu::always_inline]] std::string_view text(const Node& n) const {
    const char* p = n.kind() == kFloat && n.flag() ? floats_.data() + n.ref
                    : n.ref < text_size_            ? base_ + n.ref
                                                    : decoded_.data() + (n.ref - text_size_);
    return {p, n.count()};
  }
  // Index of the node after the subtree at i.
  std::size_t next(std::size_t i) const {
    const Node& n = nodes_[i];
    return n.kind() >= kArray ? i + n.ref : i + 1;
  }
  double float_value(const Node& n) const;

  // The same document as a Value (for the rare paths that need one).
  Value to_value() const;
  // Bytes held (for memory accounting).
  std::size_t memory_bytes() const {
    return nodes_.capacity() * sizeof(Node) + owned_.capacity() + decoded_.size() + floats_.capacity();
  }

 private:
  friend struct DocumentAccess;
  Value to_value_at(std::size_t& i) const;
  Value leaf_to_value(const Node& n) const;
  Value container_to_value(const Node& n, std::size_t& i) const;
  std::vector<Node> nodes_;
  std::string owned_;               // a padded copy of the text, when the caller's was not padded
  std::string decoded_;             // strings that held escapes, decoded (reserved once: views stay valid)
  std::string floats_;              // repr() of floats whose token differs from it
  const char* base_ = nullptr;      // the text: the caller's, or owned_
  std::uint32_t text_size_ = 0;
};

// Bytes after the text that parse_document_padded reads: they must be
// readable and zero (RapidJSON's SIMD scanning reads whole aligned 16-byte
// blocks and stops at a NUL).
inline constexpr std::size_t kDocumentTextPadding = 16;

struct DocumentParseResult {
  // kOk: document holds the payload. kNotJson, kLoneSurrogate, kTooDeep as
  // for parse_python_json. kTooLarge: a string or container beyond
  // Document::kMaxCount, or a text of 2 GiB or more (use parse_python_json).
  // kTimedOut: the deadline passed while parsing (checked every 64 Ki nodes).
  // kCanonicalTooLarge: JSON that nests so deep that its canonical form is
  // over limits.max_canonical_bytes (detail: by how much): the tape stops
  // at that depth and the rest of the text is only checked, so that such a
  // document costs no memory in proportion to it.
  enum Status { kOk, kNotJson, kLoneSurrogate, kTooDeep, kTooLarge, kTimedOut, kCanonicalTooLarge };
  Status status = kNotJson;
  Document document;
  std::string detail;
};

// text must outlive the Document (its strings and numbers are views into
// it). parse_document copies the text into a padded buffer of the
// document's own; parse_document_padded parses it where it is, and needs
// kDocumentTextPadding zero bytes after it (archive_one gives the decrypted
// payload such padding, so no copy of it is made).
DocumentParseResult parse_document(std::string_view text, const JsonLimits& limits = {},
                                   const Deadline& deadline = {});
DocumentParseResult parse_document_padded(std::string_view text, const JsonLimits& limits = {},
                                          const Deadline& deadline = {});

// Gives a finished document's buffers back to this thread's next
// parse_document (buffers up to 8 MiB are kept, one of each per thread).
void recycle_document(Document&& doc);

// json.dumps(data) appended to out, as append_python_json does for a Value
// (sized exactly first, so out is allocated once).
void append_python_json(const Document& doc, std::string& out);
// Bytes json.dumps(data) writes.
std::size_t python_json_size(const Document& doc);

// Working memory of one entry in archive_one for a payload of this many
// bytes, at most (20 times it plus 32 MiB, saturating): the plaintext, the
// tape, decoded strings and float reprs, the canonical form's arenas, sort
// entries and de-duplication table, and the json.dumps text. The pipeline
// charges it to limits.memory_budget for each large entry a worker handles
// (src/archive/pass.cpp); the shapes measured use 3 to 5 times the payload
// (docs/PERFORMANCE.md).
std::uint64_t working_memory_bound(std::uint64_t payload_bytes);

}  // namespace cybexp
