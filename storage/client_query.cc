#include "storage/client_query.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace offsync::storage {

using nlohmann::json;

namespace {

// The kinds of offsync/query.h, in sort order.
enum Rank { kMissingRank = 0, kNullRank, kFalseRank, kTrueRank, kNumberRank, kStringRank, kArrayRank, kObjectRank };

std::string type_sql(const std::string& path) { return "json_type(fields, '$." + path + "')"; }

// The rank of the member's kind, as SQL (see Rank).
std::string rank_sql(const std::string& path) {
  return "(CASE " + type_sql(path) +
         " WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 WHEN 'integer' THEN 4 WHEN 'real' THEN 4"
         " WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END)";
}

enum class ValueKind { kNull, kBoolean, kNumber, kString, kOther };

ValueKind kind_of(const json& v) {
  if (v.is_null()) return ValueKind::kNull;
  if (v.is_boolean()) return ValueKind::kBoolean;
  if (v.is_number()) return ValueKind::kNumber;
  if (v.is_string()) return ValueKind::kString;
  return ValueKind::kOther;
}

// The SQL condition that the member is of the value's kind.
std::string kind_condition(const std::string& path, ValueKind kind) {
  switch (kind) {
    case ValueKind::kNumber: return type_sql(path) + " IN ('integer', 'real')";
    case ValueKind::kString: return type_sql(path) + " = 'text'";
    case ValueKind::kBoolean: return type_sql(path) + " IN ('true', 'false')";
    case ValueKind::kNull: return type_sql(path) + " = 'null'";
    case ValueKind::kOther: break;
  }
  return "0";
}

// What json_extract() gives for a value, to bind: booleans are 0 and 1.
json bound(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  return v;
}

// A stable name for an index's definition (64-bit FNV-1a, in hex).
std::string name_hash(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

// The smallest string above every string that starts with `prefix` (nullopt: none).
std::optional<std::string> prefix_end(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (prefix.empty()) return std::nullopt;
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}

class Compiler {
 public:
  Compiler(const Query& query, const std::vector<IndexSpec>& indexes) : query_(query), indexes_(indexes) {}

  Result<QuerySql> run() {
    QuerySql out;
    std::string where = "collection = " + bind(query_.collection());
    for (const Filter& f : query_.filters()) {
      std::string condition;
      if (Status s = filter(f, &condition); !s) return s;
      where += " AND " + condition;
    }
    out.count = "SELECT count(*) FROM view WHERE " + where;
    out.count_params = params_.size();
    // Members whose kind the filter fixes (a comparison in a top-level conjunct): their rank is
    // the same on every row, so the sort needs their value only, and an index can serve it.
    std::map<std::string, int> fixed;  // path -> the rank every row has
    for (const Filter& f : query_.filters()) fixed_kinds(f, &fixed);
    struct Key {
      std::string sql;
      bool descending = false;
    };
    std::vector<Key> keys;
    for (const auto& k : query_.sort()) {
      if (!valid_path(k.path)) return bad_path(k.path);
      bool desc = k.order == Order::kDescending;
      if (!fixed.count(k.path)) keys.push_back({rank_sql(k.path), desc});
      keys.push_back({member_sql(k.path), desc});
    }
    bool id_descending = !query_.sort().empty() && query_.sort().back().order == Order::kDescending;
    if (const auto& after = query_.after_record()) {
      // Lexicographic "after" over the keys and the record id: (k1 after v1) OR (k1 ties v1 AND
      // k2 after v2) ...
      struct Term {
        std::string after, ties;
      };
      std::vector<Term> terms;
      auto compare = [&](const std::string& sql, bool descending, const std::string& value) {
        terms.push_back({sql + (descending ? " < " : " > ") + value, sql + " IS " + value});
      };
      size_t key = 0;
      for (const auto& k : query_.sort()) {
        const json* v = member(after->fields, k.path);
        bool desc = k.order == Order::kDescending;
        auto it = fixed.find(k.path);
        if (it == fixed.end()) {
          compare(keys[key++].sql, desc, bind(json(rank_of(v))));
          compare(keys[key++].sql, desc, bind(v == nullptr ? json() : sort_value(*v)));
        } else if (rank_of(v) == it->second) {
          compare(keys[key++].sql, desc, bind(sort_value(*v)));
        } else {
          // Every row has the other rank: all after the record on this key, or none.
          bool rows_after = desc ? it->second < rank_of(v) : it->second > rank_of(v);
          terms.push_back({rows_after ? "1" : "0", "0"});
          ++key;
        }
      }
      compare("record_id", id_descending, bind(after->record_id));
      std::string any;
      for (size_t n = 0; n < terms.size(); ++n) {
        std::string term;
        for (size_t m = 0; m < n; ++m) term += terms[m].ties + " AND ";
        term += terms[n].after;
        any += (any.empty() ? "(" : " OR (") + term + ")";
      }
      where += " AND (" + any + ")";
    }
    std::string order;
    for (const auto& k : keys) order += k.sql + (k.descending ? " DESC, " : ", ");
    order += std::string("record_id") + (id_descending ? " DESC" : "");
    out.select = "SELECT record_id, fields FROM view WHERE " + where + " ORDER BY " + order;
    if (query_.limit_count() > 0) out.select += " LIMIT " + std::to_string(query_.limit_count());
    out.params = std::move(params_);
    return out;
  }

  // The rank of a value (nullptr: missing), as rank_sql() computes it.
  static int rank_of(const json* v) {
    if (v == nullptr) return kMissingRank;
    if (v->is_null()) return kNullRank;
    if (v->is_boolean()) return v->get<bool>() ? kTrueRank : kFalseRank;
    if (v->is_number()) return kNumberRank;
    if (v->is_string()) return kStringRank;
    return v->is_array() ? kArrayRank : kObjectRank;
  }
  // What json_extract() gives for a value: arrays and objects as their JSON text.
  static json sort_value(const json& v) {
    if (v.is_array() || v.is_object()) return v.dump();
    return bound(v);
  }
  // The member at a path of the fields; nullptr when missing.
  static const json* member(const json& fields, const std::string& path) {
    const json* at = &fields;
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string name = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!at->is_object()) return nullptr;
      auto it = at->find(name);
      if (it == at->end()) return nullptr;
      at = &*it;
      if (dot == std::string::npos) return at;
      start = dot + 1;
    }
  }

