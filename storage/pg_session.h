// PgServerStore's connection (storage/pg_server_store.h), for its two source files only.
#pragma once

#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "storage/pg_server_store.h"

namespace offsync::storage {

// Statements go through one nontransaction, in autocommit mode unless begin() sent BEGIN: the
// store's transactions (and savepoints) are SQL, as with SQLite.
struct PgServerStore::Session {
  explicit Session(const std::string& conninfo) : connection(conninfo), statements(connection) {}
  pqxx::connection connection;
  pqxx::nontransaction statements;

  pqxx::result exec(const std::string& sql) { return statements.exec(sql); }
  template <typename... Args>
  pqxx::result exec_params(const std::string& sql, Args&&... args) {
    return statements.exec_params(sql, std::forward<Args>(args)...);
  }
  pqxx::nontransaction* operator->() { return &statements; }
};

}  // namespace offsync::storage
