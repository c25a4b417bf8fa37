#include "engine/server/cursor.h"

#include "engine/common/crypto.h"

namespace offsync {
namespace {

constexpr size_t kMacBytes = 16;
constexpr size_t kRawBytes = 4 + 8 + kMacBytes;

void put_be(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_be(std::string_view in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<size_t>(i)]);
  return v;
}

}  // namespace

CursorCodec::CursorCodec(std::map<uint32_t, std::string> secrets, uint32_t current, std::map<uint32_t, bool> retired)
    : secrets_(std::move(secrets)), current_(current), retired_(std::move(retired)) {}

std::string CursorCodec::mac(uint32_t version, int64_t seq, std::string_view partition) const {
  std::string signed_part;
  put_be(signed_part, version, 4);
  put_be(signed_part, static_cast<uint64_t>(seq), 8);
  signed_part += partition;
  return hmac_sha256(secrets_.at(version), signed_part).substr(0, kMacBytes);
}

std::string CursorCodec::encode(int64_t seq, std::string_view partition) const {
  std::string raw;
  put_be(raw, current_, 4);
  put_be(raw, static_cast<uint64_t>(seq), 8);
  raw += mac(current_, seq, partition);
  return base64url_encode(raw);
}

CursorCheck CursorCodec::decode(std::string_view text, std::string_view partition, CursorPosition* out) const {
  auto raw = base64url_decode(text);
  if (!raw || raw->size() != kRawBytes) return CursorCheck::kTampered;
  auto version = static_cast<uint32_t>(get_be(*raw, 4));
  auto seq = static_cast<int64_t>(get_be(std::string_view(*raw).substr(4), 8));
  auto secret = secrets_.find(version);
  // Retired keys are kept (only marked), so a version without a key was never issued: forged.
  if (secret == secrets_.end()) return CursorCheck::kTampered;
  if (!constant_time_equal(raw->substr(12), mac(version, seq, partition)) || seq < 0) return CursorCheck::kTampered;
  if (auto r = retired_.find(version); r != retired_.end() && r->second) return CursorCheck::kRetired;
  out->version = version;
  out->seq = seq;
  return CursorCheck::kValid;
}

}  // namespace offsync
