// offsync/limits.h — the one set of limits both halves apply (docs/protocol.md, "Limits").
//
// The server refuses what is over them with a 400 or 413 and a precise code; the client refuses the
// same at the API, before anything is written. Every record the server accepts therefore fits in
// every answer and page the client reads (each of which nests a record at most 5 levels down).
//
// Thread safety and ownership: compile-time constants.
#pragma once

#include <cstddef>

namespace offsync::limits {

// Any JSON text either half reads: requests, answers, sync pages. Deeper is `json_too_deep`.
constexpr int kMaxJsonDepth = 512;
// A record's fields, the object itself counting as one level. Deeper is 400 `fields_too_deep`.
constexpr int kMaxFieldsDepth = 64;
// Collection names (also REST modules and actions): a letter, then letters, digits, '_', '-', '.'.
constexpr size_t kMaxNameLength = 64;
// Record ids and ordering keys: A-Z a-z 0-9 and . _ - : ~ @ +.
constexpr size_t kMaxRecordIdLength = 128;
// The server's default request body limit (ServerOptions::max_body_bytes); larger is 413.
constexpr size_t kMaxBodyBytes = 8 << 20;
// Mutations in one POST /v1/mutations:batch by default (ServerOptions::max_batch_items); more is 413.
constexpr size_t kMaxBatchItems = 1000;

}  // namespace offsync::limits
