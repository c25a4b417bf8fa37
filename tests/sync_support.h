// A transport for tests: forwards to an in-process server, records what was sent, and injects
// faults (no network, answers lost after the server applied them, scripted answers).
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "offsync/transport.h"

namespace offsync::test {

class ScriptedTransport final : public Transport {
 public:
  explicit ScriptedTransport(Server* server) : inner_(server ? make_in_process_transport(*server) : nullptr) {}

  Result<HttpResponse> send(const HttpRequest& request) override {
    std::function<std::optional<Result<HttpResponse>>(const HttpRequest&)> script;
    {
      std::lock_guard<std::mutex> lock(mu_);
      sent_.push_back(request);
      if (down_) return Status::transient("connection refused (test)");
      script = script_;
    }
    if (script) {
      if (auto scripted = script(request)) return *scripted;
    }
    if (!inner_) return Status::transient("no server (test)");
    auto answer = inner_->send(request);
    std::lock_guard<std::mutex> lock(mu_);
    if (lose_answers_ && request.method == "POST") return Status::transient("timed out after sending (test)");
    return answer;
  }

  void set_down(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = down;
  }
  // The server gets and applies every POST, the client never hears back.
  void set_lose_answers(bool lose) {
    std::lock_guard<std::mutex> lock(mu_);
    lose_answers_ = lose;
  }
  // Returns an answer of its own for the requests it chooses (nullopt: forward).
  void set_script(std::function<std::optional<Result<HttpResponse>>(const HttpRequest&)> script) {
    std::lock_guard<std::mutex> lock(mu_);
    script_ = std::move(script);
  }
  std::vector<HttpRequest> sent() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.clear();
  }

 private:
  std::unique_ptr<Transport> inner_;
  std::mutex mu_;
  std::vector<HttpRequest> sent_;
  bool down_ = false, lose_answers_ = false;
  std::function<std::optional<Result<HttpResponse>>(const HttpRequest&)> script_;
};

}  // namespace offsync::test
