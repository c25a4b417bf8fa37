#include "engine/common/json_text.h"

#include <locale.h>
#include <stdlib.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

namespace offsync::json_text {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_number_char(char c) { return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Four hex digits at text[pos]; -1 when they are not.
int32_t hex4(std::string_view text, size_t pos) {
  if (pos + 4 > text.size()) return -1;
  int32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    int d = hex_digit(text[pos + i]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

bool finite_double(std::string_view number) {
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  std::string copy(number);
  return std::isfinite(strtod_l(copy.c_str(), nullptr, c_locale));
}

// The validating parser: one pass, recursion bounded by kMaxDepth.
class Validator {
 public:
  // containers, when given, receives each object's and array's (start, end) offsets by start.
  explicit Validator(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>* containers = nullptr)
      : t_(text), containers_(containers) {}

  std::optional<Value> document() {
    auto v = document_value();
    if (!v && problem_.code == Problem::Code::kNone) problem_ = {Problem::Code::kSyntax, pos_};
    return v;
  }

  const Problem& problem() const { return problem_; }

 private:
  // Records the first specific reason the text is refused; returns false for the caller to return.
  bool fail(Problem::Code code) {
    if (problem_.code == Problem::Code::kNone) problem_ = {code, pos_};
    return false;
  }

  std::optional<Value> document_value() {
    // nlohmann skips a UTF-8 byte order mark at the start; so does this.
    if (t_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    space();
    size_t start = pos_;
    std::optional<Kind> kind = value(0);
    if (!kind) return std::nullopt;
    Value v{*kind, t_.substr(start, pos_ - start)};
    space();
    if (pos_ != t_.size()) return std::nullopt;
    return v;
  }

  void space() {
    while (pos_ < t_.size() && is_space(t_[pos_])) ++pos_;
  }

  bool literal(std::string_view word) {
    if (t_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  std::optional<Kind> value(int depth) {
    if (pos_ >= t_.size()) return std::nullopt;
    switch (t_[pos_]) {
      case '{':
      case '[':
        if (depth >= kMaxDepth) {
          fail(Problem::Code::kTooDeep);
          return std::nullopt;
        }
        if (t_[pos_] == '{') return indexed(&Validator::object, depth + 1) ? std::optional(Kind::kObject) : std::nullopt;
        return indexed(&Validator::array, depth + 1) ? std::optional(Kind::kArray) : std::nullopt;
      case '"': return string() ? std::optional(Kind::kString) : std::nullopt;
      case 't': return literal("true") ? std::optional(Kind::kTrue) : std::nullopt;
      case 'f': return literal("false") ? std::optional(Kind::kFalse) : std::nullopt;
      case 'n': return literal("null") ? std::optional(Kind::kNull) : std::nullopt;
      default: return number() ? std::optional(Kind::kNumber) : std::nullopt;
    }
  }

  // Runs a container's parser, recording where the container starts and ends.
  bool indexed(bool (Validator::*parse)(int), int depth) {
    if (!containers_) return (this->*parse)(depth);
    size_t slot = containers_->size();
    containers_->emplace_back(static_cast<uint32_t>(pos_), 0);
    if (!(this->*parse)(depth)) return false;
    (*containers_)[slot].second = static_cast<uint32_t>(pos_);
    return true;
  }

  // An object's members or an array's elements up to `close`, each read by `element`.
  template <typename Element>
  bool sequence(char close, Element element) {
    ++pos_;  // '{' or '['
    space();
    if (pos_ < t_.size() && t_[pos_] == close) return ++pos_, true;
    while (true) {
      if (!element()) return false;
      space();
      if (pos_ >= t_.size()) return false;
      if (t_[pos_] == close) return ++pos_, true;
      if (t_[pos_] != ',') return false;
      ++pos_;
      space();
    }
  }

  bool object(int depth) {
    return sequence('}', [&] {
      if (pos_ >= t_.size() || t_[pos_] != '"' || !string()) return false;
      space();
      if (pos_ >= t_.size() || t_[pos_] != ':') return false;
      ++pos_;
      space();
      return value(depth).has_value();
    });
  }

  bool array(int depth) {
    return sequence(']', [&] { return value(depth).has_value(); });
  }

  bool string() {
    ++pos_;  // '"'
    const char* data = t_.data();
    size_t size = t_.size();
    while (pos_ < size) {
      // Plain printable ASCII, the bulk of every string, in a tight loop.
      while (pos_ < size) {
        auto c = static_cast<unsigned char>(data[pos_]);
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
        ++pos_;
      }
      if (pos_ >= size) break;
      auto c = static_cast<unsigned char>(data[pos_]);
      if (c == '"') return ++pos_, true;
      if (c < 0x20) return false;
      if (c == '\\') {
        if (!escape()) return false;
      } else if (c >= 0x80) {
        if (!utf8()) return fail(Problem::Code::kInvalidUtf8);
      } else {
        ++pos_;
      }
    }
    return false;
  }

  bool escape() {
    if (pos_ + 1 >= t_.size()) return false;
    char e = t_[pos_ + 1];
    if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
      return pos_ += 2, true;
    }
    if (e != 'u') return false;
    int32_t unit = hex4(t_, pos_ + 2);
    if (unit < 0) return false;
    pos_ += 6;
    if (unit >= 0xDC00 && unit <= 0xDFFF) return false;  // a low surrogate alone
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      // A high surrogate must be followed by an escaped low one.
      if (t_.substr(pos_, 2) != "\\u") return false;
      int32_t low = hex4(t_, pos_ + 2);
      if (low < 0xDC00 || low > 0xDFFF) return false;
      pos_ += 6;
    }
    return true;
  }

  // One UTF-8 sequence of 2 to 4 bytes (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
  bool utf8() {
    auto at = [&](size_t i) -> unsigned { return pos_ + i < t_.size() ? static_cast<unsigned char>(t_[pos_ + i]) : 0U; };
    auto cont = [&](size_t i, unsigned lo = 0x80, unsigned hi = 0xBF) { return at(i) >= lo && at(i) <= hi; };
    unsigned c = at(0);
    size_t n = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      n = cont(1) ? 2 : 0;
    } else if (c == 0xE0) {
      n = cont(1, 0xA0, 0xBF) && cont(2) ? 3 : 0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      n = cont(1) && cont(2) ? 3 : 0;
    } else if (c == 0xED) {
      n = cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    } else if (c == 0xF0) {
      n = cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? 4 : 0;
    } else if (c >= 0xF1 && c <= 0xF3) {
      n = cont(1) && cont(2) && cont(3) ? 4 : 0;
    } else if (c == 0xF4) {
      n = cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    }
    pos_ += n;
    return n > 0;
  }

  bool digits() {
    size_t start = pos_;
    while (pos_ < t_.size() && is_digit(t_[pos_])) ++pos_;
    return pos_ > start;
  }

  bool number() {
    size_t start = pos_;
    bool whole = true;
    if (pos_ < t_.size() && t_[pos_] == '-') ++pos_;
    if (pos_ >= t_.size()) return false;
    if (t_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return false;
    }
    if (pos_ < t_.size() && t_[pos_] == '.') {
      ++pos_;
      whole = false;
      if (!digits()) return false;
    }
    if (pos_ < t_.size() && (t_[pos_] == 'e' || t_[pos_] == 'E')) {
      ++pos_;
      whole = false;
      if (pos_ < t_.size() && (t_[pos_] == '+' || t_[pos_] == '-')) ++pos_;
      if (!digits()) return false;
    }
    // A number that overflows a double is refused, as nlohmann refuses it ("number overflow").
    if ((whole && pos_ - start <= 18) || finite_double(t_.substr(start, pos_ - start))) return true;
    pos_ = start;
    return fail(Problem::Code::kNumberOutOfRange);
  }

  std::string_view t_;
  size_t pos_ = 0;
  std::vector<std::pair<uint32_t, uint32_t>>* containers_;
  Problem problem_;
};

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes the inside of a validated string (quotes excluded).
void decode_into(std::string_view inner, std::string& out) {
  out.clear();
  out.reserve(inner.size());
  for (size_t i = 0; i < inner.size(); ++i) {
    char c = inner[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = inner[++i];
    switch (e) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        auto cp = static_cast<uint32_t>(hex4(inner, i + 1));
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          auto low = static_cast<uint32_t>(hex4(inner, i + 3));
          cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          i += 6;
        }
        append_utf8(out, cp);
        break;
      }
      default: out += e; break;  // '"', '\\', '/'
    }
  }
}

}  // namespace

std::optional<Value> parse(std::string_view text) { return Validator(text).document(); }

Document::Document(std::string_view text) : text_(text) {
  if (text.size() >= UINT32_MAX) {  // offsets are 32-bit; no answer comes near
    problem_ = {Problem::Code::kTooLarge, 0};
    return;
  }
  Validator validator(text, &containers_);
  if (auto v = validator.document()) {
    valid_ = true;
    kind_ = v->kind;
    root_ = v->text;
  } else {
    problem_ = validator.problem();
    containers_.clear();
  }
}

std::string Problem::message() const {
  std::string at = " at byte " + std::to_string(offset);
  switch (code) {
    case Code::kNone: return "no problem";
    case Code::kSyntax: return "not JSON: a syntax error" + at;
    case Code::kTooDeep: return "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels" + at;
    case Code::kInvalidUtf8: return "a string that is not UTF-8" + at;
    case Code::kNumberOutOfRange: return "a number out of the range of a double" + at;
    case Code::kTooLarge: return "JSON text of 4 GiB or more";
  }
  return "not JSON";
}

std::string_view Problem::code_name() const {
  switch (code) {
    case Code::kNone: return "";
    case Code::kSyntax: return "malformed_json";
    case Code::kTooDeep: return "json_too_deep";
    case Code::kInvalidUtf8: return "invalid_utf8";
    case Code::kNumberOutOfRange: return "number_out_of_range";
    case Code::kTooLarge: return "body_too_large";
  }
  return "malformed_json";
}

const char* Document::end_of(const char* at) const {
  auto start = static_cast<uint32_t>(at - text_.data());
  auto it = std::lower_bound(containers_.begin(), containers_.end(), start,
                             [](const std::pair<uint32_t, uint32_t>& c, uint32_t s) { return c.first < s; });
  return text_.data() + it->second;
}

std::string string_of(const Value& string) {
  std::string out;
  if (string.is_string()) decode_into(string.text.substr(1, string.text.size() - 2), out);
  return out;
}

std::optional<int64_t> int_of(const Value& number) {
  if (number.kind != Kind::kNumber) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(number.text.data(), number.text.data() + number.text.size(), v);
  if (ec != std::errc() || end != number.text.data() + number.text.size()) return std::nullopt;
  return v;
}

std::optional<Value> member(const Value& object, std::string_view key) {
  std::optional<Value> found;
  for_each_member(object, [&](std::string_view k, const Value& v) {
    if (k != key) return true;
    found = v;
    return false;
  });
  return found;
}

namespace detail {

size_t skip_space(std::string_view text, size_t pos) {
  while (pos < text.size() && is_space(text[pos])) ++pos;
  return pos;
}

// The end of the string whose opening quote is at text[pos]: the next quote not escaped by an odd
// run of backslashes.
size_t string_end(std::string_view text, size_t pos) {
  size_t start = pos + 1;
  size_t from = start;
  while (true) {
    const void* hit = std::memchr(text.data() + from, '"', text.size() - from);
    size_t quote = static_cast<size_t>(static_cast<const char*>(hit) - text.data());
    size_t run = quote;
    while (run > start && text[run - 1] == '\\') --run;
    if ((quote - run) % 2 == 0) return quote + 1;
    from = quote + 1;
  }
}

Value value_at(std::string_view text, size_t& pos, const Document* doc) {
  size_t start = pos;
  Kind kind;
  switch (text[pos]) {
    case '{':
    case '[': {
      kind = text[pos] == '{' ? Kind::kObject : Kind::kArray;
      if (doc) {
        pos = static_cast<size_t>(doc->end_of(text.data() + pos) - text.data());
        break;
      }
      int depth = 0;
      while (true) {
        char c = text[pos];
        if (c == '"') {
          pos = string_end(text, pos);
          continue;
        }
        ++pos;
        if (c == '{' || c == '[') {
          ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
          break;
        }
      }
      break;
    }
    case '"':
      kind = Kind::kString;
      pos = string_end(text, pos);
      break;
    case 't': kind = Kind::kTrue, pos += 4; break;
    case 'f': kind = Kind::kFalse, pos += 5; break;
    case 'n': kind = Kind::kNull, pos += 4; break;
    default:
      kind = Kind::kNumber;
      while (pos < text.size() && is_number_char(text[pos])) ++pos;
      break;
  }
  return Value{kind, text.substr(start, pos - start), doc};
}

std::string_view key_of(std::string_view quoted, std::string& scratch) {
  std::string_view inner = quoted.substr(1, quoted.size() - 2);
  if (inner.find('\\') == std::string_view::npos) return inner;
  decode_into(inner, scratch);
  return scratch;
}

}  // namespace detail
}  // namespace offsync::json_text
