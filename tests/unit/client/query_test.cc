// Local queries over the view (offsync/query.h) against a model: random records written as an
// app writes them (some synced to a server, then edited again locally, some deleted), random
// queries; every result must equal filtering, sorting and paging the model in memory, with and
// without indexes.
#include <doctest/doctest.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <rapidcheck.h>

#include <algorithm>
#include <map>

#include "offsync/client.h"
#include "offsync/query.h"
#include "offsync/server.h"
#include "server_support.h"
#include "support.h"
#include "sync_support.h"

using namespace offsync;
using namespace offsync::test;
using nlohmann::json;

namespace {

// ---- The model: the documented semantics, written out in memory ----

const json* member_of(const json& fields, const std::string& path) {
  const json* at = &fields;
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    if (!at->is_object()) return nullptr;
    auto it = at->find(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (it == at->end()) return nullptr;
    at = &*it;
    if (dot == std::string::npos) return at;
    start = dot + 1;
  }
}

// missing < null < false < true < numbers < strings < arrays < objects
int rank(const json* v) {
  if (!v) return 0;
  if (v->is_null()) return 1;
  if (v->is_boolean()) return v->get<bool>() ? 3 : 2;
  if (v->is_number()) return 4;
  if (v->is_string()) return 5;
  return v->is_array() ? 6 : 7;
}

// <0, 0, >0 within the sort order of one key.
int compare_values(const json* a, const json* b) {
  int ra = rank(a), rb = rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  if (ra == 4) {
    double x = a->get<double>(), y = b->get<double>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (ra == 5) return a->get<std::string>().compare(b->get<std::string>()) < 0 ? -1 : (*a == *b ? 0 : 1);
  if (ra >= 6) return a->dump() < b->dump() ? -1 : (a->dump() == b->dump() ? 0 : 1);
  return 0;
}

bool same_kind(const json& v, const json& value) {
  if (value.is_number()) return v.is_number();
  if (value.is_string()) return v.is_string();
  if (value.is_boolean()) return v.is_boolean();
  return false;
}

bool holds(const Filter& f, const json& fields) {
  switch (f.kind()) {
    case Filter::Kind::kAnd:
      return std::all_of(f.children().begin(), f.children().end(), [&](const Filter& c) { return holds(c, fields); });
    case Filter::Kind::kOr:
      return std::any_of(f.children().begin(), f.children().end(), [&](const Filter& c) { return holds(c, fields); });
    default:
      break;
  }
  const json* v = member_of(fields, f.path());
  switch (f.kind()) {
    case Filter::Kind::kMissing: return v == nullptr;
    case Filter::Kind::kPresent: return v != nullptr;
    case Filter::Kind::kIsNull: return v && v->is_null();
    case Filter::Kind::kPrefix: {
      const std::string& p = f.values()[0].get_ref<const std::string&>();
      return v && v->is_string() && v->get_ref<const std::string&>().compare(0, p.size(), p) == 0;
    }
    case Filter::Kind::kIn:
      for (const auto& value : f.values()) {
        if (value.is_null() ? (v && v->is_null()) : (v && same_kind(*v, value) && compare_values(v, &value) == 0)) {
          return true;
        }
      }
      return false;
    default:
      break;
  }
  const json& value = f.values()[0];
  if (!v || !same_kind(*v, value)) return false;
  // Booleans compare false < true; compare_values orders them by rank.
  int c = compare_values(v, &value);
  switch (f.kind()) {
    case Filter::Kind::kEq: return c == 0;
    case Filter::Kind::kLt: return c < 0;
    case Filter::Kind::kLe: return c <= 0;
    case Filter::Kind::kGt: return c > 0;
    case Filter::Kind::kGe: return c >= 0;
    default: return false;
  }
}

// Whether record a comes before b in the query's order.
bool before(const Query& q, const Record& a, const Record& b) {
  for (const auto& key : q.sort()) {
    int c = compare_values(member_of(a.fields, key.path), member_of(b.fields, key.path));
    if (c != 0) return key.order == Order::kAscending ? c < 0 : c > 0;
  }
  bool descending = !q.sort().empty() && q.sort().back().order == Order::kDescending;
  return descending ? a.id > b.id : a.id < b.id;
}

std::vector<Record> model_query(const Query& q, const std::map<std::string, json>& records) {
  std::vector<Record> out;
  for (const auto& [id, fields] : records) {
    bool ok = true;
    for (const auto& f : q.filters()) ok = ok && holds(f, fields);
    if (ok) out.push_back(Record{q.collection(), id, fields});
  }
  std::sort(out.begin(), out.end(), [&](const Record& a, const Record& b) { return before(q, a, b); });
  if (const auto& after = q.after_record()) {
    Record last{q.collection(), after->record_id, after->fields};
    out.erase(std::remove_if(out.begin(), out.end(), [&](const Record& r) { return !before(q, last, r); }), out.end());
  }
  if (q.limit_count() > 0 && static_cast<int64_t>(out.size()) > q.limit_count()) out.resize(q.limit_count());
  return out;
}

std::vector<std::string> ids(const std::vector<Record>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.id);
  return out;
}

// ---- Generators ----

const std::vector<std::string> kPaths = {"a", "b", "s", "n.x", "zz"};

rc::Gen<json> gen_scalar() {
  return rc::gen::oneOf(rc::gen::map(rc::gen::inRange(-3, 4), [](int i) { return json(i); }),
                        rc::gen::element(json(-1.5), json(0.5), json(2.5), json(2.0)),
                        rc::gen::element(json(""), json("a"), json("ab"), json("b"), json("ba"), json("\xc3\xa9")),
                        rc::gen::element(json(true), json(false), json(nullptr)));
}

rc::Gen<json> gen_value() {
  return rc::gen::weightedOneOf<json>({{8, gen_scalar()},
                                       {1, rc::gen::element(json::array({1}), json::array({"a"}), json{{"x", 1}})}});
}

json gen_fields() {
  json fields = json::object();
  for (const char* name : {"a", "b", "s"}) {
    if (*rc::gen::inRange(0, 4) > 0) fields[name] = *gen_value();
  }
  int n = *rc::gen::inRange(0, 4);
  if (n == 1) fields["n"] = json{{"x", *gen_scalar()}};
  if (n == 2) fields["n"] = *gen_scalar();  // a path through a non-object: n.x is missing
  if (n == 3) fields["n"] = json::object();
  return fields;
}

Filter gen_leaf() {
  std::string path = *rc::gen::elementOf(kPaths);
  switch (*rc::gen::inRange(0, 10)) {
    case 0: return q::field(path) == *gen_scalar();
    case 1: return q::field(path) < *gen_scalar();
    case 2: return q::field(path) <= *gen_scalar();
    case 3: return q::field(path) > *gen_scalar();
    case 4: return q::field(path) >= *gen_scalar();
    case 5: return q::field(path).starts_with(*rc::gen::element<std::string>("", "a", "b", "\xc3"));
    case 6: {
      std::vector<json> values;
      int n = *rc::gen::inRange(0, 4);
      for (int i = 0; i < n; ++i) values.push_back(*gen_scalar());
      return q::field(path).in(values);
    }
    case 7: return q::field(path).is_null();
    case 8: return q::field(path).missing();
    default: return q::field(path).present();
  }
}

Filter gen_filter(int depth) {
  if (depth == 0 || *rc::gen::inRange(0, 3) == 0) return gen_leaf();
  Filter left = gen_filter(depth - 1), right = gen_filter(depth - 1);
  return *rc::gen::arbitrary<bool>() ? (left && right) : (left || right);
}

// Comparisons fail on null operands by design (is_null() instead): the generator's == null
// becomes is_null(), and <, <=, >, >= with null are left out here.
bool comparable(const Filter& f) {
  if (f.kind() == Filter::Kind::kAnd || f.kind() == Filter::Kind::kOr) {
    return std::all_of(f.children().begin(), f.children().end(), comparable);
  }
  bool ordering = f.kind() == Filter::Kind::kLt || f.kind() == Filter::Kind::kLe || f.kind() == Filter::Kind::kGt ||
                  f.kind() == Filter::Kind::kGe;
  return !(ordering && f.values()[0].is_null());
}

Query gen_query(const std::map<std::string, json>& records) {
  Query q("notes");
  int filters = *rc::gen::inRange(0, 3);
  for (int i = 0; i < filters; ++i) {
    Filter f = gen_filter(2);
    if (comparable(f)) q.where(f);
  }
  int keys = *rc::gen::inRange(0, 3);
  for (int i = 0; i < keys; ++i) {
    q.order_by(*rc::gen::elementOf(kPaths), *rc::gen::arbitrary<bool>() ? Order::kAscending : Order::kDescending);
  }
  q.limit(*rc::gen::inRange(0, 8));
  if (!records.empty() && *rc::gen::inRange(0, 3) == 0) {
    auto it = records.begin();
    std::advance(it, *rc::gen::inRange<size_t>(0, records.size()));
    q.after(Record{"notes", it->first, it->second});
  }
  return q;
}

std::string describe(const Filter& f) {
  if (f.kind() == Filter::Kind::kAnd || f.kind() == Filter::Kind::kOr) {
    std::string out = "(";
    for (const auto& c : f.children()) out += (out.size() > 1 ? (f.kind() == Filter::Kind::kAnd ? " && " : " || ") : "") + describe(c);
    return out + ")";
  }
  return f.path() + " op" + std::to_string(static_cast<int>(f.kind())) + " " + json(f.values()).dump(-1, ' ', false, json::error_handler_t::replace);
}

// The query and the records, for a failure's report.
std::string describe(const Query& q, const std::map<std::string, json>& records) {
  std::string out = "where";
  for (const auto& f : q.filters()) out += " " + describe(f);
  out += " order";
  for (const auto& k : q.sort()) out += " " + k.path + (k.order == Order::kDescending ? " desc" : "");
  out += " limit " + std::to_string(q.limit_count());
  if (q.after_record()) out += " after " + q.after_record()->record_id + " " + q.after_record()->fields.dump(-1, ' ', false, json::error_handler_t::replace);
  for (const auto& [id, fields] : records) out += "\n  " + id + " " + fields.dump(-1, ' ', false, json::error_handler_t::replace);
  return out;
}

std::vector<IndexSpec> all_indexes() {
  return {{"notes", {"a"}}, {"notes", {"b", "a"}}, {"notes", {"s"}}, {"notes", {"n.x"}}};
}

}  // namespace