 private:
  std::string bind(json v) {
    params_.push_back(std::move(v));
    return "?" + std::to_string(params_.size());
  }
  Status bad_path(const std::string& path) {
    return Status::invalid_argument("query path '" + path +
                                    "': segments of 1 to 128 of A-Z a-z 0-9 _ - $, separated by '.'");
  }

  void fixed_kinds(const Filter& f, std::map<std::string, int>* fixed) {
    switch (f.kind()) {
      case Filter::Kind::kAnd:
        for (const auto& c : f.children()) fixed_kinds(c, fixed);
        break;
      case Filter::Kind::kEq:
      case Filter::Kind::kLt:
      case Filter::Kind::kLe:
      case Filter::Kind::kGt:
      case Filter::Kind::kGe:
        if (!f.values().empty() && f.values()[0].is_number()) (*fixed)[f.path()] = kNumberRank;
        if (!f.values().empty() && f.values()[0].is_string()) (*fixed)[f.path()] = kStringRank;
        break;
      case Filter::Kind::kPrefix:
        (*fixed)[f.path()] = kStringRank;
        break;
      case Filter::Kind::kIsNull:
        (*fixed)[f.path()] = kNullRank;
        break;
      default:
        break;
    }
  }

  Status filter(const Filter& f, std::string* out) {
    if (f.kind() == Filter::Kind::kAnd || f.kind() == Filter::Kind::kOr) {
      if (f.children().empty()) {
        *out = f.kind() == Filter::Kind::kAnd ? "1" : "0";
        return Status::ok();
      }
      std::string joined;
      for (const auto& c : f.children()) {
        std::string part;
        if (Status s = filter(c, &part); !s) return s;
        if (!joined.empty()) joined += f.kind() == Filter::Kind::kAnd ? " AND " : " OR ";
        joined += part;
      }
      *out = "(" + joined + ")";
      return Status::ok();
    }
    const std::string& path = f.path();
    if (!valid_path(path)) return bad_path(path);
    std::string value = member_sql(path);
    switch (f.kind()) {
      case Filter::Kind::kIsNull:
        *out = type_sql(path) + " = 'null'";
        return Status::ok();
      case Filter::Kind::kMissing:
        *out = type_sql(path) + " IS NULL";
        return Status::ok();
      case Filter::Kind::kPresent:
        *out = type_sql(path) + " IS NOT NULL";
        return Status::ok();
      case Filter::Kind::kPrefix: {
        if (f.values().size() != 1 || !f.values()[0].is_string()) {
          return Status::invalid_argument("starts_with on '" + path + "' takes a string");
        }
        std::string prefix = f.values()[0].get<std::string>();
        std::string sql = "(" + kind_condition(path, ValueKind::kString) + " AND " + value + " >= " + bind(prefix);
        if (auto end = prefix_end(prefix)) sql += " AND " + value + " < " + bind(*end);
        *out = sql + ")";
        return Status::ok();
      }
      case Filter::Kind::kMatch:
        return match(f, out);
      case Filter::Kind::kIn: {
        // Grouped by kind: (number IN (...)) OR (string IN (...)) OR is null ...
        std::vector<std::string> parts;
        for (ValueKind kind : {ValueKind::kNumber, ValueKind::kString, ValueKind::kBoolean}) {
          std::string list;
          for (const auto& v : f.values()) {
            if (kind_of(v) != kind) continue;
            list += (list.empty() ? "" : ", ") + bind(bound(v));
          }
          if (!list.empty()) parts.push_back("(" + kind_condition(path, kind) + " AND " + value + " IN (" + list + "))");
        }
        for (const auto& v : f.values()) {
          if (kind_of(v) == ValueKind::kOther) return not_comparable(path);
          if (v.is_null()) {
            parts.push_back(type_sql(path) + " = 'null'");
            break;
          }
        }
        if (parts.empty()) {
          *out = "0";
          return Status::ok();
        }
        std::string joined;
        for (const auto& p : parts) joined += (joined.empty() ? "" : " OR ") + p;
        *out = "(" + joined + ")";
        return Status::ok();
      }
      default:
        break;
    }
    // kEq, kLt, kLe, kGt, kGe
    if (f.values().size() != 1) return Status::invalid_argument("a comparison on '" + path + "' takes one value");
    const json& v = f.values()[0];
    ValueKind kind = kind_of(v);
    if (kind == ValueKind::kOther) return not_comparable(path);
    if (kind == ValueKind::kNull) {
      if (f.kind() != Filter::Kind::kEq) return Status::invalid_argument("'" + path + "' compared with null: use is_null()");
      *out = type_sql(path) + " = 'null'";
      return Status::ok();
    }
    const char* op = f.kind() == Filter::Kind::kEq   ? " = "
                     : f.kind() == Filter::Kind::kLt ? " < "
                     : f.kind() == Filter::Kind::kLe ? " <= "
                     : f.kind() == Filter::Kind::kGt ? " > "
                                                     : " >= ";
    *out = "(" + kind_condition(path, kind) + " AND " + value + op + bind(bound(v)) + ")";
    return Status::ok();
  }

