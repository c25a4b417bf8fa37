// json_text: values as nlohmann trees, built from validated text without nlohmann's lexer.
#include "engine/common/json_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

namespace offsync::json_text {

namespace {

nlohmann::json number_of(std::string_view text) {
  const char* first = text.data();
  const char* last = first + text.size();
  bool whole = text.find_first_of(".eE") == std::string_view::npos;
  if (whole && text.front() != '-') {
    uint64_t u = 0;
    if (auto [end, ec] = std::from_chars(first, last, u); ec == std::errc() && end == last) return u;
  } else if (whole) {
    int64_t i = 0;
    if (auto [end, ec] = std::from_chars(first, last, i); ec == std::errc() && end == last) return i;
  }
  // As nlohmann: a fraction, an exponent or a whole number too large for 64 bits is a double.
  double d = 0;
  std::from_chars(first, last, d);
  return d;
}

}  // namespace

nlohmann::json to_json(const Value& value) {
  switch (value.kind) {
    case Kind::kObject: {
      nlohmann::json out = nlohmann::json::object();
      for_each_member(value, [&](std::string_view key, const Value& v) {
        out[std::string(key)] = to_json(v);  // a repeated key keeps the last value, as nlohmann does
        return true;
      });
      return out;
    }
    case Kind::kArray: {
      nlohmann::json out = nlohmann::json::array();
      for_each_element(value, [&](const Value& v) {
        out.push_back(to_json(v));
        return true;
      });
      return out;
    }
    case Kind::kString: return string_of(value);
    case Kind::kNumber: return number_of(value.text);
    case Kind::kTrue: return true;
    case Kind::kFalse: return false;
    case Kind::kNull: return nullptr;
  }
  return nullptr;
}

}  // namespace offsync::json_text
