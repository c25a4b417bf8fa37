// What the C ABI's source files share (include/offsync/offsync.h): the handles' structs and the
// wrapping that keeps exceptions from crossing, with errors as code + message.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "offsync/client.h"
#include "offsync/listener.h"
#include "offsync/offsync.h"
#include "offsync/server.h"

struct offsync_server {
  std::unique_ptr<offsync::Server> server;
  // Its listeners not freed yet (offsync_c_server.cc, under its listeners' lock): freeing the
  // server stops them first.
  std::set<offsync_listener*> listeners;
};

struct offsync_client {
  std::unique_ptr<offsync::Client> client;
};

struct offsync_listener {
  std::unique_ptr<offsync::Listener> listener;  // null once stopped
  std::thread thread;      // runs listener->run() until stopped
  offsync_server* server;  // null once its server was freed (which stopped it)
  std::string address;
};

struct offsync_peer {
  std::shared_ptr<std::atomic<bool>> gone = std::make_shared<std::atomic<bool>>(false);
};

struct offsync_observer {
  offsync::ObserverHandle handle;
};

namespace offsync::capi {

using offsync::Status;

inline void set_error(offsync_error* error, int32_t code, const std::string& message) {
  if (!error) return;
  error->code = code;
  size_t n = std::min(message.size(), sizeof error->message - 1);
  std::memcpy(error->message, message.data(), n);
  error->message[n] = '\0';
}

inline void set_status(offsync_error* error, const Status& s) {
  set_error(error, static_cast<int32_t>(s.code()), s.message());
}

// A string the caller owns (offsync_string_free).
inline char* owned(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (!out) return nullptr;
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

// Runs body; an exception becomes OFFSYNC_INTERNAL (or OFFSYNC_RESOURCE_EXHAUSTED when memory ran
// out) and the failure value.
template <typename T, typename Fn>
T guarded(offsync_error* error, T failure, Fn&& body) noexcept {
  set_error(error, OFFSYNC_OK, "");
  try {
    return body();
  } catch (const std::bad_alloc&) {
    set_error(error, OFFSYNC_RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception& e) {
    set_error(error, OFFSYNC_INTERNAL, e.what());
  } catch (...) {
    set_error(error, OFFSYNC_INTERNAL, "unknown failure");
  }
  return failure;
}

inline bool present(const char* text) { return text && *text; }

// A JSON argument, or an OFFSYNC_INVALID_ARGUMENT naming it.
inline std::optional<nlohmann::json> json_argument(const char* text, const char* name, offsync_error* error) {
  if (!text) {
    set_error(error, OFFSYNC_INVALID_ARGUMENT, std::string(name) + " is NULL");
    return std::nullopt;
  }
  auto value = nlohmann::json::parse(text, nullptr, false);
  if (value.is_discarded()) {
    set_error(error, OFFSYNC_INVALID_ARGUMENT, std::string(name) + " is not JSON");
    return std::nullopt;
  }
  return value;
}

// True when every argument is there; otherwise OFFSYNC_INVALID_ARGUMENT "<names> required".
template <typename... Args>
bool required(offsync_error* error, const char* names, const Args*... args) {
  if ((... && (args != nullptr))) return true;
  set_error(error, OFFSYNC_INVALID_ARGUMENT, std::string(names) + (sizeof...(args) > 1 ? " are required" : " is required"));
  return false;
}

// A Status as the C ABI's bool (the error filled when it failed).
inline bool succeeded(const Status& s, offsync_error* error) {
  if (!s) set_status(error, s);
  return s.is_ok();
}

// A Result as the caller's string: text(value) on success, NULL and the error otherwise.
template <typename T, typename Text>
char* text_or_error(const offsync::Result<T>& r, offsync_error* error, Text&& text) {
  if (!r) {
    set_status(error, r.status());
    return nullptr;
  }
  return owned(text(*r));
}

inline char* id_or_error(const offsync::Result<std::string>& r, offsync_error* error) {
  return text_or_error(r, error, [](const std::string& id) { return id; });
}

// A Result's value as a number, or `failure` and the error.
template <typename T>
int64_t number_or_error(const offsync::Result<T>& r, offsync_error* error, int64_t failure = -1) {
  if (!r) {
    set_status(error, r.status());
    return failure;
  }
  return static_cast<int64_t>(*r);
}


}  // namespace offsync::capi