TEST_CASE("queries over the view equal the model: random records, pending edits and queries, with and without indexes") {
  bool ok = rc::check("query model", [] {
    ScratchDir dir;
    auto server = open_server({.db_path = dir.file("s.db")});
    auto transport = std::make_shared<ScriptedTransport>(server.get());
    std::map<std::string, json> model;
    {
      ClientOptions options{.path = dir.file("c.db")};
      options.sync.transport = transport;
      options.sync.background = false;
      auto client = open_client(options);
      int writes = *rc::gen::inRange(0, 40);
      for (int i = 0; i < writes; ++i) {
        std::string id = "r" + std::to_string(*rc::gen::inRange(0, 16));
        int what = *rc::gen::inRange(0, 10);
        if (what < 6 || !model.count(id)) {
          json fields = gen_fields();
          RC_ASSERT(client->put("notes", id, fields).is_ok());
          model[id] = fields;
        } else if (what < 8) {
          json patch = gen_fields();
          if (patch.contains("a") && *rc::gen::arbitrary<bool>()) patch["a"] = nullptr;  // removes a
          RC_ASSERT(client->patch("notes", id, patch).is_ok());
          model[id].merge_patch(patch);
        } else {
          RC_ASSERT(client->remove("notes", id).is_ok());
          model.erase(id);
        }
        // Sometimes what was written so far reaches the server: later writes pend over its records.
        if (*rc::gen::inRange(0, 12) == 0) RC_ASSERT(client->sync_once().is_ok());
      }
      // Another collection, never in a "notes" result.
      RC_ASSERT(client->put("other", "r1", {{"a", 1}}).is_ok());
      for (int i = 0; i < 8; ++i) {
        Query q = gen_query(model);
        auto got = client->query(q);
        RC_ASSERT(got.is_ok());
        auto want = model_query(q, model);
        RC_LOG() << describe(q, model) << "\n";
        RC_ASSERT(ids(*got) == ids(want));
        for (size_t k = 0; k < want.size(); ++k) RC_ASSERT((*got)[k].fields == want[k].fields);
        Query unlimited = q;
        unlimited.limit(0);
        auto counted = client->count(q);
        RC_ASSERT(counted.is_ok());
        Query filters_only("notes");
        for (const auto& f : q.filters()) filters_only.where(f);
        RC_ASSERT(*counted == static_cast<int64_t>(model_query(filters_only, model).size()));
      }
    }
    // The same store reopened with indexes: the same answers.
    ClientOptions indexed{.path = dir.file("c.db")};
    indexed.indexes = all_indexes();
    auto client = open_client(indexed);
    for (int i = 0; i < 8; ++i) {
      Query q = gen_query(model);
      auto got = client->query(q);
      RC_LOG() << "indexed: " << describe(q, model) << "\n";
      RC_LOG() << "  plan " << client->explain(q).value().detail << "\n";
      RC_ASSERT(got.is_ok());
      RC_ASSERT(ids(*got) == ids(model_query(q, model)));
    }
  });
  CHECK(ok);
}