  Status not_comparable(const std::string& path) {
    return Status::invalid_argument("'" + path + "' compared with an array or object: compare its members instead");
  }

  Status match(const Filter& f, std::string* out) {
    const std::string& path = f.path();
    for (const auto& spec : indexes_) {
      if (!spec.full_text || spec.collection != query_.collection()) continue;
      auto it = std::find(spec.paths.begin(), spec.paths.end(), path);
      if (it == spec.paths.end()) continue;
      auto ddl = index_ddl(spec);
      if (!ddl) return ddl.status();
      if (f.values().size() != 1 || !f.values()[0].is_string()) {
        return Status::invalid_argument("matches on '" + path + "' takes a string");
      }
      std::string column = "c" + std::to_string(it - spec.paths.begin());
      *out = "record_id IN (SELECT i.record_id FROM " + ddl->name + "_ids i JOIN " + ddl->name +
             "_fts f ON f.rowid = i.rowid WHERE f." + column + " MATCH " + bind(f.values()[0]) + ")";
      return Status::ok();
    }
    return Status::invalid_argument("matches on '" + path + "' of '" + query_.collection() +
                                    "': no full-text index covers it (ClientOptions::indexes)");
  }

  const Query& query_;
  const std::vector<IndexSpec>& indexes_;
  std::vector<json> params_;
};

}  // namespace

bool valid_path(const std::string& path) {
  if (path.empty()) return false;
  size_t segment = 0;
  for (char c : path) {
    if (c == '.') {
      if (segment == 0) return false;
      segment = 0;
      continue;
    }
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '$';
    if (!ok || ++segment > 128) return false;
  }
  return segment > 0;
}

std::string member_sql(const std::string& path) { return "json_extract(fields, '$." + path + "')"; }

Result<QuerySql> compile_query(const Query& query, const std::vector<IndexSpec>& indexes) {
  return Compiler(query, indexes).run();
}

