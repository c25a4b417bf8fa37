// offsync/status.h — errors as values.
//
// Thread safety: Status and Result are plain values; distinct objects may be used from distinct
// threads freely, one object from several threads only for reading.
//
// No offsync API throws across its boundary: every fallible call returns a Status or a Result<T>.
//
// Ownership: values; a Result<T> owns its T.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace offsync {

// The codes map onto the sync classification of docs/protocol.md.
// Persistent format (stored in the outbox's last_error): do not renumber.
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,    // the caller's input is wrong; retrying the same call cannot succeed
  kNotFound = 2,           // the record, mutation or file does not exist
  kConflict = 3,           // a merge conflict, or the operation clashes with the object's state
  kValidation = 4,         // the server rejected a mutation (4xx with an error code)
  kTransient = 5,          // network, timeout, 5xx, 429: retry later with the same key
  kCorrupt = 6,            // stored data is not what offsync wrote
  kResourceExhausted = 7,  // the disk or the database's page limit is full
  kUnauthenticated = 8,    // 401: the queue pauses until the app signs in again
  kUpgradeRequired = 9,    // 426: the queue pauses until the app is upgraded
  kInternal = 10,          // a bug or an unexpected failure of a dependency
  kDeadlineExceeded = 11,  // a wait ran out of time (the work it waited for may still finish)
};

// Returns the snake_case name of a code ("invalid_argument", ...).
std::string_view status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  static Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status validation(std::string m) { return {StatusCode::kValidation, std::move(m)}; }
  static Status transient(std::string m) { return {StatusCode::kTransient, std::move(m)}; }
  static Status corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
  static Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status deadline_exceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // The single place that decides whether an operation may be retried unchanged.
  bool is_transient() const { return code_ == StatusCode::kTransient; }

  // "invalid_argument: payload is not a JSON object"
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none (abseil's StatusOr).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  // A Result needs a value or an error: one built from an OK status (a bug of the caller) holds
  // an internal error instead, in every build, so that no caller reads a value that is not there.
  Result(Status status)  // NOLINT: implicit by design
      : v_(status.is_ok() ? Status::internal("a Result was built from an OK status without a value")
                          : std::move(status)) {}

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }

  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  // On a temporary Result the value is moved out, so that `for (auto& x : *f())` does not dangle.
  T value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace offsync
