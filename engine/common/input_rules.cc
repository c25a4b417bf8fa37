#include "engine/common/input_rules.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace offsync::input_rules {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string quoted(const std::string& s) {
  constexpr size_t kShown = 40;
  std::string shown = s.size() > kShown ? s.substr(0, kShown) + "..." : s;
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return "'" + shown + "'";
}

// A name made of a letter then letters, digits and `extra` characters.
Status check_name(const std::string& name, const char* what, const char* extra) {
  if (name.empty()) return Status::invalid_argument(std::string(what) + " is empty");
  if (name.size() > kMaxNameLength) {
    return Status::invalid_argument(std::string(what) + " " + quoted(name) + " is longer than " +
                                    std::to_string(kMaxNameLength) + " characters");
  }
  bool ok = std::isalpha(static_cast<unsigned char>(name[0])) != 0 &&
            std::all_of(name.begin(), name.end(), [&](char c) {
              return is_alnum(c) || std::string_view(extra).find(c) != std::string_view::npos;
            });
  if (!ok) {
    return Status::invalid_argument(std::string(what) + " " + quoted(name) +
                                    " must start with a letter and hold only letters, digits and '" +
                                    extra + "'");
  }
  return Status::ok();
}

bool valid_header_name(const std::string& name) {
  constexpr std::string_view kTokenExtra = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return is_alnum(c) || kTokenExtra.find(c) != std::string_view::npos;
  });
}

bool has_line_break(const std::string& s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos;
}

}  // namespace

Status check_collection(const std::string& collection) {
  return check_name(collection, "collection", "_-.");
}

Status check_record_id(const std::string& record_id) {
  if (record_id.empty()) return Status::invalid_argument("record id is empty");
  if (record_id.size() > kMaxRecordIdLength) {
    return Status::invalid_argument("record id " + quoted(record_id) + " is longer than " +
                                    std::to_string(kMaxRecordIdLength) + " characters");
  }
  constexpr std::string_view kExtra = "._-:~@+";
  for (char c : record_id) {
    if (!is_alnum(c) && kExtra.find(c) == std::string_view::npos) {
      return Status::invalid_argument("record id " + quoted(record_id) +
                                      " may hold only letters, digits and '._-:~@+'");
    }
  }
  return Status::ok();
}

int json_depth(const nlohmann::json& value, int cap) {
  if (!value.is_structured()) return 0;
  if (cap <= 0) return 1;  // deeper than the caller cares to know: the recursion stops here
  int deepest = 0;
  for (const auto& child : value) deepest = std::max(deepest, json_depth(child, cap - 1));
  return deepest + 1;
}

Status check_fields_depth(const nlohmann::json& fields, const char* what) {
  if (json_depth(fields, limits::kMaxFieldsDepth) > limits::kMaxFieldsDepth) {
    return Status::invalid_argument(std::string(what) + " nests deeper than the limit of " +
                                    std::to_string(limits::kMaxFieldsDepth) + " levels");
  }
  return Status::ok();
}

Result<std::string> check_payload(const nlohmann::json& payload, size_t max_bytes, const char* what) {
  if (!payload.is_object()) {
    return Status::invalid_argument(std::string(what) + " is not a JSON object (got " +
                                    payload.type_name() + ")");
  }
  if (Status s = check_fields_depth(payload, what); !s) return s;
  std::string text;
  try {
    text = payload.dump();
  } catch (const nlohmann::json::exception& e) {
    return Status::invalid_argument(std::string(what) + " cannot be stored: " + e.what());
  }
  if (text.size() > max_bytes) {
    return Status::invalid_argument(std::string(what) + " is " + std::to_string(text.size()) +
                                    " bytes, over the limit of " + std::to_string(max_bytes));
  }
  return text;
}

Status check_request(const RestRequest& r, size_t max_body_bytes) {
  if (Status s = check_name(r.module, "module", "_-."); !s) return s;
  if (Status s = check_name(r.action, "action", "_-."); !s) return s;
  static constexpr std::array<std::string_view, 7> kMethods = {"GET", "HEAD", "POST", "PUT",
                                                               "PATCH", "DELETE", "OPTIONS"};
  if (std::find(kMethods.begin(), kMethods.end(), r.method) == kMethods.end()) {
    return Status::invalid_argument("method " + quoted(r.method) +
                                    " is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
  }
  bool url_ok = r.url.starts_with("/") || r.url.starts_with("http://") || r.url.starts_with("https://");
  if (!url_ok || has_line_break(r.url) || r.url.find(' ') != std::string::npos) {
    return Status::invalid_argument("url " + quoted(r.url) +
                                    " must be an absolute http(s) URL or a path starting with '/', "
                                    "without spaces or line breaks");
  }
  for (const auto& [name, value] : r.headers) {
    if (!valid_header_name(name)) return Status::invalid_argument("header name " + quoted(name) + " is not an HTTP token");
    if (has_line_break(value)) return Status::invalid_argument("header " + name + " has a line break in its value");
  }
  if (r.body.size() > max_body_bytes) {
    return Status::invalid_argument("request body is " + std::to_string(r.body.size()) +
                                    " bytes, over the limit of " + std::to_string(max_body_bytes));
  }
  try {
    (void)nlohmann::json(r.body).dump();
  } catch (const nlohmann::json::exception&) {
    return Status::invalid_argument("request body is not UTF-8 text (send binary data as an attachment)");
  }
  if (r.ordering_key.size() > kMaxRecordIdLength) {
    return Status::invalid_argument("ordering key is longer than " + std::to_string(kMaxRecordIdLength) + " characters");
  }
  return Status::ok();
}

}  // namespace offsync::input_rules
