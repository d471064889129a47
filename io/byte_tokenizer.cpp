// The byte-level tokenizer: one id per byte, for tests and for corpora without vocabulary files.
#include "io/byte_tokenizer.hpp"

namespace tessera {

void ByteTokenizer::encode(std::string_view text, std::vector<int32_t>& out) const {
  out.reserve(out.size() + text.size());
  for (char c : text) out.push_back(static_cast<unsigned char>(c));
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id >= 0 && id < 256) {
      out.push_back(static_cast<char>(id));
    } else {
      out += special_text(id);
    }
  }
  return out;
}

}  // namespace tessera
