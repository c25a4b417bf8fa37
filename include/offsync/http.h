// offsync/http.h — the transport-agnostic HTTP messages that cross the engine's seams: the server
// handles an HttpRequest and returns an HttpResponse; listeners and transports (TCP, Unix socket,
// Binder/XPC byte pipes, in-memory simulation) only convert bytes to and from these.
//
// Thread safety: plain values.
//
// Ownership: values; a handler owns nothing of a request after it returns.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace offsync {

// Header fields in arrival order; names compare case-insensitively.
class HttpHeaders {
 public:
  void add(std::string name, std::string value) { fields_.emplace_back(std::move(name), std::move(value)); }
  // Replaces every field of that name with one.
  void set(const std::string& name, std::string value);
  // The first field of that name.
  std::optional<std::string> get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // origin-form: path and query, e.g. "/v1/sync?cursor=abc&limit=10"
  HttpHeaders headers;
  std::string body;

  // The target's path, without the query.
  std::string path() const;
  // A query parameter, percent-decoded; nullopt when absent.
  std::optional<std::string> query(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;
};

bool iequals(std::string_view a, std::string_view b);
// Decodes %XX and '+' (as a space) of a query component; nullopt when a %XX escape is malformed.
std::optional<std::string> percent_decode(std::string_view s);
// Encodes every byte but RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~) as %XX.
std::string percent_encode(std::string_view s);
// The value of `name` in an application/x-www-form-urlencoded text (a query string or a form body),
// percent-decoded; nullopt when absent. A malformed escape is kept as sent.
std::optional<std::string> form_value(std::string_view text, std::string_view name);

}  // namespace offsync
