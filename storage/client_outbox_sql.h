// Internal to the client store's files: the outbox's columns as the store reads them, and the
// binding of optional text.
#pragma once

#include <optional>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

namespace offsync::storage {

// The outbox columns read_mutation() reads, in its order (idempotency_key and the rest follow).
extern const char* const kMutationColumns;
// "SELECT <every column read_mutation() reads> FROM outbox " + tail.
std::string select_mutations(const std::string& tail);
// Binds v, or NULL when it has no value (bind_text_or_null: when it is empty).
void bind_optional(SQLite::Statement& s, int index, const std::optional<std::string>& v);
void bind_text_or_null(SQLite::Statement& s, int index, const std::string& v);

}  // namespace offsync::storage
