#include "engine/server/long_poll.h"

#include <algorithm>

namespace offsync {

LongPolls::LongPolls(Answerer answer) : answer_(std::move(answer)) { thread_ = std::thread([this] { loop(); }); }

LongPolls::~LongPolls() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

size_t LongPolls::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_partition_.size();
}

void LongPolls::handle(const HttpRequest& request, const std::string& partition, std::chrono::milliseconds wait,
                       Done done, Gone gone) {
  uint64_t seen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seen = generation_[partition];
  }
  bool empty = false;
  HttpResponse now = answer_(request, &empty);
  if (!empty || wait.count() <= 0) return done(std::move(now));
  auto held = std::make_shared<Held>();
  held->request = request;
  held->partition = partition;
  held->deadline = std::chrono::steady_clock::now() + wait;
  held->done = std::move(done);
  held->gone = std::move(gone);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || release_) {
      // Not held: answered as it is.
    } else {
      // A change that committed after the page was read: answer again at once.
      held->ready = generation_[partition] != seen;
      by_partition_.emplace(partition, held);
      cv_.notify_all();
      return;
    }
  }
  held->done(std::move(now));
}

void LongPolls::changed(const std::string& partition) {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_[partition];
  auto [first, last] = by_partition_.equal_range(partition);
  for (auto it = first; it != last; ++it) {
    it->second->ready = true;
  }
  if (first != last) cv_.notify_all();
}

void LongPolls::release_all() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    release_ = true;
  }
  cv_.notify_all();
  // Answered by the thread; wait until it has.
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return by_partition_.empty() || stopping_; });
  release_ = false;
}

void LongPolls::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    // What to answer now: the ready ones, the expired ones, or all when releasing or stopping.
    std::vector<std::shared_ptr<Held>> due;
    auto next = std::chrono::steady_clock::time_point::max();
    for (auto it = by_partition_.begin(); it != by_partition_.end();) {
      const auto& h = it->second;
      if (h->ready || h->deadline <= now || release_ || stopping_ || h->abandoned()) {
        due.push_back(h);
        it = by_partition_.erase(it);
      } else {
        next = std::min(next, h->gone ? std::min(h->deadline, now + kGoneCheck) : h->deadline);
        ++it;
      }
    }
    if (due.empty()) {
      if (stopping_) return;
      cv_.notify_all();  // release_all() waits for an empty set
      if (next == std::chrono::steady_clock::time_point::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, next);
      }
      continue;
    }
    bool final = release_ || stopping_;
    lock.unlock();
    for (auto& h : due) {
      if (h->abandoned()) {
        // The client hung up: no page query for nobody; the carrier drops the answer.
        h->done(HttpResponse{.status = 499});
        continue;
      }
      uint64_t seen;
      {
        std::lock_guard<std::mutex> g(mu_);
        seen = generation_[h->partition];
      }
      bool empty = false;
      HttpResponse answer = answer_(h->request, &empty);
      bool expired = std::chrono::steady_clock::now() >= h->deadline;
      if (!empty || expired || final) {
        h->done(std::move(answer));
        continue;
      }
      // Woken by a change this cursor had seen already (another device's page): wait on.
      std::lock_guard<std::mutex> g(mu_);
      h->ready = generation_[h->partition] != seen;
      by_partition_.emplace(h->partition, h);
    }
    lock.lock();
  }
}

}  // namespace offsync
