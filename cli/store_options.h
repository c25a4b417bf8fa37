// The server store a command works on: `--db FILE` (SQLite, the default) or `--postgres CONNINFO`
// (several server processes on one PostgreSQL database), exactly one of them.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "offsync/server.h"

namespace offsync::cli {

struct StoreArgs {
  std::string db, postgres;
  std::string upstream_db;  // a relay's upstream client store (--upstream-db); default: DB.upstream
  // The options for Server::open.
  ServerOptions server_options() const {
    ServerOptions o;
    o.db_path = db;
    o.postgres = postgres;
    o.upstream.client_path = upstream_db;
    return o;
  }
};

// db_help: what --db is to this command; db_must_exist: an existing file only (admin).
inline void add_store_options(CLI::App* cmd, StoreArgs& args, const std::string& db_help, bool db_must_exist) {
  CLI::Option_group* store = cmd->add_option_group("store", "Where the server's data is: one of");
  CLI::Option* db = store->add_option("--db", args.db, db_help);
  if (db_must_exist) db->check(CLI::ExistingFile);
  store->add_option("--postgres", args.postgres,
                    "A PostgreSQL database instead (a libpq connection string, e.g. \"host=/run/postgresql "
                    "dbname=offsync\"): several server processes may share it");
  store->require_option(1);
  cmd->add_option("--upstream-db", args.upstream_db,
                  "A relay's upstream client store, a local SQLite file (default: the --db file + .upstream; "
                  "required with --postgres)");
}

}  // namespace offsync::cli
