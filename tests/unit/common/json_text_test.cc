#include "engine/common/json_text.h"

#include <doctest/doctest.h>
#include <rapidcheck.h>

#include <nlohmann/json.hpp>

using nlohmann::json;
namespace jt = offsync::json_text;

namespace {

// The value's text read back by nlohmann: what the store would see after a raw copy.
json reread(const jt::Value& v) { return json::parse(v.text); }

// A tree with every kind of value, strings with escapes and multi-byte characters, repeated
// walking material.
rc::Gen<json> gen_json(int depth) {
  auto text = rc::gen::map(rc::gen::container<std::vector<std::string>>(rc::gen::element<std::string>(
                               "a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\xC3\xA9", "\xE2\x82\xAC",
                               "\xF0\x9F\x98\x80")),
                           [](const std::vector<std::string>& pieces) {
                             std::string s;
                             for (const auto& p : pieces) s += p;
                             return s;
                           });
  auto scalar = rc::gen::oneOf(rc::gen::map(rc::gen::arbitrary<int64_t>(), [](int64_t i) { return json(i); }),
                               rc::gen::map(rc::gen::inRange(-1000, 1000), [](int i) { return json(i / 7.0); }),
                               rc::gen::element(json(true), json(false), json(nullptr)),
                               rc::gen::map(text, [](const std::string& s) { return json(s); }));
  if (depth == 0) return scalar;
  auto object = rc::gen::map(rc::gen::container<std::vector<std::pair<std::string, json>>>(
                                 rc::gen::pair(text, gen_json(depth - 1))),
                             [](const std::vector<std::pair<std::string, json>>& members) {
                               json o = json::object();
                               for (const auto& [k, v] : members) o[k] = v;
                               return o;
                             });
  auto array = rc::gen::map(rc::gen::container<std::vector<json>>(gen_json(depth - 1)),
                            [](const std::vector<json>& items) { return json(items); });
  return rc::gen::oneOf(scalar, object, array);
}

// Walks v with json_text and rebuilds it as a tree: members and elements in text order.
json rebuild(const jt::Value& v) {
  switch (v.kind) {
    case jt::Kind::kObject: {
      json o = json::object();
      jt::for_each_member(v, [&](std::string_view key, const jt::Value& m) {
        o[std::string(key)] = rebuild(m);
        return true;
      });
      return o;
    }
    case jt::Kind::kArray: {
      json a = json::array();
      jt::for_each_element(v, [&](const jt::Value& e) {
        a.push_back(rebuild(e));
        return true;
      });
      return a;
    }
    case jt::Kind::kString: return jt::string_of(v);
    default: return reread(v);
  }
}

}  // namespace

TEST_CASE("json_text hands out each member's exact text and decodes keys and strings") {
  std::string text = R"( {"status": 200, "body" : {"hlc":"0001-a","record":{"fields":{"t":"x\"y"}},
                           "k\u00e9y": [1, -2.5e3, true, null, "\ud83d\ude00"]}} )";
  auto doc = jt::parse(text);
  REQUIRE(doc);
  CHECK(doc->is_object());
  CHECK(jt::int_of(*jt::member(*doc, "status")) == 200);
  auto body = jt::member(*doc, "body");
  REQUIRE(body);
  auto record = jt::member(*body, "record");
  REQUIRE(record);
  CHECK(jt::member(*record, "fields")->text == R"({"t":"x\"y"})");
  CHECK(jt::string_of(*jt::member(*body, "hlc")) == "0001-a");
  auto list = jt::member(*body, "k\xC3\xA9y");
  REQUIRE(list);
  CHECK(rebuild(*list) == json::parse(R"([1, -2.5e3, true, null, "\ud83d\ude00"])"));
  CHECK_FALSE(jt::member(*doc, "missing"));
  CHECK_FALSE(jt::int_of(*jt::member(*body, "hlc")));

  jt::Document indexed(text);
  REQUIRE(indexed.valid());
  auto fields = jt::member(*jt::member(*jt::member(indexed.root(), "body"), "record"), "fields");
  REQUIRE(fields);
  CHECK(fields->text == R"({"t":"x\"y"})");
  CHECK_FALSE(jt::Document("{\"a\": [1, 2}").valid());
  CHECK(jt::Document("{\"a\": [1, 2}").root().is_null());
}

