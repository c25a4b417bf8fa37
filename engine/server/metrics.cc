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

// A client-supplied label value: short, plain characters, or "other"; absent: "unknown".
std::string client_label(const std::string& v) {
  if (v.empty()) return "unknown";
  if (v.size() > 40) return "other";
  for (char c : v) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
                 c == '.' || c == '_' || c == '-';
    if (!plain) return "other";
  }
  return v;
}

}  // namespace

std::string ServerMetrics::BoundedLabel::admit(const std::string& value) {
  if (seen.contains(value)) return value;
  if (seen.size() >= kMaxSeriesPerLabel) return "other";
  seen.insert(value);
  return value;
}

void ServerMetrics::Buckets::observe(double v) {
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (v <= bounds[i]) ++counts[i];
  }
  ++count;
  sum += v;
}

void ServerMetrics::Buckets::render(std::ostream& out, const char* name, const std::string& labels) const {
  for (size_t i = 0; i < bounds.size(); ++i) {
    out << name << "_bucket{" << labels << "le=\"" << bounds[i] << "\"} " << counts[i] << "\n";
  }
  out << name << "_bucket{" << labels << "le=\"+Inf\"} " << count << "\n";
  // _sum and _count carry the same labels without `le` (the trailing comma dropped).
  std::string plain = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
  out << name << "_sum" << plain << " " << sum << "\n" << name << "_count" << plain << " " << count << "\n";
}

void ServerMetrics::observe_sync(const Telemetry& t, bool success) {
  std::lock_guard<std::mutex> lock(mu_);
  ++syncs_[{app_versions_.admit(client_label(t.app_version)), os_versions_.admit(client_label(t.os_version)),
            success}];
  if (t.pending) outbox_pending_.observe(static_cast<double>(*t.pending));
  if (t.rejected) outbox_rejected_.observe(static_cast<double>(*t.rejected));
  if (t.oldest_age_s) outbox_age_.observe(static_cast<double>(*t.oldest_age_s));
}

void ServerMetrics::observe_push(const Telemetry& t) {
  std::lock_guard<std::mutex> lock(mu_);
  if (t.oldest_age_s) outbox_age_.observe(static_cast<double>(*t.oldest_age_s));
}

void ServerMetrics::observe_request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
  auto it = durations_.find(endpoint);
  if (it == durations_.end()) {
    it = durations_.emplace(endpoint, Buckets({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5}))
             .first;
  }
  it->second.observe(seconds);
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
    h.render(out, "offsync_http_request_duration_seconds", "endpoint=\"" + label(endpoint) + "\",");
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
  family(out, "offsync_sync_requests_total", "counter",
         "Sync requests by the client's app and OS version, and whether they succeeded.");
  for (const auto& [key, n] : syncs_) {
    out << "offsync_sync_requests_total{app_version=\"" << label(std::get<0>(key)) << "\",os_version=\""
        << label(std::get<1>(key)) << "\",outcome=\"" << (std::get<2>(key) ? "success" : "failure") << "\"} " << n
        << "\n";
  }
  auto histogram = [&](const char* name, const char* help, const Buckets& b) {
    family(out, name, "histogram", help);
    b.render(out, name, "");
  };
  histogram("offsync_client_outbox_pending", "Pending outbox mutations reported by clients on sync.", outbox_pending_);
  histogram("offsync_client_outbox_rejected", "Rejected outbox mutations reported by clients on sync.",
            outbox_rejected_);
  histogram("offsync_client_outbox_oldest_age_seconds", "Age of the oldest pending mutation reported on sync.",
            outbox_age_);
  return out.str();
}

}  // namespace offsync
