#include <utility>  // before any Boost header (docs/architecture.md, "Known pitfalls")

#include "offsync/byte_pipe.h"

#include "engine/common/error_body.h"

#include <boost/asio/buffer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <atomic>
#include <optional>
#include <sstream>

namespace offsync {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr size_t kMaxHeadBytes = 16 << 10;


// Feeds all of `bytes` to the parser; false (with ec) when they are not exactly one whole message.
// The head is read first and its Content-Length checked against `body_limit` here: Beast's string
// body reserves Content-Length bytes up front, and (Boost 1.74, eager parsing) does so before its own
// limit check, so a hostile "Content-Length: 800049278810" asked for 800 GB (found by fuzz_byte_pipe).
template <typename Parser>
bool parse_all(Parser& parser, std::string_view bytes, uint64_t body_limit, beast::error_code& ec) {
  parser.eager(false);
  parser.body_limit(body_limit);
  size_t used = 0;
  // Puts what is left until `more` is false, the bytes run out, or the parser wants more.
  auto feed = [&](auto more) {
    while (more() && used < bytes.size()) {
      size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
      if (ec == http::error::need_more) {
        ec = {};
        return true;
      }
      if (ec) return false;
      used += n;
      if (n == 0) return true;
    }
    return true;
  };
  if (!feed([&] { return !parser.is_header_done(); })) return false;
  if (parser.is_header_done()) {
    if (auto length = parser.content_length(); length && *length > body_limit) {
      ec = http::error::body_limit;
      return false;
    }
    parser.eager(true);
  }
  if (parser.is_header_done() && !feed([&] { return !parser.is_done(); })) return false;
  if (!parser.is_done()) {
    if (!parser.got_some()) {
      ec = http::error::partial_message;  // nothing at all (Beast's put_eof wants some bytes first)
      return false;
    }
    // The carrier delivered everything it had: a message without a length ends here, if it may.
    parser.put_eof(ec);
    if (ec || !parser.is_done()) {
      if (!ec) ec = http::error::partial_message;
      return false;
    }
  }
  if (used != bytes.size()) {
    ec = http::error::bad_value;  // more than one message: the pipe carries one per call
    return false;
  }
  return true;
}

template <typename Message>
std::string serialize(Message& message) {
  message.prepare_payload();
  std::ostringstream out;
  out << message;
  return out.str();
}

class BytePipeTransport final : public Transport {
 public:
  BytePipeTransport(ByteExchange exchange, std::function<void()> cancel)
      : exchange_(std::move(exchange)), cancel_(std::move(cancel)) {}

  void cancel() override {
    cancelled_ = true;
    if (cancel_) cancel_();
  }

  Result<HttpResponse> send(const HttpRequest& request) override {
    if (cancelled_) return Status::transient("the byte pipe was cancelled");
    http::request<http::string_body> req;
    http::verb verb = http::string_to_verb(request.method);
    if (verb == http::verb::unknown) return Status::invalid_argument("method " + request.method + " cannot be sent");
    req.method(verb);
    req.target(request.target);
    req.version(11);
    for (const auto& [name, value] : request.headers.fields()) req.set(name, value);
    if (!req.count(http::field::host)) req.set(http::field::host, "localhost");
    req.body() = request.body;
    req.keep_alive(false);
    Result<std::string> answer = [&]() -> Result<std::string> {
      try {
        return exchange_(serialize(req));
      } catch (const std::exception& e) {
        return Status::transient(std::string("the byte pipe's exchange threw: ") + e.what());
      }
    }();
    if (!answer) return answer.status();
    http::response_parser<http::string_body> parser;
    parser.header_limit(kMaxHeadBytes);
    beast::error_code ec;
    if (!parse_all(parser, *answer, limits::kMaxBodyBytes * 4, ec)) {
      return Status::transient("the byte pipe's answer is not one HTTP/1.1 response: " + ec.message());
    }
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    for (const auto& field : res) out.headers.add(std::string(field.name_string()), std::string(field.value()));
    out.body = std::move(res.body());
    return out;
  }

 private:
  ByteExchange exchange_;
  std::function<void()> cancel_;
  std::atomic<bool> cancelled_{false};
};


// A serialized answer (Connection: close).
std::string serialize_answer(HttpResponse answer, unsigned version) {
  http::response<http::string_body> res{static_cast<http::status>(answer.status), version};
  for (const auto& [name, value] : answer.headers.fields()) res.set(name, value);
  res.set(http::field::server, "offsync");
  res.body() = std::move(answer.body);
  res.keep_alive(false);
  return serialize(res);
}

// The smallest answer that says the server could not answer (out of memory, most likely).
constexpr const char* kCouldNotAnswer =
    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nConnection: close\r\n"
    "Content-Length: 69\r\n\r\n{\"error\":{\"code\":\"internal\",\"message\":\"the server could not answer\"}}";

// Parses one request; on failure `refusal` holds the answer to give instead.
std::optional<HttpRequest> parse_request(std::string_view request_bytes, size_t max_body_bytes, unsigned& version,
                                         HttpResponse& refusal) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(kMaxHeadBytes);
  beast::error_code ec;
  if (!parse_all(parser, request_bytes, max_body_bytes, ec)) {
    if (ec == http::error::body_limit) {
      refusal = error_response(413, "body_too_large", "the body is over " + std::to_string(max_body_bytes) + " bytes");
    } else if (ec == http::error::header_limit) {
      refusal = error_response(431, "headers_too_large", "the request head is too large");
    } else {
      refusal = error_response(400, "bad_request", "not one HTTP/1.1 request: " + ec.message());
    }
    return std::nullopt;
  }
  auto req = parser.release();
  version = req.version();
  HttpRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  for (const auto& field : req) request.headers.add(std::string(field.name_string()), std::string(field.value()));
  request.body = std::move(req.body());
  return request;
}

}  // namespace

std::string serve_http_bytes(Server& server, std::string_view request_bytes, size_t max_body_bytes) {
  try {
    unsigned version = 11;
    HttpResponse refusal;
    auto request = parse_request(request_bytes, max_body_bytes, version, refusal);
    return serialize_answer(request ? server.handle(*request) : std::move(refusal), version);
  } catch (...) {
    return kCouldNotAnswer;
  }
}

void serve_http_bytes_async(Server& server, std::string_view request_bytes, std::function<void(std::string)> done,
                            size_t max_body_bytes, std::shared_ptr<const std::atomic<bool>> gone) {
  // `done` is called exactly once: here, or later for a held long poll.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  auto give = [done, answered](std::string bytes) {
    if (answered->exchange(true)) return;
    try {
      done(std::move(bytes));
    } catch (...) {
      // The carrier's callback failed; nothing more can be done for this exchange.
    }
  };
  try {
    unsigned version = 11;
    HttpResponse refusal;
    auto request = parse_request(request_bytes, max_body_bytes, version, refusal);
    if (!request) return give(serialize_answer(std::move(refusal), version));
    server.handle_async(
        *request,
        [give, version](HttpResponse answer) {
          try {
            give(serialize_answer(std::move(answer), version));
          } catch (...) {
            give(kCouldNotAnswer);
          }
        },
        std::move(gone));
  } catch (...) {
    give(kCouldNotAnswer);
  }
}

std::unique_ptr<Transport> make_byte_pipe_transport(ByteExchange exchange, std::function<void()> cancel) {
  return std::make_unique<BytePipeTransport>(std::move(exchange), std::move(cancel));
}

}  // namespace offsync
