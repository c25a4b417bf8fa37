// The query values of offsync/query.h: filters built with q::field() and combined, and Query.
#include "offsync/query.h"

#include "offsync/client.h"

namespace offsync {

Filter Filter::leaf(Kind kind, std::string path, std::vector<nlohmann::json> values) {
  auto node = std::make_shared<Node>();
  node->kind = kind;
  node->path = std::move(path);
  node->values = std::move(values);
  return Filter(std::move(node));
}

Filter Filter::all(std::vector<Filter> filters) {
  auto node = std::make_shared<Node>();
  node->kind = Kind::kAnd;
  node->children = std::move(filters);
  return Filter(std::move(node));
}

Filter Filter::any(std::vector<Filter> filters) {
  auto node = std::make_shared<Node>();
  node->kind = Kind::kOr;
  node->children = std::move(filters);
  return Filter(std::move(node));
}

Filter Filter::combine(Kind kind, const Filter& other) const {
  // a && b && c stays one flat list.
  std::vector<Filter> children;
  for (const Filter* f : {this, &other}) {
    if (f->kind() == kind) {
      children.insert(children.end(), f->children().begin(), f->children().end());
    } else {
      children.push_back(*f);
    }
  }
  return kind == Kind::kAnd ? all(std::move(children)) : any(std::move(children));
}

namespace q {

Filter Field::operator==(const nlohmann::json& v) const {
  if (v.is_null()) return is_null();
  return Filter::leaf(Filter::Kind::kEq, path_, {v});
}

}  // namespace q

Query& Query::where(Filter filter) {
  filters_.push_back(std::move(filter));
  return *this;
}

Query& Query::order_by(std::string path, Order order) {
  sort_.push_back({std::move(path), order});
  return *this;
}

Query& Query::limit(int64_t n) {
  limit_ = n < 0 ? 0 : n;
  return *this;
}

Query& Query::after(const Record& last) {
  after_ = After{last.id, last.fields};
  return *this;
}

}  // namespace offsync
