// Where the server keeps attachment bytes: rows of its store (the default, so that server
// processes stay stateless) or files under --attachments-dir. Both make a chunk durable before
// the answer that acknowledges it, and both read and write at most one chunk at a time.
// Internal to the server half; every call runs under the server's store lock.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "offsync/status.h"
#include "storage/server_store.h"

namespace offsync {

// The disk is full (ENOSPC, EDQUOT): answered 507, nothing acknowledged.
struct StorageFull : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class AttachmentBlobs {
 public:
  virtual ~AttachmentBlobs() = default;
  // Stores bytes at offset; durable when it returns (for store rows: when the transaction commits).
  virtual void write(const std::string& principal, const std::string& id, int64_t offset, std::string_view bytes) = 0;
  // Bytes [offset, offset + length), fewer if the stored bytes end sooner.
  virtual std::string read(const std::string& principal, const std::string& id, int64_t offset, int64_t length) = 0;
  // Forgets every byte of the attachment.
  virtual void remove(const std::string& principal, const std::string& id) = 0;
};

// Chunk rows in the server store (`store` is the Server's, used under its lock).
std::unique_ptr<AttachmentBlobs> store_blobs(std::unique_ptr<storage::ServerStore>& store);
// One file per attachment under dir (created if missing), in a directory per principal.
Result<std::unique_ptr<AttachmentBlobs>> directory_blobs(const std::string& dir);

}  // namespace offsync
