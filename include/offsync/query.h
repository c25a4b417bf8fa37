// offsync/query.h — queries over a collection of the client's view (the optimistic view: the
// server's records with the pending local changes applied; rejected and conflicting mutations are
// not in it). Built from C++ values, never from SQL text; run by Client::query(), count(),
// explain() and watched by Client::watch() (offsync/client.h).
//
//   using namespace offsync::q;
//   Query notes = Query("notes")
//                     .where(field("course") == "math" && (field("due") < 1'900'000'000 || field("due").is_null()))
//                     .order_by("due")
//                     .order_by("title", Order::kDescending)
//                     .limit(50);
//
// Semantics (the same whether an index serves the query or not):
// - A path names a member of the record's fields, nested members separated by '.': "address.city".
//   Each segment is 1 to 128 of A-Z a-z 0-9 _ - $; anything else is refused (kInvalidArgument).
// - Values have a kind: null, boolean, number (integer or real, compared numerically), string
//   (compared byte by byte, UTF-8) or array/object. A comparison (==, <, <=, >, >=, in) matches
//   only values of the kind of its operand: field("n") < 3 matches the numbers below 3, never a
//   string, a boolean or a missing member. == null is is_null().
// - starts_with(prefix) matches strings beginning with those bytes; is_null() a member present
//   with the value null; missing() a member absent (or a path through a non-object); present()
//   any value.
// - Sorting orders by the first key, then the next: within a key, missing < null < false < true <
//   numbers < strings < arrays < objects (each kind in its own order), reversed by kDescending.
//   Ties end in record id order, ascending unless the last key is descending.
// - Keyset paging: after(record) starts after that record in the query's order (pass the last
//   record of the previous page); rows written meanwhile are neither skipped nor repeated the way
//   OFFSET would.
//
// Thread safety: a Query is a value; copy it freely.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace offsync {

struct Record;

enum class Order { kAscending, kDescending };

// A condition on a record's fields. Built with q::field() and combined with && and ||.
class Filter {
 public:
  enum class Kind { kEq, kLt, kLe, kGt, kGe, kPrefix, kIn, kIsNull, kMissing, kPresent, kMatch, kAnd, kOr };
  Kind kind() const { return node_->kind; }
  const std::string& path() const { return node_->path; }
  // kEq, kLt, kLe, kGt, kGe: one value; kIn: several; kPrefix, kMatch: one string.
  const std::vector<nlohmann::json>& values() const { return node_->values; }
  // kAnd, kOr.
  const std::vector<Filter>& children() const { return node_->children; }

  Filter operator&&(const Filter& other) const { return combine(Kind::kAnd, other); }
  Filter operator||(const Filter& other) const { return combine(Kind::kOr, other); }

  static Filter leaf(Kind kind, std::string path, std::vector<nlohmann::json> values);
  static Filter all(std::vector<Filter> filters);  // every one holds (empty: always)
  static Filter any(std::vector<Filter> filters);  // one at least holds (empty: never)

 private:
  struct Node {
    Kind kind = Kind::kAnd;
    std::string path;
    std::vector<nlohmann::json> values;
    std::vector<Filter> children;
  };
  explicit Filter(std::shared_ptr<const Node> node) : node_(std::move(node)) {}
  Filter combine(Kind kind, const Filter& other) const;
  std::shared_ptr<const Node> node_;
};

namespace q {

// A member of the fields, to compare: field("due") < 5.
class Field {
 public:
  explicit Field(std::string path) : path_(std::move(path)) {}
  Filter operator==(const nlohmann::json& v) const;
  Filter operator<(const nlohmann::json& v) const { return Filter::leaf(Filter::Kind::kLt, path_, {v}); }
  Filter operator<=(const nlohmann::json& v) const { return Filter::leaf(Filter::Kind::kLe, path_, {v}); }
  Filter operator>(const nlohmann::json& v) const { return Filter::leaf(Filter::Kind::kGt, path_, {v}); }
  Filter operator>=(const nlohmann::json& v) const { return Filter::leaf(Filter::Kind::kGe, path_, {v}); }
  Filter in(std::vector<nlohmann::json> values) const { return Filter::leaf(Filter::Kind::kIn, path_, std::move(values)); }
  Filter starts_with(const std::string& prefix) const { return Filter::leaf(Filter::Kind::kPrefix, path_, {prefix}); }
  Filter is_null() const { return Filter::leaf(Filter::Kind::kIsNull, path_, {}); }
  Filter missing() const { return Filter::leaf(Filter::Kind::kMissing, path_, {}); }
  Filter present() const { return Filter::leaf(Filter::Kind::kPresent, path_, {}); }
  // Full-text search (SQLite FTS5 query syntax: words, "phrases", prefix*) over a member declared
  // full-text in ClientOptions::indexes; refused (kInvalidArgument) on any other.
  Filter matches(const std::string& text) const { return Filter::leaf(Filter::Kind::kMatch, path_, {text}); }

 private:
  std::string path_;
};

inline Field field(std::string path) { return Field(std::move(path)); }

}  // namespace q

class Query {
 public:
  explicit Query(std::string collection) : collection_(std::move(collection)) {}
  // Adds a condition (several where() calls: all of them hold).
  Query& where(Filter filter);
  Query& order_by(std::string path, Order order = Order::kAscending);
  Query& limit(int64_t n);  // 0: no limit
  // Starts after this record in the query's order (keyset paging).
  Query& after(const Record& last);

  struct SortKey {
    std::string path;
    Order order = Order::kAscending;
  };
  struct After {
    std::string record_id;
    nlohmann::json fields;
  };
  const std::string& collection() const { return collection_; }
  const std::vector<Filter>& filters() const { return filters_; }
  const std::vector<SortKey>& sort() const { return sort_; }
  int64_t limit_count() const { return limit_; }
  const std::optional<After>& after_record() const { return after_; }

 private:
  std::string collection_;
  std::vector<Filter> filters_;
  std::vector<SortKey> sort_;
  int64_t limit_ = 0;
  std::optional<After> after_;
};

// An index over the view (ClientOptions::indexes): SQLite keeps it in the same transaction as
// every write, pull, acknowledgement and revert.
struct IndexSpec {
  std::string collection;
  std::vector<std::string> paths;  // an expression index on these members, in this order
  bool full_text = false;          // instead: one FTS5 index over the string members `paths`
};

// How SQLite runs a query (Client::explain()).
struct QueryPlan {
  bool uses_index = false;       // an index declared in ClientOptions::indexes serves it
  std::string index;             // its name, when one does
  std::string detail;            // SQLite's EXPLAIN QUERY PLAN, one step per line
};

// What changed between two results of a watched query (Client::watch()).
struct QueryChange {
  std::vector<std::string> added;    // record ids now in the result, not before
  std::vector<std::string> removed;  // record ids no longer in it
  std::vector<std::string> changed;  // in both, with other fields (the result's order says where
                                     // each one is now)
};

}  // namespace offsync