TEST_CASE("paging with after() walks the whole result once, in order, while records are written between pages") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  for (int i = 0; i < 50; ++i) REQUIRE(client->put("notes", "r" + std::to_string(100 + i), {{"due", i % 7}}).is_ok());
  Query q = Query("notes").order_by("due").limit(8);
  std::vector<std::string> seen;
  std::optional<Record> last;
  for (int page = 0; page < 20; ++page) {
    Query next = q;
    if (last) next.after(*last);
    auto rows = client->query(next);
    REQUIRE(rows.is_ok());
    if (rows->empty()) break;
    for (const auto& r : *rows) seen.push_back(r.id);
    last = rows->back();
    // A record written before the position reached is not seen; one after it is.
    REQUIRE(client->put("notes", "early" + std::to_string(page), {{"due", -1}}).is_ok());
  }
  CHECK(seen.size() == 50);
  CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 50);
}

TEST_CASE("a query names what is wrong with it") {
  ScratchDir dir;
  auto client = open_client({.path = dir.file("c.db")});
  auto bad_path = client->query(Query("notes").where(q::field("a..b") == 1));
  REQUIRE_FALSE(bad_path.is_ok());
  CHECK(bad_path.status().code() == StatusCode::kInvalidArgument);
  CHECK(bad_path.status().message().find("a..b") != std::string::npos);
  auto injected = client->query(Query("notes").order_by("a') OR 1=1 --"));
  CHECK(injected.status().code() == StatusCode::kInvalidArgument);
  auto with_array = client->query(Query("notes").where(q::field("tags") == json::array({"x"})));
  CHECK(with_array.status().code() == StatusCode::kInvalidArgument);
  auto null_range = client->query(Query("notes").where(q::field("due") < nullptr));
  CHECK(null_range.status().code() == StatusCode::kInvalidArgument);
  auto no_fts = client->query(Query("notes").where(q::field("body").matches("hello")));
  CHECK(no_fts.status().code() == StatusCode::kInvalidArgument);
  CHECK(no_fts.status().message().find("full-text") != std::string::npos);
}

