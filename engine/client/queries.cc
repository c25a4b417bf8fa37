// Client: queries over the view (offsync/query.h).
#include <SQLiteCpp/Exception.h>

#include "engine/client/client_impl.h"
#include "engine/common/input_rules.h"
#include "storage/client_query.h"

namespace offsync {

namespace {

// An FTS5 match text that does not parse is the caller's mistake, not the store's.
template <typename T>
Result<T> refused_match(const SQLite::Exception& e) {
  return Status::invalid_argument(std::string("full-text query: ") + e.what());
}

bool is_match_syntax(const SQLite::Exception& e) {
  std::string_view what = e.what();
  return what.find("fts5:") != std::string_view::npos || what.find("unterminated string") != std::string_view::npos;
}

}  // namespace

Result<storage::QuerySql> Client::Impl::compile(const Query& query) {
  if (Status s = input_rules::check_collection(query.collection()); !s) return s;
  return storage::compile_query(query, indexes);
}

Result<std::vector<Record>> Client::query(const Query& query) {
  auto sql = impl_->compile(query);
  if (!sql) return sql.status();
  return impl_->locked("query", [&]() -> Result<std::vector<Record>> {
    try {
      return impl_->store->query_view(query.collection(), *sql);
    } catch (const SQLite::Exception& e) {
      if (is_match_syntax(e)) return refused_match<std::vector<Record>>(e);
      throw;
    }
  });
}

Result<int64_t> Client::count(const Query& query) {
  auto sql = impl_->compile(query);
  if (!sql) return sql.status();
  return impl_->locked("count", [&]() -> Result<int64_t> {
    try {
      return impl_->store->count_view(*sql);
    } catch (const SQLite::Exception& e) {
      if (is_match_syntax(e)) return refused_match<int64_t>(e);
      throw;
    }
  });
}

void Client::Impl::view_touched() {
  std::set<std::string> collections;
  bool all = false;
  if (!store->take_touched(&collections, &all) || !live) return;
  live->changed(collections, all);
}

Result<ObserverHandle> Client::watch(const Query& query, QueryCallback callback, Executor executor) {
  if (!callback) return Status::invalid_argument("watch needs a callback");
  auto sql = impl_->compile(query);  // refuse a bad query now, not in the first run
  if (!sql) return sql.status();
  LiveQueries* live = nullptr;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->live) {
      Impl* impl = impl_.get();
      impl_->live = std::make_unique<LiveQueries>(
          [this](const Query& q) { return this->query(q); },
          [impl](const std::string& message) { impl->log(LogLevel::kError, "query", message); });
    }
    live = impl_->live.get();
  }
  return live->add(query, std::move(callback), std::move(executor));
}

Result<QueryPlan> Client::explain(const Query& query) {
  auto sql = impl_->compile(query);
  if (!sql) return sql.status();
  return impl_->locked("explain", [&]() -> Result<QueryPlan> { return impl_->store->explain_view(*sql); });
}

}  // namespace offsync
