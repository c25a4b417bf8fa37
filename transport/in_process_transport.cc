#include "offsync/transport.h"

namespace offsync {
namespace {

// No bytes in between: the request object goes straight to the handler.
class InProcessTransport final : public Transport {
 public:
  explicit InProcessTransport(Server& server) : server_(server) {}
  Result<HttpResponse> send(const HttpRequest& request) override { return server_.handle(request); }

 private:
  Server& server_;
};

}  // namespace

std::unique_ptr<Transport> make_in_process_transport(Server& server) {
  return std::make_unique<InProcessTransport>(server);
}

}  // namespace offsync
