#include "engine/client/live_queries.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>

namespace offsync {

// ---- ObserverHandle (offsync/client.h) ----

void ObserverHandle::remove() {
  if (!remove_) return;
  auto remove = std::move(remove_);
  remove_ = nullptr;
  remove();
}

// ---- LiveQueries ----

struct LiveQueries::Watch {
  uint64_t id = 0;
  Query query;
  QueryCallback callback;
  Executor executor;  // null: the notifier thread
  std::vector<Record> last;
  bool heard = false;      // the callback heard a result already
  bool dirty = true;       // a change since the last run began
  bool scheduled = false;  // a run is queued or running
  std::atomic<bool> removed{false};
  std::thread::id running_on;  // GUARDED_BY(Core::mu): the thread running it, while one does

  explicit Watch(Query q) : query(std::move(q)) {}
};

struct LiveQueries::Core : std::enable_shared_from_this<Core> {
  Runner run;
  Logger log;
  std::mutex mu;
  std::condition_variable cv;                       // tasks queued, a run ended, stopping
  std::vector<std::shared_ptr<Watch>> watches;      // GUARDED_BY(mu)
  std::deque<std::function<void()>> tasks;          // GUARDED_BY(mu): the notifier thread's
  std::thread notifier;                             // started on the first watch that needs it
  bool stopping = false;                            // GUARDED_BY(mu)
  uint64_t next_id = 1;                             // GUARDED_BY(mu)

  // Under mu: queues a run of w unless one is queued or running.
  void schedule(const std::shared_ptr<Watch>& w) {
    if (w->scheduled || w->removed || stopping) return;
    w->scheduled = true;
    std::weak_ptr<Core> weak = shared_from_this();
    auto task = [weak, w] {
      if (auto core = weak.lock()) core->run_watch(w);
    };
    if (w->executor) {
      // The app's executor may run the task at once, on this thread: not under our lock.
      pending_app_tasks.emplace_back(w->executor, std::move(task));
      return;
    }
    if (!notifier.joinable()) notifier = std::thread([this] { notifier_loop(); });
    tasks.push_back(std::move(task));
    cv.notify_all();
  }
  // Runs outside mu: hands queued tasks to app executors.
  std::vector<std::pair<Executor, std::function<void()>>> pending_app_tasks;  // GUARDED_BY(mu)
  void flush_app_tasks(std::unique_lock<std::mutex>& lock) {
    auto handed = std::move(pending_app_tasks);
    pending_app_tasks.clear();
    lock.unlock();
    for (auto& [executor, task] : handed) {
      try {
        executor(std::move(task));
      } catch (const std::exception& e) {
        if (log) log(std::string("a live query's executor threw: ") + e.what());
      }
    }
    lock.lock();
  }

  void notifier_loop() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stopping || !tasks.empty(); });
      if (stopping) return;
      auto task = std::move(tasks.front());
      tasks.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  void run_watch(const std::shared_ptr<Watch>& w) {
    std::unique_lock<std::mutex> lock(mu);
    if (w->removed || stopping) {
      w->scheduled = false;
      cv.notify_all();
      return;
    }
    w->dirty = false;
    w->running_on = std::this_thread::get_id();
    lock.unlock();

    auto result = run(w->query);
    std::optional<QueryChange> change;
    if (!result) {
      if (log) log("a live query failed: " + result.status().to_string());
    } else {
      change = diff(*result, w);
    }
    if (change && !w->removed) {
      try {
        w->callback(*result, *change);
      } catch (const std::exception& e) {
        if (log) log(std::string("a live query's callback threw: ") + e.what());
      }
    }

    lock.lock();
    if (change) {
      w->last = std::move(*result);
      w->heard = true;
    }
    w->running_on = std::thread::id();
    w->scheduled = false;
    if (w->dirty) schedule(w);
    cv.notify_all();
    flush_app_tasks(lock);
  }

  // What changed from the last result heard; nullopt when nothing did (or the first run).
  static std::optional<QueryChange> diff(const std::vector<Record>& now, const std::shared_ptr<Watch>& w) {
    QueryChange change;
    if (!w->heard) {
      for (const auto& r : now) change.added.push_back(r.id);
      return change;
    }
    std::unordered_map<std::string, size_t> before;
    for (size_t i = 0; i < w->last.size(); ++i) before.emplace(w->last[i].id, i);
    std::unordered_map<std::string, bool> kept;
    for (size_t i = 0; i < now.size(); ++i) {
      auto it = before.find(now[i].id);
      if (it == before.end()) {
        change.added.push_back(now[i].id);
        continue;
      }
      kept[now[i].id] = true;
      if (w->last[it->second].fields != now[i].fields) change.changed.push_back(now[i].id);
    }
    for (const auto& r : w->last) {
      if (!kept.count(r.id)) change.removed.push_back(r.id);
    }
    bool reordered = false;
    if (change.added.empty() && change.removed.empty()) {
      for (size_t i = 0; i < now.size() && !reordered; ++i) reordered = now[i].id != w->last[i].id;
    }
    if (change.added.empty() && change.removed.empty() && change.changed.empty() && !reordered) return std::nullopt;
    return change;
  }

  void remove(const std::shared_ptr<Watch>& w) {
    std::unique_lock<std::mutex> lock(mu);
    w->removed = true;
    watches.erase(std::remove(watches.begin(), watches.end(), w), watches.end());
    // After remove() returns the callback is not running (unless remove() is called from it).
    cv.wait(lock, [&] {
      return w->running_on == std::thread::id() || w->running_on == std::this_thread::get_id();
    });
  }
};

LiveQueries::LiveQueries(Runner run, Logger log) : core_(std::make_shared<Core>()) {
  core_->run = std::move(run);
  core_->log = std::move(log);
}

LiveQueries::~LiveQueries() {
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->stopping = true;
    for (auto& w : core_->watches) w->removed = true;
  }
  core_->cv.notify_all();
  if (core_->notifier.joinable()) core_->notifier.join();
  // A run on an app executor may still be going: wait for it to end.
  std::unique_lock<std::mutex> lock(core_->mu);
  core_->cv.wait(lock, [&] {
    return std::all_of(core_->watches.begin(), core_->watches.end(), [](const auto& w) {
      return w->running_on == std::thread::id() || w->running_on == std::this_thread::get_id();
    });
  });
}

ObserverHandle LiveQueries::add(Query query, QueryCallback callback, Executor executor) {
  auto w = std::make_shared<Watch>(std::move(query));
  w->callback = std::move(callback);
  w->executor = std::move(executor);
  std::unique_lock<std::mutex> lock(core_->mu);
  w->id = core_->next_id++;
  core_->watches.push_back(w);
  core_->schedule(w);
  core_->flush_app_tasks(lock);
  std::weak_ptr<Core> weak = core_;
  return ObserverHandle([weak, w] {
    if (auto core = weak.lock()) core->remove(w);
  });
}

void LiveQueries::changed(const std::set<std::string>& collections, bool all) {
  std::unique_lock<std::mutex> lock(core_->mu);
  for (auto& w : core_->watches) {
    if (!all && !collections.count(w->query.collection())) continue;
    w->dirty = true;
    core_->schedule(w);
  }
  core_->flush_app_tasks(lock);
}

}  // namespace offsync
