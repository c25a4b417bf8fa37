// libFuzzer target: the cursor decoder on arbitrary text. Only a cursor this codec encoded may
// decode as valid, and decoding never crashes.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/server/cursor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const offsync::CursorCodec codec({{1, std::string(32, 'a')}, {2, std::string(32, 'b')}}, 2, {{1, true}, {2, false}});
  std::string text(reinterpret_cast<const char*>(data), size);
  offsync::CursorPosition position;
  if (codec.decode(text, "principal", &position) == offsync::CursorCheck::kValid) {
    // A valid cursor is one the codec would write for that position.
    if (codec.encode(position.seq, "principal") != text) std::abort();
  }
  // And every position it writes decodes back.
  if (size >= 8) {
    int64_t seq = 0;
    for (int i = 0; i < 7; ++i) seq = (seq << 8) | data[i];
    offsync::CursorPosition back;
    if (codec.decode(codec.encode(seq, "p"), "p", &back) != offsync::CursorCheck::kValid || back.seq != seq) std::abort();
  }
  return 0;
}