TEST_CASE("json_text refuses what nlohmann refuses, as a user's store would") {
  for (const char* bad : {"", " ", "{", "{\"a\":}", "{\"a\" 1}", "[1,]", "[1 2]", "01", "1.", ".5", "-", "1e", "1e999", "-1e400", "10000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", "+1",
                          "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
                          "\"\\ud800\\u0041\"", "\"a\x01\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"",
                          "\"\xE2\x82\"", "{} {}", "[1]x", "{\"a\":1,}", "{1:2}"}) {
    INFO(std::string(bad));
    CHECK_FALSE(jt::parse(bad));
    CHECK_FALSE(json::accept(bad));
  }
  for (const char* good : {"0", "-0", "1e-999", "123456789012345678901234567890", "-1.5E+3", "\"\"", "[]", "{}", " [ ] ", "\xEF\xBB\xBF{}",
                           "\"\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\"", "\"\xF0\x9F\x98\x80\"", "\"\xE2\x82\xAC\""}) {
    INFO(std::string(good));
    CHECK(jt::parse(good));
    CHECK(json::accept(good));
  }
}

TEST_CASE("json_text limits nesting so a hostile answer cannot exhaust the stack") {
  std::string deep_ok(jt::kMaxDepth, '[');
  deep_ok += std::string(jt::kMaxDepth, ']');
  CHECK(jt::parse(deep_ok));
  std::string too_deep(jt::kMaxDepth + 1, '[');
  too_deep += std::string(jt::kMaxDepth + 1, ']');
  CHECK_FALSE(jt::parse(too_deep));
}

TEST_CASE("json_text agrees with nlohmann on every document and rebuilds the same tree") {
  bool ok = rc::check("valid documents", [] {
    json doc = *gen_json(2);
    int indent = *rc::gen::inRange(-1, 3);
    std::string text = doc.dump(indent);
    auto v = jt::parse(text);
    RC_ASSERT(v.has_value());
    RC_ASSERT(rebuild(*v) == doc);
    // Walking through a Document's index of containers finds the same values.
    jt::Document indexed(text);
    RC_ASSERT(indexed.valid());
    RC_ASSERT(rebuild(indexed.root()) == doc);
    // The tree built from the text is nlohmann's own, down to the number types and the dump.
    json built = jt::to_json(indexed.root());
    json parsed = json::parse(text);
    RC_ASSERT(built == parsed);
    RC_ASSERT(built.dump() == parsed.dump());
  });
  CHECK(ok);
  ok = rc::check("arbitrary text", [] {
    std::string text = *rc::gen::container<std::string>(rc::gen::element<char>(
        '{', '}', '[', ']', '"', ':', ',', ' ', '0', '1', '-', '.', 'e', '+', 't', 'r', 'u', 'e', 'n', 'l', '\\', 'u',
        'd', '8', 'c', 'a', 'f', static_cast<char>(0xC3), static_cast<char>(0xA9), static_cast<char>(0xED), '\x01'));
    RC_ASSERT(jt::parse(text).has_value() == json::accept(text));
    RC_ASSERT(jt::Document(text).valid() == json::accept(text));
  });
  CHECK(ok);
}

TEST_CASE("json_text builds the tree nlohmann builds, number types included") {
  for (const char* text : {"0", "-0", "7", "-7", "18446744073709551615", "18446744073709551616", "-9223372036854775808",
                           "-9223372036854775809", "1.5", "-2.5e-3", "1E2", "1e-999", "[1, {\"a\": [true, null]}]",
                           "{\"k\": 1, \"k\": 2}", "\"\\u00e9\""}) {
    INFO(std::string(text));
    auto v = jt::parse(text);
    REQUIRE(v);
    json built = jt::to_json(*v);
    json parsed = json::parse(text);
    CHECK(built == parsed);
    CHECK(built.type() == parsed.type());
    CHECK(built.dump() == parsed.dump());
  }
}

TEST_CASE("json_text writes a string exactly as nlohmann's dump does") {
  for (const char* s : {"", "notes", "n-1", "a\"b", "back\\slash", "tab\there", "\x01", "caf\xC3\xA9", "/", "\x7F"}) {
    CHECK(jt::quoted(s) == json(s).dump());
  }
  CHECK_THROWS_AS(jt::quoted("\xC3"), json::type_error);  // not UTF-8, as dump() refuses it
  bool ok = rc::check("quoted", [](const std::string& s) {
    std::string expected;
    try {
      expected = json(s).dump();
    } catch (const json::type_error&) {
      RC_ASSERT_THROWS_AS(jt::quoted(s), json::type_error);
      return;
    }
    RC_ASSERT(jt::quoted(s) == expected);
  });
  CHECK(ok);
}
