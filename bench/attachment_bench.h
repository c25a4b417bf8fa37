// offsync-bench attachments: a file uploaded by the sync worker in chunks (resumable, checksummed,
// each chunk durable before its answer) against the same bytes copied with curl in one PUT to the
// same server, over TCP loopback, side by side in one process.
#pragma once

#include <nlohmann/json.hpp>

namespace offsync::bench {

struct AttachmentConfig {
  int64_t megabytes = 64;    // the file
  int64_t chunk_kib = 1024;  // the client's chunk size
  int rounds = 3;            // the best of each side is kept
};

nlohmann::json run_attachments(const AttachmentConfig& config);

}  // namespace offsync::bench
