// Sync cursors: opaque to clients, versioned and HMAC-signed by the server.
//
// A cursor carries its key version and a change-log position, signed together with the partition
// it was issued for: base64url(version u32 | position u64 | HMAC-SHA-256(secret, ...)[0..16)).
// Clients store and echo it; they never parse it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace offsync {

struct CursorPosition {
  uint32_t version = 0;
  int64_t seq = 0;
};

enum class CursorCheck {
  kValid,
  kTampered,  // not a cursor this server could have issued (or for another partition): 400
  kRetired,   // signed with a key version since retired: 410
};

class CursorCodec {
 public:
  // secrets: key version -> secret; `current` signs new cursors; `retired` versions are refused.
  CursorCodec(std::map<uint32_t, std::string> secrets, uint32_t current, std::map<uint32_t, bool> retired);

  std::string encode(int64_t seq, std::string_view partition) const;
  CursorCheck decode(std::string_view text, std::string_view partition, CursorPosition* out) const;
  uint32_t current_version() const { return current_; }

 private:
  std::string mac(uint32_t version, int64_t seq, std::string_view partition) const;

  std::map<uint32_t, std::string> secrets_;
  uint32_t current_;
  std::map<uint32_t, bool> retired_;
};

}  // namespace offsync
