// Queries over the client's view table as SQL (offsync/query.h gives the semantics): the filter,
// sort and keyset conditions compiled to one SELECT with bound values, and the DDL of the
// declared indexes. Pure functions: the store runs what they make (storage/client_query_store.cc).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "offsync/query.h"
#include "offsync/status.h"

namespace offsync::storage {

struct QuerySql {
  std::string select;                 // SELECT record_id, fields FROM view WHERE ... ORDER BY ... LIMIT
  std::string count;                  // SELECT count(*) FROM view WHERE ... (no order, limit or after)
  std::vector<nlohmann::json> params;  // ?1.. in order: strings, numbers, or null
  size_t count_params = 0;            // how many of them the count statement takes (the first ones)
};

// kInvalidArgument naming the problem: a bad path, a comparison with an array or object, a
// full-text match on a member no full-text index covers.
Result<QuerySql> compile_query(const Query& query, const std::vector<IndexSpec>& indexes);

// SQL text of a member: json_extract(fields, '$.a.b') (the path checked before).
std::string member_sql(const std::string& path);
// Whether a path is well formed (offsync/query.h).
bool valid_path(const std::string& path);

// The declared indexes as SQL: their names (prefix kIndexPrefix) and the statements that create
// each one with whatever it needs (an FTS5 table, its id map and triggers).
constexpr const char* kIndexPrefix = "offsync_ix_";
struct IndexDdl {
  std::string name;
  std::vector<std::string> create;
  std::vector<std::string> drop;  // undoes `create`
};
Result<IndexDdl> index_ddl(const IndexSpec& spec);

}  // namespace offsync::storage
