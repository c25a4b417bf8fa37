// What every store shares, whatever its database: how it is opened, and what its failures mean.
// The engine sees stores only through this header and the store interfaces (server_store.h,
// client_store.h); the database libraries' own types stay inside storage/.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <string_view>

#include "offsync/durability.h"
#include "offsync/status.h"

namespace offsync::storage {

struct DatabaseOptions {
  std::string path;                      // file path; created if missing
  Durability durability = Durability::kFull;
  int busy_timeout_ms = 5000;            // how long to wait for another connection's lock
  int64_t max_page_count = 0;            // > 0 caps the file at this many pages (a quota)
  int page_size = 0;                     // bytes per page of a database created now; 0: SQLite's default
  size_t known_schema_versions = 0;      // > 0: a database of a newer schema is refused untouched
  std::string vfs;                       // a registered SQLite VFS; empty: the default one
};

// A failure a store threw, as a Status: full disk or quota → kResourceExhausted, damaged data →
// kCorrupt, a lock held too long → kTransient, a store that cannot be opened or written →
// kInvalidArgument, anything else → kInternal.
Status store_status(const std::exception& e, std::string_view what);
// Whether the exception is a store's own failure (its database's), and whether it says full.
bool is_store_failure(const std::exception& e);
bool is_store_full(const std::exception& e);

// Runs fn, turning the exceptions of a store and of JSON parsing into a Status. fn returns a
// Status or a Result<T>.
template <typename Fn>
auto guarded(std::string_view what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Status::resource_exhausted(std::string(what) + ": out of memory");
  } catch (const nlohmann::json::exception& e) {
    // Stored JSON that does not read back is not what offsync wrote.
    return Status::corrupt(std::string(what) + ": " + e.what());
  } catch (const std::exception& e) {
    return store_status(e, what);
  } catch (...) {
    return Status::internal(std::string(what) + ": an unknown exception");
  }
}

}  // namespace offsync::storage
