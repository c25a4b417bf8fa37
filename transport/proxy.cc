// The embedded localhost proxy (include/offsync/proxy.h): loopback TCP in, the IPC service out.
#include "offsync/proxy.h"

#include <boost/asio/ip/address.hpp>
#include <mutex>
#include <vector>

#include "engine/common/crypto.h"
#include "engine/common/error_body.h"
#include "offsync/clock.h"
#include "offsync/ipc.h"

namespace offsync {
namespace {


bool hop_by_hop(const std::string& name) {
  for (const char* h : {"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Host", "Upgrade",
                        "Proxy-Connection", "TE", "Trailer"}) {
    if (iequals(name, h)) return true;
  }
  return false;
}

}  // namespace

struct LocalProxy::Impl {
  ProxyOptions options;
  std::mutex mu;
  std::vector<std::unique_ptr<Transport>> idle;  // GUARDED_BY(mu): one request per transport at a time
  // Declared last, destroyed first: its handler threads use the members above.
  std::unique_ptr<Listener> listener;

  // A transport to the service, reused across requests; several when requests overlap.
  Result<std::unique_ptr<Transport>> take() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!idle.empty()) {
        auto t = std::move(idle.back());
        idle.pop_back();
        return t;
      }
    }
    return make_ipc_transport({.service = options.ipc_service, .services_dir = options.services_dir});
  }

  void give_back(std::unique_ptr<Transport> t) {
    std::lock_guard<std::mutex> lock(mu);
    idle.push_back(std::move(t));
  }

  HttpResponse forward(const HttpRequest& request) {
    bool admitted = false;
    HttpRequest out{.method = request.method, .target = request.target, .body = request.body};
    for (const auto& [name, value] : request.headers.fields()) {
      if (iequals(name, "Offsync-Proxy-Secret")) {
        admitted = admitted || constant_time_equal(value, options.secret);
        continue;
      }
      if (iequals(name, "Authorization") && value.rfind("Bearer ", 0) == 0 &&
          constant_time_equal(value.substr(7), options.secret)) {
        admitted = true;
        continue;
      }
      if (!hop_by_hop(name)) out.headers.add(name, value);
    }
    if (!admitted) {
      return error_response(401, "proxy_secret_required",
                     "this proxy needs its per-launch secret (Authorization: Bearer or Offsync-Proxy-Secret)");
    }
    if (out.target.empty() || out.target[0] != '/') {
      return error_response(400, "bad_request", "the proxy forwards origin-form targets (/path?query) only");
    }
    auto transport = take();
    if (!transport) return error_response(502, "service_unavailable", transport.status().message());
    auto answer = (*transport)->send(out);
    give_back(std::move(*transport));
    if (!answer) return error_response(502, "service_unavailable", answer.status().message());
    HttpResponse response;
    response.status = answer->status;
    response.body = std::move(answer->body);
    for (const auto& [name, value] : answer->headers.fields()) {
      if (!hop_by_hop(name)) response.headers.add(name, value);
    }
    return response;
  }
};

LocalProxy::LocalProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalProxy::~LocalProxy() = default;

Result<std::unique_ptr<LocalProxy>> LocalProxy::start(ProxyOptions options) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(options.host == "localhost" ? "127.0.0.1" : options.host, ec);
  if (ec || !address.is_loopback()) {
    return Status::invalid_argument("the proxy listens on loopback only (127.0.0.1 or ::1), not '" + options.host + "'");
  }
  // The address is checked now, not at the first request: a typo is told at start.
  if (auto resolved = resolve_ipc_service(options.ipc_service, options.services_dir); !resolved) return resolved.status();
  if (options.secret.empty()) {
    std::string bytes(32, '\0');
    system_random().fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()));
    options.secret = hex(bytes);
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  Impl* raw = impl.get();
  auto listener = Listener::listen_tcp([raw](const HttpRequest& r) { return raw->forward(r); }, raw->options.host,
                                       raw->options.port, raw->options.listener);
  if (!listener) return listener.status();
  impl->listener = std::move(*listener);
  return std::unique_ptr<LocalProxy>(new LocalProxy(std::move(impl)));
}

std::string LocalProxy::url() const { return impl_->listener->address(); }
const std::string& LocalProxy::secret() const { return impl_->options.secret; }
void LocalProxy::run() { impl_->listener->run(); }
void LocalProxy::stop() { impl_->listener->stop(); }

}  // namespace offsync
