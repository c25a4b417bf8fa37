// Server push by long poll (docs/protocol.md, "Waiting for changes"): GET /v1/sync with `wait=S`
// whose page would be empty is held, without a thread, until a change of its partition commits or
// S seconds pass, then answered as the same request would be answered then.
//
// Threads: held requests are answered on this object's one thread (a page query each, in turn);
// changed() only marks them and returns at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "offsync/http.h"

namespace offsync {

class LongPolls {
 public:
  // Answers a request (the server's handle); sets *empty when it is a sync page with no change.
  using Answerer = std::function<HttpResponse(const HttpRequest&, bool* empty)>;
  using Done = std::function<void(HttpResponse)>;
  using Gone = std::shared_ptr<const std::atomic<bool>>;  // set once the client hung up

  explicit LongPolls(Answerer answer);
  ~LongPolls();  // answers every held request first
  LongPolls(const LongPolls&) = delete;
  LongPolls& operator=(const LongPolls&) = delete;

  // Answers now, or holds the request until the partition changes or `wait` passes; a held request
  // whose `gone` is set is dropped within kGoneCheck (done gets a 499 that nobody reads).
  void handle(const HttpRequest& request, const std::string& partition, std::chrono::milliseconds wait, Done done,
              Gone gone = nullptr);
  static constexpr std::chrono::milliseconds kGoneCheck{1000};
  // A change of the partition committed.
  void changed(const std::string& partition);
  // Answers every held request now (a listener stopping).
  void release_all();
  size_t held() const;

 private:
  struct Held {
    HttpRequest request;
    std::string partition;
    std::chrono::steady_clock::time_point deadline;
    Done done;
    Gone gone;
    bool ready = false;  // its partition changed: answer again
    bool abandoned() const { return gone && gone->load(); }
  };
  void loop();

  Answerer answer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<std::string, std::shared_ptr<Held>> by_partition_;  // GUARDED_BY(mu_)
  std::map<std::string, uint64_t> generation_;                       // GUARDED_BY(mu_): changes seen per partition
  bool release_ = false;                                              // GUARDED_BY(mu_)
  bool stopping_ = false;                                             // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace offsync
