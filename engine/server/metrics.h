// The server's Prometheus metrics, rendered in the text exposition format (HELP and TYPE for every
// family, base units, `_total` on counters).
//
// Thread safety: safe for concurrent use.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <optional>
#include <vector>

namespace offsync {

class ServerMetrics {
 public:
  void observe_request(const std::string& endpoint, int status, double seconds);
  void count_applied(const std::string& endpoint);
  void count_replay(const std::string& endpoint);
  // category: conflict, validation, not_found, request_in_progress, key_reused, upgrade, transient
  void count_failure(const std::string& endpoint, const std::string& category);
  // Client telemetry of one sync request (docs/protocol.md headers); success: answered 200.
  struct Telemetry {
    std::string app_version, os_version;        // raw header values; sanitised for labels
    std::optional<int64_t> pending, oldest_age_s, rejected;
  };
  void observe_sync(const Telemetry& t, bool success);
  // A push's report: only the oldest pending age (how long the writes it brings waited); a push
  // is not a sync request, and pending/rejected are sampled once per sync.
  void observe_push(const Telemetry& t);
  std::string render() const;

  // Distinct values a client-supplied label (app or OS version) may take; later ones are "other",
  // so that no client can grow the page without bound.
  static constexpr size_t kMaxSeriesPerLabel = 32;

 private:
  struct Buckets {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;
    uint64_t count = 0;
    double sum = 0;
    explicit Buckets(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size(), 0) {}
    void observe(double v);
    // The _bucket, _sum and _count lines; `labels` (e.g. `endpoint="/x",`) go before `le`.
    void render(std::ostream& out, const char* name, const std::string& labels) const;
  };
  struct BoundedLabel {
    std::set<std::string> seen;
    // The value itself while fewer than kMaxSeriesPerLabel values were seen (or it is one), else "other".
    std::string admit(const std::string& value);
  };
  mutable std::mutex mu_;
  BoundedLabel app_versions_, os_versions_;                                    // GUARDED_BY(mu_)
  std::map<std::pair<std::string, int>, uint64_t> requests_;                   // GUARDED_BY(mu_)
  std::map<std::string, Buckets> durations_;                                   // GUARDED_BY(mu_)
  std::map<std::string, uint64_t> applied_, replays_;                          // GUARDED_BY(mu_)
  std::map<std::pair<std::string, std::string>, uint64_t> failures_;           // GUARDED_BY(mu_)
  std::map<std::tuple<std::string, std::string, bool>, uint64_t> syncs_;       // GUARDED_BY(mu_)
  Buckets outbox_pending_{{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000}};     // GUARDED_BY(mu_)
  Buckets outbox_rejected_{{0, 1, 2, 5, 10, 50, 100}};                                     // GUARDED_BY(mu_)
  Buckets outbox_age_{{1, 10, 60, 300, 900, 3600, 14400, 43200, 86400, 604800}};           // GUARDED_BY(mu_)
};

}  // namespace offsync
