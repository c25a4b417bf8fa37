// Hashes, MACs and the text encodings they travel in (OpenSSL libcrypto underneath).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace offsync {

// 32 raw bytes.
std::string sha256(std::string_view data);
// SHA-256 over data that arrives in pieces (a file read chunk by chunk, never whole in memory).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  // 32 raw bytes; the hasher starts over afterwards.
  std::string finish();

 private:
  void* ctx_;  // EVP_MD_CTX
};
// 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);
std::string hex(std::string_view bytes);
// RFC 4648 §5, no padding.
std::string base64url_encode(std::string_view bytes);
// nullopt on any character outside the alphabet or an impossible length.
std::optional<std::string> base64url_decode(std::string_view text);
// Compares in time independent of where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace offsync
