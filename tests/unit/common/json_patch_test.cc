#include <doctest/doctest.h>
#include <rapidcheck.h>

#include "engine/common/json_patch.h"

using nlohmann::json;
using offsync::apply_merge_patch;
using offsync::compose_merge_patches;

TEST_CASE("a merge patch sets, replaces and (with null) removes fields, recursively (RFC 7396)") {
  json target = {{"title", "a"}, {"tags", {"x"}}, {"meta", {{"x", 1}, {"y", 2}}}};
  json patch = {{"title", "b"}, {"tags", nullptr}, {"meta", {{"y", nullptr}, {"z", 3}}}};
  CHECK(apply_merge_patch(target, patch) == json({{"title", "b"}, {"meta", {{"x", 1}, {"z", 3}}}}));
}

TEST_CASE("two patches compose into one with the same effect") {
  json first = {{"a", 1}, {"m", {{"x", 1}}}};
  json second = {{"b", 2}, {"a", nullptr}, {"m", {{"y", 2}}}};
  auto composed = compose_merge_patches(first, second);
  REQUIRE(composed);
  json target = {{"a", 0}, {"c", 3}, {"m", {{"w", 0}}}};
  CHECK(apply_merge_patch(target, *composed) == apply_merge_patch(apply_merge_patch(target, first), second));
}

TEST_CASE("a replace-then-patch of an object member cannot be one merge patch and is refused") {
  // first removes m; second patches m as an object: the result's m is exactly {"y": 2}, which no
  // merge patch can say over a target whose m is an object.
  CHECK_FALSE(compose_merge_patches({{"m", nullptr}}, {{"m", {{"y", 2}}}}));
  CHECK_FALSE(compose_merge_patches({{"m", 5}}, {{"m", {{"y", 2}}}}));
}

namespace {

// Small JSON values over few keys, so that patches collide often.
rc::Gen<json> gen_value(int depth) {
  auto scalar = rc::gen::oneOf(rc::gen::map(rc::gen::inRange(0, 4), [](int i) { return json(i); }),
                               rc::gen::just(json(nullptr)), rc::gen::just(json("s")));
  if (depth == 0) return scalar;
  auto object = rc::gen::map(
      rc::gen::container<std::vector<std::pair<int, json>>>(
          rc::gen::pair(rc::gen::inRange(0, 3), gen_value(depth - 1))),
      [](const std::vector<std::pair<int, json>>& members) {
        json out = json::object();
        for (const auto& [k, v] : members) out[std::string(1, static_cast<char>('a' + k))] = v;
        return out;
      });
  return rc::gen::oneOf(scalar, object);
}

rc::Gen<json> gen_object(int depth) {
  return rc::gen::suchThat(gen_value(depth), [](const json& j) { return j.is_object(); });
}

}  // namespace

TEST_CASE("property: a composed patch acts on every target as the two patches in sequence") {
  bool ok = rc::check("compose", [] {
    json target = *gen_object(2);
    json first = *gen_object(2);
    json second = *gen_object(2);
    auto composed = compose_merge_patches(first, second);
    if (composed) {
      RC_ASSERT(apply_merge_patch(target, *composed) == apply_merge_patch(apply_merge_patch(target, first), second));
    }
  });
  CHECK(ok);
}
