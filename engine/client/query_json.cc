#include "engine/client/query_json.h"

namespace offsync {

using nlohmann::json;

namespace {

Result<Filter> filter_from_json(const json& f, int depth) {
  if (depth > 32) return Status::invalid_argument("a query's filters nest more than 32 deep");
  if (!f.is_object()) return Status::invalid_argument("a filter is a JSON object");
  for (const char* group : {"and", "or"}) {
    auto it = f.find(group);
    if (it == f.end()) continue;
    if (!it->is_array()) return Status::invalid_argument(std::string("\"") + group + "\" takes an array of filters");
    std::vector<Filter> children;
    for (const auto& c : *it) {
      auto child = filter_from_json(c, depth + 1);
      if (!child) return child.status();
      children.push_back(*child);
    }
    return std::string(group) == "and" ? Filter::all(std::move(children)) : Filter::any(std::move(children));
  }
  auto path = f.find("path");
  auto op = f.find("op");
  if (path == f.end() || !path->is_string() || op == f.end() || !op->is_string()) {
    return Status::invalid_argument("a filter needs \"path\" and \"op\" strings (or \"and\"/\"or\")");
  }
  q::Field field(path->get<std::string>());
  std::string o = op->get<std::string>();
  json value = f.value("value", json());
  if (o == "==") return field == value;
  if (o == "<") return field < value;
  if (o == "<=") return field <= value;
  if (o == ">") return field > value;
  if (o == ">=") return field >= value;
  if (o == "in") {
    if (!value.is_array()) return Status::invalid_argument("\"in\" takes an array as \"value\"");
    return field.in(value.get<std::vector<json>>());
  }
  if (o == "prefix" || o == "matches") {
    if (!value.is_string()) return Status::invalid_argument("\"" + o + "\" takes a string as \"value\"");
    return o == "prefix" ? field.starts_with(value.get<std::string>()) : field.matches(value.get<std::string>());
  }
  if (o == "is_null") return field.is_null();
  if (o == "missing") return field.missing();
  if (o == "present") return field.present();
  return Status::invalid_argument("unknown filter op \"" + o + "\"");
}

}  // namespace

Result<Query> query_from_json(const json& spec) {
  if (!spec.is_object() || !spec.contains("collection") || !spec["collection"].is_string()) {
    return Status::invalid_argument("a query is a JSON object with a \"collection\" string");
  }
  Query q(spec["collection"].get<std::string>());
  if (auto where = spec.find("where"); where != spec.end()) {
    if (!where->is_array()) return Status::invalid_argument("\"where\" takes an array of filters");
    for (const auto& f : *where) {
      auto filter = filter_from_json(f, 0);
      if (!filter) return filter.status();
      q.where(*filter);
    }
  }
  if (auto order = spec.find("order"); order != spec.end()) {
    if (!order->is_array()) return Status::invalid_argument("\"order\" takes an array of {\"path\", \"desc\"}");
    for (const auto& k : *order) {
      if (!k.is_object() || !k.contains("path") || !k["path"].is_string()) {
        return Status::invalid_argument("a sort key is {\"path\": ..., \"desc\": false}");
      }
      q.order_by(k["path"].get<std::string>(), k.value("desc", false) ? Order::kDescending : Order::kAscending);
    }
  }
  if (auto limit = spec.find("limit"); limit != spec.end()) {
    if (!limit->is_number_integer() || limit->get<int64_t>() < 0) {
      return Status::invalid_argument("\"limit\" is a whole number (0: none)");
    }
    q.limit(limit->get<int64_t>());
  }
  if (auto after = spec.find("after"); after != spec.end()) {
    if (!after->is_object() || !after->contains("id") || !(*after)["id"].is_string()) {
      return Status::invalid_argument("\"after\" is the last record of a page: {\"id\": ..., \"fields\": {...}}");
    }
    q.after(Record{q.collection(), (*after)["id"].get<std::string>(), after->value("fields", json::object())});
  }
  return q;
}

json to_json(const QueryChange& change) {
  return {{"added", change.added}, {"removed", change.removed}, {"changed", change.changed}};
}

json to_json(const std::vector<Record>& records) {
  json out = json::array();
  for (const auto& r : records) out.push_back({{"id", r.id}, {"fields", r.fields}});
  return out;
}

}  // namespace offsync
