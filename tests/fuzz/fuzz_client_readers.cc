// libFuzzer target: the client's readers of what a server sends: sync pages, mutation answers,
// records, error bodies and Retry-After. None may crash or throw, whatever the bytes.
#include <cstdint>
#include <string>

#include "engine/client/answer_policy.h"
#include "engine/client/server_record.h"
#include "engine/client/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  offsync::HttpResponse page;
  page.body = text;
  if (auto p = offsync::wire::read_page(page)) {
    for (const auto& c : p->changes) (void)offsync::wire::cursor_query(c.record_id);
    (void)offsync::wire::cursor_query(p->cursor);
  }
  offsync::json_text::Document document(text);
  offsync::json_text::Value body = document.root();
  (void)offsync::wire::error_message_of(body, 400);
  (void)offsync::wire::error_code_of(body);
  if (auto record = offsync::wire::applied_record(body)) {
    (void)offsync::acknowledged_base(offsync::MutationOp::kUpsert, *record);
    (void)offsync::acknowledged_base(offsync::MutationOp::kDelete, *record);
  }
  (void)offsync::read_server_record(body);
  offsync::HttpResponse retry;
  retry.headers.add("Retry-After", text.substr(0, 64));
  int64_t ms = offsync::retry_after_ms(retry, 1'800'000'000'000, 12LL * 3600 * 1000);
  if (ms < 0 || ms > 12LL * 3600 * 1000) __builtin_trap();
  return 0;
}
