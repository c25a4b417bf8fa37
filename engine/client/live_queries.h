// Watched queries (Client::watch): each one runs again after a change to its collection's view
// (a local write, a pull, an acknowledgement, a revert, a sign-out), coalescing bursts, and its
// callback hears the new result only when it differs from the last one it heard.
//
// Threads: a watch's runs go to its executor, or to this object's notifier thread (started on the
// first watch without one). One watch never runs twice at once; a change during a run makes one
// more run after it. Callbacks run without the store lock.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "offsync/client.h"
#include "offsync/query.h"

namespace offsync {

class LiveQueries {
 public:
  using Runner = std::function<Result<std::vector<Record>>(const Query&)>;
  using Logger = std::function<void(const std::string&)>;

  LiveQueries(Runner run, Logger log);
  ~LiveQueries();  // stops the notifier thread; a watch's queued run on an app executor then does nothing
  LiveQueries(const LiveQueries&) = delete;
  LiveQueries& operator=(const LiveQueries&) = delete;

  // Starts watching; the first run reports the whole result as added.
  ObserverHandle add(Query query, QueryCallback callback, Executor executor);
  // The view of these collections changed (`all`: of every collection).
  void changed(const std::set<std::string>& collections, bool all);

 private:
  struct Watch;
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace offsync
