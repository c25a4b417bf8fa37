// PgServerStore's connection (storage/pg_server_store.h), for its two source files only.
#pragma once

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "storage/pg_server_store.h"

namespace offsync::storage {

// Statements go through one nontransaction, in autocommit mode unless begin() sent BEGIN: the
// store's transactions (and savepoints) are SQL, as with SQLite.
//
// A broken connection (the database restarted or failed over, the backend was ended) fails the
// statement that found it, and with it the transaction it was in (503: the client retries under
// the same key). The next statement outside a transaction connects again; a statement that begins
// a transaction, having done nothing yet, connects again and is sent once more at once.
class PgServerStore::Session {
 private:
  template <typename F>
  decltype(auto) noting_breaks(F f) {
    try {
      return f();
    } catch (const pqxx::failure&) {
      // A backend ended by the server answers its next statement with an error (57P01) and
      // closes: either way the connection is gone.
      if (!connection_->is_open()) broken_ = true;
      throw;
    }
  }


 public:
  explicit Session(std::string conninfo) : conninfo_(std::move(conninfo)) { connect(); }

  pqxx::result exec(const std::string& sql) {
    return noting_breaks([&] { return statements().exec(sql); });
  }
  // A statement with parameters is prepared on its first use on each connection (its SQL is a
  // constant of the store: a bounded set) and executed by name after: PostgreSQL parses and plans
  // it once per connection, not per call.
  template <typename... Args>
  pqxx::result exec_params(const std::string& sql, Args&&... args) {
    return noting_breaks([&] {
      pqxx::nontransaction& s = statements();
      return s.exec_prepared(prepared(sql), std::forward<Args>(args)...);
    });
  }
  // Sends `sql`, which begins a transaction ("BEGIN", or BEGIN with statements that only lock).
  pqxx::result begin(const std::string& sql) {
    in_transaction_ = false;
    pqxx::result r;
    try {
      r = exec(sql);
    } catch (const pqxx::failure&) {
      if (!broken_) throw;
      r = exec(sql);  // connects again: nothing had been done
    }
    in_transaction_ = true;
    return r;
  }
  // The transaction ended (committed, or rolled back, or lost with the connection).
  void end() { in_transaction_ = false; }
  bool in_transaction() const { return in_transaction_; }
  bool broken() const { return broken_; }
  // A string literal in SQL, escaped for this connection.
  std::string quote(const std::string& text) {
    return noting_breaks([&] { return statements().quote(text); });
  }
  // For the store's migration, right after connecting.
  pqxx::nontransaction& raw() { return *statements_; }

 private:
  const std::string& prepared(const std::string& sql) {
    auto it = names_.find(sql);
    if (it == names_.end()) it = names_.emplace(sql, "offsync_" + std::to_string(names_.size())).first;
    if (prepared_here_.insert(it->second).second) connection_->prepare(it->second, sql);
    return it->second;
  }
  void connect() {
    prepared_here_.clear();
    statements_.reset();
    connection_.reset();
    connection_ = std::make_unique<pqxx::connection>(conninfo_);
    statements_ = std::make_unique<pqxx::nontransaction>(*connection_);
    statements_->exec("SET client_min_messages = warning");
    broken_ = false;
  }
  pqxx::nontransaction& statements() {
    if (broken_ || !connection_->is_open()) {
      // Inside a transaction its work is gone with the connection: never go on in autocommit.
      if (in_transaction_) throw pqxx::broken_connection("the connection to PostgreSQL broke during the transaction");
      connect();
    }
    return *statements_;
  }

  std::string conninfo_;
  std::unique_ptr<pqxx::connection> connection_;
  std::unique_ptr<pqxx::nontransaction> statements_;
  bool in_transaction_ = false;
  bool broken_ = false;
  std::unordered_map<std::string, std::string> names_;  // SQL text -> statement name
  std::unordered_set<std::string> prepared_here_;        // names prepared on this connection
};

}  // namespace offsync::storage
