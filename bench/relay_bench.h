// offsync-bench relay: mutations/s from a client through a relay to the cloud (until the cloud has
// applied them all) against the same client straight to the cloud, over TCP loopback, in one run.
// The two alternate for several rounds and the medians are reported: a shared VM's speed drifts
// by more than the difference being measured.
#pragma once

#include <nlohmann/json.hpp>

namespace offsync::bench {

struct RelayConfig {
  int mutations = 5000;
  int rounds = 5;  // direct then relayed, this many times; the medians are reported
};

nlohmann::json run_relay(const RelayConfig& config);

}  // namespace offsync::bench
