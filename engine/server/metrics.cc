#include "engine/server/metrics.h"

#include <sstream>

namespace offsync {
namespace {

// Label values are the server's own route names and codes; escaping is for safety only.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void family(std::ostringstream& out, const char* name, const char* type, const char* help) {
  out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << "\n";
}

}  // namespace

void ServerMetrics::observe_request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
  Histogram& h = durations_[endpoint];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  }
  ++h.count;
  h.sum += seconds;
}

void ServerMetrics::count_applied(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  ++applied_[endpoint];
}

void ServerMetrics::count_replay(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  ++replays_[endpoint];
}

void ServerMetrics::count_failure(const std::string& endpoint, const std::string& category) {
  std::lock_guard<std::mutex> lock(mu_);
  ++failures_[{endpoint, category}];
}

std::string ServerMetrics::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  family(out, "offsync_http_requests_total", "counter", "HTTP requests answered, by endpoint and status.");
  for (const auto& [key, n] : requests_) {
    out << "offsync_http_requests_total{endpoint=\"" << label(key.first) << "\",status=\"" << key.second << "\"} " << n
        << "\n";
  }
  family(out, "offsync_http_request_duration_seconds", "histogram", "Time to answer a request, by endpoint.");
  for (const auto& [endpoint, h] : durations_) {
    std::string e = label(endpoint);
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      out << "offsync_http_request_duration_seconds_bucket{endpoint=\"" << e << "\",le=\"" << kBuckets[i] << "\"} "
          << h.buckets[i] << "\n";
    }
    out << "offsync_http_request_duration_seconds_bucket{endpoint=\"" << e << "\",le=\"+Inf\"} " << h.count << "\n";
    out << "offsync_http_request_duration_seconds_sum{endpoint=\"" << e << "\"} " << h.sum << "\n";
    out << "offsync_http_request_duration_seconds_count{endpoint=\"" << e << "\"} " << h.count << "\n";
  }
  family(out, "offsync_mutations_applied_total", "counter", "Mutations applied (first time), by endpoint.");
  for (const auto& [endpoint, n] : applied_) {
    out << "offsync_mutations_applied_total{endpoint=\"" << label(endpoint) << "\"} " << n << "\n";
  }
  family(out, "offsync_idempotent_replays_total", "counter", "Stored answers replayed for a repeated key.");
  for (const auto& [endpoint, n] : replays_) {
    out << "offsync_idempotent_replays_total{endpoint=\"" << label(endpoint) << "\"} " << n << "\n";
  }
  family(out, "offsync_mutation_failures_total", "counter",
         "Mutations not applied, by endpoint and category (conflict, validation, ...).");
  for (const auto& [key, n] : failures_) {
    out << "offsync_mutation_failures_total{endpoint=\"" << label(key.first) << "\",category=\"" << label(key.second)
        << "\"} " << n << "\n";
  }
  return out.str();
}

}  // namespace offsync
