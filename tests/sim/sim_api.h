// The app's own HTTP API in the simulation (the target of generic REST requests, RestRequest): an
// idempotent endpoint, as the offline spec asks of one, that records each effect so that the
// invariants can count them. One per target (the cloud's API, the provider app's on the device).
#pragma once

#include <map>
#include <string>

#include "offsync/transport.h"

namespace offsync::sim {

class SimApi {
 public:
  // POST /api/events {"token": T, "refuse": bool}: 201 {"token": T} with one effect, or 422
  // `invalid_event` when asked to refuse; the answer is stored under the Idempotency-Key and
  // replayed for every later request with that key. Anything else: 400 or 404.
  HttpResponse handle(const HttpRequest& request);

  // Per token: how many times it took effect (under how many keys).
  std::map<std::string, int> effects;
  // Per token: the status of its stored answer.
  std::map<std::string, int> answered;

 private:
  struct Stored {
    int status = 0;
    std::string body;
  };
  std::map<std::string, Stored> by_key_;
};

}  // namespace offsync::sim
