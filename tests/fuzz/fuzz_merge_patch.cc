// libFuzzer target: merge patches and their composition. The input is three JSON documents
// separated by NUL bytes (target, first patch, second patch); when compose_merge_patches gives a
// patch, applying it equals applying the two in turn.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "engine/common/json_patch.h"
#include "engine/common/json_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string all(reinterpret_cast<const char*>(data), size);
  std::vector<nlohmann::json> docs;
  size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    size_t end = all.find('\0', start);
    std::string part = all.substr(start, end == std::string::npos ? std::string::npos : end - start);
    offsync::json_text::Document d(part);
    if (!d.valid()) return 0;
    docs.push_back(offsync::json_text::to_json(d.root()));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (docs.size() != 3 || !docs[1].is_object() || !docs[2].is_object()) return 0;
  const auto& [target, first, second] = std::tie(docs[0], docs[1], docs[2]);
  nlohmann::json in_turn = offsync::apply_merge_patch(offsync::apply_merge_patch(target, first), second);
  if (auto composed = offsync::compose_merge_patches(first, second)) {
    if (offsync::apply_merge_patch(target, *composed) != in_turn) std::abort();
  }
  return 0;
}
