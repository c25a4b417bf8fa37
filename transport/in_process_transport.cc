#include <atomic>
#include <chrono>
#include <future>

#include "offsync/transport.h"

namespace offsync {
namespace {

// No bytes in between: the request object goes straight to the handler. A long poll waits for its
// answer in steps, so that cancel() ends it.
class InProcessTransport final : public Transport {
 public:
  explicit InProcessTransport(Server& server) : server_(server) {}

  Result<HttpResponse> send(const HttpRequest& request) override {
    if (cancelled_) return Status::transient("cancelled");
    if (request.query("wait").value_or("").empty()) return server_.handle(request);
    auto answer = std::make_shared<std::promise<HttpResponse>>();
    auto ready = answer->get_future();
    server_.handle_async(request, [answer](HttpResponse r) { answer->set_value(std::move(r)); });
    while (ready.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready) {
      if (cancelled_) return Status::transient("cancelled");
    }
    return ready.get();
  }
  std::unique_ptr<Transport> open_another() override { return std::make_unique<InProcessTransport>(server_); }
  void cancel() override { cancelled_ = true; }

 private:
  Server& server_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

std::unique_ptr<Transport> make_in_process_transport(Server& server) {
  return std::make_unique<InProcessTransport>(server);
}

}  // namespace offsync