TEST_CASE("explain says whether a declared index serves the query") {
  ScratchDir dir;
  ClientOptions options{.path = dir.file("c.db")};
  options.indexes = std::vector<IndexSpec>{{"notes", {"course", "due"}}};
  auto client = open_client(options);
  for (int i = 0; i < 200; ++i) {
    REQUIRE(client->put("notes", "n" + std::to_string(i), {{"course", i % 5 == 0 ? "math" : "art"}, {"due", i}}).is_ok());
  }
  Query indexed = Query("notes").where(q::field("course") == "math" && q::field("due") >= 100).order_by("due").limit(5);
  auto plan = client->explain(indexed);
  REQUIRE(plan.is_ok());
  CHECK_MESSAGE(plan->uses_index, plan->detail);
  CHECK(plan->index.rfind("offsync_ix_", 0) == 0);
  auto rows = client->query(indexed);
  REQUIRE(rows.is_ok());
  CHECK(ids(*rows) == std::vector<std::string>{"n100", "n105", "n110", "n115", "n120"});
  auto scan = client->explain(Query("notes").where(q::field("title") == "x"));
  REQUIRE(scan.is_ok());
  CHECK_FALSE(scan->uses_index);
  // A tool that opens the app's store without declaring any (the offsync command, a binding)
  // leaves the app's indexes as they are.
  client.reset();
  client = open_client({.path = dir.file("c.db")});
  auto kept = client->explain(indexed);
  REQUIRE(kept.is_ok());
  CHECK_MESSAGE(kept->uses_index, kept->detail);
  // An index no longer declared is dropped when the store is opened with a list without it.
  client.reset();
  ClientOptions none{.path = dir.file("c.db")};
  none.indexes = std::vector<IndexSpec>{};
  client = open_client(none);
  auto after = client->explain(indexed);
  REQUIRE(after.is_ok());
  CHECK_FALSE(after->uses_index);
}

