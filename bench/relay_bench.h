// offsync-bench relay: mutations/s from a client through a relay to the cloud (until the cloud has
// applied them all) against the same client straight to the cloud, over TCP loopback, in one run.
#pragma once

#include <nlohmann/json.hpp>

namespace offsync::bench {

struct RelayConfig {
  int mutations = 5000;
};

nlohmann::json run_relay(const RelayConfig& config);

}  // namespace offsync::bench
