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
nlohmann::json body_of(const HttpResponse& r);
// The error code of an error answer, "" otherwise.
std::string error_code(const HttpResponse& r);

}  // namespace offsync::test