TEST_CASE("full-text search over declared members follows writes, patches and deletes") {
  ScratchDir dir;
  ClientOptions options{.path = dir.file("c.db")};
  options.indexes = std::vector<IndexSpec>{IndexSpec{"notes", {"title", "body"}, true}};
  auto client = open_client(options);
  REQUIRE(client->put("notes", "n1", {{"title", "Fractions"}, {"body", "halves and quarters"}}).is_ok());
  REQUIRE(client->put("notes", "n2", {{"title", "Decimals"}, {"body", "tenths"}}).is_ok());
  auto found = [&](const std::string& path, const std::string& text) {
    auto rows = client->query(Query("notes").where(q::field(path).matches(text)));
    REQUIRE(rows.is_ok());
    return ids(*rows);
  };
  CHECK(found("body", "quarters") == std::vector<std::string>{"n1"});
  CHECK(found("title", "quarters").empty());
  CHECK(found("title", "dec*") == std::vector<std::string>{"n2"});
  REQUIRE(client->patch("notes", "n2", {{"body", "tenths and quarters"}}).is_ok());
  CHECK(found("body", "quarters") == std::vector<std::string>{"n1", "n2"});
  REQUIRE(client->remove("notes", "n1").is_ok());
  CHECK(found("body", "quarters") == std::vector<std::string>{"n2"});
  // Declared on a store that already holds records: they are indexed when it opens.
  client.reset();
  ClientOptions later{.path = dir.file("c.db")};
  later.indexes = std::vector<IndexSpec>{IndexSpec{"notes", {"body"}, true}};
  client = open_client(later);
  CHECK(found("body", "tenths") == std::vector<std::string>{"n2"});
  auto bad = client->query(Query("notes").where(q::field("body").matches("\"unbalanced")));
  CHECK(bad.status().code() == StatusCode::kInvalidArgument);
  // Opened by a tool that declares nothing: the full-text index stays and still answers.
  client.reset();
  client = open_client({.path = dir.file("c.db")});
  CHECK(found("body", "tenths") == std::vector<std::string>{"n2"});
  REQUIRE(client->put("notes", "n3", {{"body", "tenths again"}}).is_ok());
  CHECK(found("body", "tenths") == std::vector<std::string>{"n2", "n3"});
  // A declaration in the file that does not read back is left out, not a failure to open.
  client.reset();
  {
    SQLite::Database db(dir.file("c.db"), SQLite::OPEN_READWRITE);
    db.exec("UPDATE declared_indexes SET spec = '{\"collection\": 7'");
  }
  client = open_client({.path = dir.file("c.db")});
  CHECK(client->query(Query("notes").where(q::field("body").matches("tenths"))).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(client->get("notes", "n3").is_ok());
}
