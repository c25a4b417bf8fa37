// ClientStore: queries over the view and the declared indexes (storage/client_query.h makes the
// SQL; offsync/query.h the semantics).
#include <algorithm>
#include <map>
#include <set>

#include "storage/client_query.h"
#include "storage/client_store.h"

namespace offsync::storage {

namespace {

void bind_all(SQLite::Statement& s, const std::vector<nlohmann::json>& params, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const auto& v = params[i];
    int at = static_cast<int>(i + 1);
    if (v.is_null()) {
      s.bind(at);
    } else if (v.is_string()) {
      s.bind(at, v.get_ref<const std::string&>());
    } else if (v.is_number_integer() && (v.is_number_unsigned() ? v.get<uint64_t>() <= INT64_MAX : true)) {
      s.bind(at, v.get<int64_t>());
    } else {
      s.bind(at, v.get<double>());
    }
  }
}

}  // namespace

SQLite::Statement& ClientStore::query_statement(const std::string& sql) {
  // Most recently used first; a screen's few queries stay prepared, others are dropped.
  auto it = std::find_if(query_statements_.begin(), query_statements_.end(),
                         [&](const auto& entry) { return entry.first == sql; });
  if (it != query_statements_.end()) {
    query_statements_.splice(query_statements_.begin(), query_statements_, it);
  } else {
    query_statements_.emplace_front(sql, std::make_unique<SQLite::Statement>(*db_, sql));
    if (query_statements_.size() > kQueryStatements) query_statements_.pop_back();
  }
  return fresh(*query_statements_.front().second);
}

std::vector<Record> ClientStore::query_view(const std::string& collection, const QuerySql& q) {
  SQLite::Statement& s = query_statement(q.select);
  ResetOnExit done(s);
  bind_all(s, q.params, q.params.size());
  std::vector<Record> out;
  while (s.executeStep()) {
    out.push_back(Record{collection, s.getColumn(0).getString(), nlohmann::json::parse(s.getColumn(1).getText())});
  }
  return out;
}

int64_t ClientStore::count_view(const QuerySql& q) {
  SQLite::Statement& s = query_statement(q.count);
  ResetOnExit done(s);
  bind_all(s, q.params, q.count_params);
  s.executeStep();
  return s.getColumn(0).getInt64();
}

QueryPlan ClientStore::explain_view(const QuerySql& q) {
  SQLite::Statement s(*db_, "EXPLAIN QUERY PLAN " + q.select);
  bind_all(s, q.params, q.params.size());
  QueryPlan plan;
  while (s.executeStep()) {
    std::string step = s.getColumn(3).getString();
    plan.detail += (plan.detail.empty() ? "" : "\n") + step;
    // "SEARCH view USING INDEX offsync_ix_... (...)", or "USING COVERING INDEX".
    size_t at = step.find(std::string("INDEX ") + kIndexPrefix);
    if (at != std::string::npos && !plan.uses_index) {
      plan.uses_index = true;
      size_t start = at + 6, end = step.find(' ', start);
      plan.index = step.substr(start, end == std::string::npos ? std::string::npos : end - start);
    }
    if (!plan.uses_index && step.find(" USING ") != std::string::npos && step.find("_fts VIRTUAL TABLE") != std::string::npos) {
      plan.uses_index = true;
      size_t end = step.find("_fts");
      size_t start = step.rfind(' ', end) + 1;
      plan.index = step.substr(start, end - start);
    }
  }
  return plan;
}

Status ClientStore::apply_indexes(const std::vector<IndexSpec>& specs) {
  struct Wanted {
    IndexDdl ddl;
    std::string declaration;  // the spec as JSON, kept with the index (declared_indexes())
  };
  std::map<std::string, Wanted> wanted;  // by name: one declared twice is made once
  for (const auto& spec : specs) {
    auto ddl = index_ddl(spec);
    if (!ddl) return ddl.status();
    std::string declaration =
        nlohmann::json{{"collection", spec.collection}, {"paths", spec.paths}, {"full_text", spec.full_text}}.dump();
    std::string name = ddl->name;
    wanted.emplace(std::move(name), Wanted{std::move(*ddl), std::move(declaration)});
  }
  WriteTransaction tx(*db_);
  std::map<std::string, std::string> present;
  {
    SQLite::Statement s(*db_, "SELECT name, drop_sql FROM declared_indexes");
    while (s.executeStep()) present.emplace(s.getColumn(0).getString(), s.getColumn(1).getString());
  }
  for (const auto& [name, drop_sql] : present) {
    if (wanted.count(name)) continue;
    db_->exec(drop_sql);
    SQLite::Statement del(*db_, "DELETE FROM declared_indexes WHERE name=?");
    del.bind(1, name);
    del.exec();
  }
  for (const auto& [name, index] : wanted) {
    if (present.count(name)) {
      // Kept; its declaration is stored too (a store indexed before migration 7 had none).
      SQLite::Statement set(*db_, "UPDATE declared_indexes SET spec=? WHERE name=?");
      set.bind(1, index.declaration);
      set.bind(2, name);
      set.exec();
      continue;
    }
    for (const auto& sql : index.ddl.create) db_->exec(sql);
    std::string drop_sql;
    for (const auto& sql : index.ddl.drop) drop_sql += sql + ";\n";
    SQLite::Statement add(*db_, "INSERT INTO declared_indexes (name, drop_sql, spec) VALUES (?, ?, ?)");
    add.bind(1, name);
    add.bind(2, drop_sql);
    add.bind(3, index.declaration);
    add.exec();
  }
  tx.commit();
  query_statements_.clear();  // plans made before may name a dropped index
  return Status::ok();
}

std::vector<IndexSpec> ClientStore::declared_indexes() {
  std::vector<IndexSpec> out;
  SQLite::Statement s(*db_, "SELECT spec FROM declared_indexes ORDER BY name");
  while (s.executeStep()) {
    // The file is outside input: a declaration that does not read back is left out (its index
    // stays and still serves ordinary queries; only a full-text query over it needs it).
    auto spec = nlohmann::json::parse(s.getColumn(0).getString(), nullptr, false);
    try {
      IndexSpec index{spec.at("collection").get<std::string>(), spec.at("paths").get<std::vector<std::string>>(),
                      spec.at("full_text").get<bool>()};
      if (index_ddl(index)) out.push_back(std::move(index));
    } catch (const nlohmann::json::exception&) {
      // Not an object, a member missing or of another kind: left out.
    }
  }
  return out;
}

}  // namespace offsync::storage