Result<IndexDdl> index_ddl(const IndexSpec& spec) {
  if (spec.collection.empty() || spec.paths.empty()) {
    return Status::invalid_argument("an index names a collection and one member at least");
  }
  std::string key = spec.collection + (spec.full_text ? "\nfts" : "\nix");
  for (const auto& p : spec.paths) {
    if (!valid_path(p)) return Status::invalid_argument("index on '" + spec.collection + "': bad path '" + p + "'");
    key += "\n" + p;
  }
  IndexDdl ddl;
  ddl.name = kIndexPrefix + name_hash(key);
  // The collection as an SQL literal (quotes doubled): DDL takes no bound values.
  std::string collection = "'";
  for (char c : spec.collection) collection += c == '\'' ? std::string("''") : std::string(1, c);
  collection += "'";
  if (!spec.full_text) {
    std::string columns = "collection";
    for (const auto& p : spec.paths) columns += ", " + member_sql(p);
    ddl.create.push_back("CREATE INDEX IF NOT EXISTS " + ddl.name + " ON view (" + columns + ")");
    ddl.drop.push_back("DROP INDEX IF EXISTS " + ddl.name);
    return ddl;
  }
  // Full text: an FTS5 table over the string members, keyed by the rowid of an id map, kept by
  // triggers on the view (so in the same transaction as every write, pull and revert).
  const std::string fts = ddl.name + "_fts", ids = ddl.name + "_ids";
  std::string columns, values_new, values_view;
  for (size_t i = 0; i < spec.paths.size(); ++i) {
    std::string text = "CASE WHEN json_type(%.fields, '$." + spec.paths[i] + "') = 'text' THEN json_extract(%.fields, '$." +
                       spec.paths[i] + "') END";
    auto with = [&](const std::string& table) {
      std::string s = text;
      for (size_t at = s.find('%'); at != std::string::npos; at = s.find('%', at)) s.replace(at, 1, table);
      return s;
    };
    columns += (i ? ", c" : "c") + std::to_string(i);
    values_new += ", " + with("new");
    values_view += ", " + with("v");
  }
  std::string id_of_new = "(SELECT rowid FROM " + ids + " WHERE record_id = new.record_id)";
  std::string id_of_old = "(SELECT rowid FROM " + ids + " WHERE record_id = old.record_id)";
  ddl.create = {
      "CREATE TABLE IF NOT EXISTS " + ids + " (record_id TEXT NOT NULL UNIQUE)",
      "CREATE VIRTUAL TABLE IF NOT EXISTS " + fts + " USING fts5(" + columns + ")",
      "CREATE TRIGGER IF NOT EXISTS " + ddl.name + "_ai AFTER INSERT ON view WHEN new.collection = " + collection +
          " BEGIN INSERT OR IGNORE INTO " + ids + " (record_id) VALUES (new.record_id); INSERT INTO " + fts +
          " (rowid, " + columns + ") VALUES (" + id_of_new + values_new + "); END",
      "CREATE TRIGGER IF NOT EXISTS " + ddl.name + "_ad AFTER DELETE ON view WHEN old.collection = " + collection +
          " BEGIN DELETE FROM " + fts + " WHERE rowid = " + id_of_old + "; DELETE FROM " + ids +
          " WHERE record_id = old.record_id; END",
      "CREATE TRIGGER IF NOT EXISTS " + ddl.name + "_au AFTER UPDATE OF fields ON view WHEN new.collection = " +
          collection + " BEGIN DELETE FROM " + fts + " WHERE rowid = " + id_of_new + "; INSERT INTO " + fts +
          " (rowid, " + columns + ") VALUES (" + id_of_new + values_new + "); END",
      // What the view holds already.
      "INSERT OR IGNORE INTO " + ids + " (record_id) SELECT record_id FROM view WHERE collection = " + collection,
      "INSERT INTO " + fts + " (rowid, " + columns + ") SELECT i.rowid" + values_view + " FROM " + ids +
          " i JOIN view v ON v.collection = " + collection + " AND v.record_id = i.record_id WHERE i.rowid NOT IN (SELECT rowid FROM " +
          fts + ")",
  };
  ddl.drop = {"DROP TRIGGER IF EXISTS " + ddl.name + "_ai", "DROP TRIGGER IF EXISTS " + ddl.name + "_ad",
              "DROP TRIGGER IF EXISTS " + ddl.name + "_au", "DROP TABLE IF EXISTS " + fts,
              "DROP TABLE IF EXISTS " + ids};
  return ddl;
}

}  // namespace offsync::storage
