// Helpers for tests that drive Server::handle directly.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "offsync/server.h"
#include "offsync/ulid.h"

namespace offsync::test {

std::unique_ptr<Server> open_server(ServerOptions options);
std::string new_key();
HttpRequest post_mutation(const nlohmann::json& body, const std::string& key, const std::string& token = "");
// POST /v1/mutations:batch with `body` as it is (text, so that tests can send malformed ones).
HttpRequest post_batch_text(const std::string& body);
// POST /v1/mutations:batch of `items`.
HttpRequest post_batch(const nlohmann::json& items);
HttpRequest get_sync(const std::string& cursor = "", int limit = 0, const std::string& token = "");
// POST /v1/attachments for `bytes` (its size and SHA-256), with a fresh Idempotency-Key.
HttpRequest post_attachment(const std::string& id, const std::string& bytes, const std::string& content_type = "image/jpeg",
                            const std::string& token = "");
// PUT /v1/attachments/<id> of `bytes` at `first`, Content-Range bytes first-(first+size-1)/total.
HttpRequest put_chunk(const std::string& id, uint64_t first, const std::string& bytes, uint64_t total,
                      const std::string& token = "");
// PUT /v1/attachments/<id> with Content-Range: bytes */total and no body: where to resume.
HttpRequest resume_query(const std::string& id, uint64_t total, const std::string& token = "");
// Bytes of a given length that differ at every position of a chunk (a counter pattern with the seed).
std::string pattern_bytes(size_t size, unsigned seed = 1);
nlohmann::json body_of(const HttpResponse& r);
// The error code of an error answer, "" otherwise.
std::string error_code(const HttpResponse& r);
// A validator of `collection` that refuses (422 bad_title) a record whose title is "forbidden".
RecordValidator refusing_forbidden_titles();
// An upsert of notes/<id> with these fields (the single endpoint's body).
nlohmann::json note_upsert(const std::string& id, const nlohmann::json& fields);

}  // namespace offsync::test
