// Reading JSON text without building a tree. The sync worker's hot paths only move JSON from the
// wire to the store (a batch answer's records, a sync page's changes): they need a few members'
// exact text, not a parsed tree and a second serialisation. json_text validates a whole document once,
// then hands out the raw text of object members and array elements.
//
// It accepts exactly the documents nlohmann::json::parse accepts (RFC 8259 with UTF-8 strings, no
// lone surrogate escapes), nested at most kMaxDepth deep, so text it hands out may be stored and
// parsed later without surprises. tests/unit/common/json_text_test.cc checks that agreement.
//
// Thread safety: values are views into the caller's text; the text must outlive them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "offsync/limits.h"

namespace offsync::json_text {

constexpr int kMaxDepth = limits::kMaxJsonDepth;

enum class Kind { kObject, kArray, kString, kNumber, kTrue, kFalse, kNull };

class Document;

// Why text was refused: the first problem met, and the byte where it was met.
struct Problem {
  enum class Code { kNone, kSyntax, kTooDeep, kInvalidUtf8, kNumberOutOfRange, kTooLarge };
  Code code = Code::kNone;
  size_t offset = 0;
  // The wire's error code for it: malformed_json, json_too_deep, invalid_utf8, number_out_of_range.
  std::string_view code_name() const;
  // A sentence naming the problem and its place; plain ASCII, so safe in any JSON answer.
  std::string message() const;
};

// One JSON value inside validated text: its kind and its exact text, no surrounding whitespace.
// `doc`, when set, indexes the text so that walks skip nested containers without scanning them.
struct Value {
  Kind kind = Kind::kNull;
  std::string_view text;
  const Document* doc = nullptr;

  bool is_object() const { return kind == Kind::kObject; }
  bool is_array() const { return kind == Kind::kArray; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_null() const { return kind == Kind::kNull; }
};

// The value that is the whole of `text` (whitespace around it allowed), or nullopt when `text` is
// not one JSON document. Only values obtained from here or from a Document (and their members)
// may be walked below.
std::optional<Value> parse(std::string_view text);

// The same, keeping where each object and array ends: walking a large document member by member
// then costs a lookup per nested container instead of a scan of its text. Not movable (its values
// point at it); the text must outlive it.
class Document {
 public:
  explicit Document(std::string_view text);
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  bool valid() const { return valid_; }
  // Why the text is not valid (code kNone when it is).
  const Problem& problem() const { return problem_; }
  // The whole document; a null value when it is not valid.
  Value root() const { return valid_ ? Value{kind_, root_, this} : Value{}; }
  // For a container of this document starting at `at` (a pointer into its text): one past its end.
  const char* end_of(const char* at) const;

 private:
  std::string_view text_;
  std::string_view root_;
  Kind kind_ = Kind::kNull;
  bool valid_ = false;
  Problem problem_;
  std::vector<std::pair<uint32_t, uint32_t>> containers_;  // (start, end) offsets, by start
};

// The decoded contents of a string value (escapes resolved).
std::string string_of(const Value& string);
// A number value that is a whole number fitting int64_t.
std::optional<int64_t> int_of(const Value& number);

// Walks the members of an object value: fn(std::string_view key, const Value& value) -> bool, where
// returning false stops the walk. Keys are decoded; a key's view lives until fn returns.
template <typename Fn>
void for_each_member(const Value& object, Fn&& fn);
// Walks the elements of an array value: fn(const Value& element) -> bool.
template <typename Fn>
void for_each_element(const Value& array, Fn&& fn);

// The member `key` of an object value, if present (the first one when repeated).
std::optional<Value> member(const Value& object, std::string_view key);

// The value as an nlohmann tree, equal to what nlohmann::json::parse makes of its text (the same
// number types: unsigned for whole non-negative numbers, signed for negative ones, double
// otherwise), built from validated text without nlohmann's lexer.
nlohmann::json to_json(const Value& value);

// Appends `s` as a JSON string, byte for byte what nlohmann's dump() writes for it (and, like
// dump(), throws nlohmann::json::type_error for text that is not UTF-8).
void append_string(std::string& out, std::string_view s);
// The same, returned.
std::string quoted(std::string_view s);

namespace detail {
// Over validated text only: the value starting at text[pos] (no leading whitespace) and the
// position after it. Containers are skipped through `doc`'s index when there is one.
Value value_at(std::string_view text, size_t& pos, const Document* doc);
size_t skip_space(std::string_view text, size_t pos);
// A string value's text (quotes included) decoded, or as a view when it has no escapes.
std::string_view key_of(std::string_view quoted, std::string& scratch);
}  // namespace detail

template <typename Fn>
void for_each_member(const Value& object, Fn&& fn) {
  if (!object.is_object()) return;
  std::string_view t = object.text;
  std::string scratch;
  size_t pos = detail::skip_space(t, 1);
  while (pos < t.size() && t[pos] != '}') {
    Value key = detail::value_at(t, pos, nullptr);
    pos = detail::skip_space(t, pos) + 1;  // ':'
    pos = detail::skip_space(t, pos);
    Value value = detail::value_at(t, pos, object.doc);
    if (!fn(detail::key_of(key.text, scratch), value)) return;
    pos = detail::skip_space(t, pos);
    if (t[pos] == ',') pos = detail::skip_space(t, pos + 1);
  }
}

template <typename Fn>
void for_each_element(const Value& array, Fn&& fn) {
  if (!array.is_array()) return;
  std::string_view t = array.text;
  size_t pos = detail::skip_space(t, 1);
  while (pos < t.size() && t[pos] != ']') {
    Value value = detail::value_at(t, pos, array.doc);
    if (!fn(value)) return;
    pos = detail::skip_space(t, pos);
    if (t[pos] == ',') pos = detail::skip_space(t, pos + 1);
  }
}

}  // namespace offsync::json_text
