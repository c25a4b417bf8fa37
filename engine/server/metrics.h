// The server's Prometheus metrics, rendered in the text exposition format (HELP and TYPE for every
// family, base units, `_total` on counters).
//
// Thread safety: safe for concurrent use.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace offsync {

class ServerMetrics {
 public:
  void observe_request(const std::string& endpoint, int status, double seconds);
  void count_applied(const std::string& endpoint);
  void count_replay(const std::string& endpoint);
  // category: conflict, validation, not_found, request_in_progress, key_reused, upgrade, transient
  void count_failure(const std::string& endpoint, const std::string& category);
  std::string render() const;

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    5};
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> buckets{};
    uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;                   // GUARDED_BY(mu_)
  std::map<std::string, Histogram> durations_;                                 // GUARDED_BY(mu_)
  std::map<std::string, uint64_t> applied_, replays_;                          // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, uint64_t> failures_;           // GUARDED_BY(mu_)
};

}  // namespace offsync
