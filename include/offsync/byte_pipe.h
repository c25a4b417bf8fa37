// offsync/byte_pipe.h — the protocol as plain bytes, for IPC carriers that move buffers rather than
// streams: an Android Binder transaction, an iOS XPC message, a pipe. One serialized HTTP/1.1
// request goes in, one serialized HTTP/1.1 response comes out (docs/recipe-ipc.md has the format).
//
// Provider side: serve_http_bytes() is what a Binder onTransact or an XPC handler calls.
// Client side: make_byte_pipe_transport() turns each request into bytes and hands them to the app's
// shim, which returns the provider's response bytes.
//
// Thread safety: serve_http_bytes() may be called from many threads at once (it calls
// Server::handle). A byte-pipe transport is used by one thread at a time, like every Transport;
// its exchange function is called on that thread and may block until the answer is there.
//
// Ownership: make_byte_pipe_transport() returns the caller's transport; it keeps a copy of the
// exchange function (and what that captures) until it is destroyed.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "offsync/limits.h"
#include "offsync/server.h"
#include "offsync/status.h"
#include "offsync/transport.h"

namespace offsync {

// Answers one serialized request with one serialized response (Connection: close semantics: one
// request per call). Bytes that are not one whole HTTP/1.1 request within the limits are answered
// 400 (431 for a head over 16 KiB, 413 for a body over max_body_bytes); never throws.
std::string serve_http_bytes(Server& server, std::string_view request_bytes,
                             size_t max_body_bytes = limits::kMaxBodyBytes);

// The same, for a carrier that can answer later (an XPC reply object, a Binder callback): `done`
// gets the response bytes exactly once, at once on the calling thread or, for a long poll that
// waits for changes (GET /v1/sync?wait=S), later on the server's long-poll thread, so no thread
// is held while a device waits. `done` must not block. `gone`, when given, is set by the carrier
// once the app at the other end died (Binder's linkToDeath, an XPC invalidation handler): its
// held polls are then dropped within a second (`done` gets a 499 nobody reads).
void serve_http_bytes_async(Server& server, std::string_view request_bytes, std::function<void(std::string)> done,
                            size_t max_body_bytes = limits::kMaxBodyBytes,
                            std::shared_ptr<const std::atomic<bool>> gone = nullptr);

// The app's shim: carries request bytes to the provider and returns its response bytes, or an error
// (a transient one when the provider could not be reached: the request is retried later).
using ByteExchange = std::function<Result<std::string>(const std::string& request_bytes)>;

// A Transport over the shim. Responses that are not one whole HTTP/1.1 response are a transient
// error (no answer), never a crash. `cancel` (optional) is what Transport::cancel() calls, from any
// thread, to make an exchange in progress return soon (a long poll held while the client closes);
// after it every send() fails at once as transient.
std::unique_ptr<Transport> make_byte_pipe_transport(ByteExchange exchange, std::function<void()> cancel = {});

}  // namespace offsync
