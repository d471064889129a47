#pragma once

#include "io/tokenizer.hpp"

namespace tessera {

// ids 0..255: bytes; 256: end-of-text; 257: mask; 258: padding.
class ByteTokenizer final : public Tokenizer {
 public:
  void encode(std::string_view text, std::vector<int32_t>& out) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  std::string name() const override { return "byte"; }
  std::string hash() const override { return ""; }
  std::string files() const override { return ""; }
  int vocab_size() const override { return 259; }
  int regular_vocab_size() const override { return 256; }
  int eot_id() const override { return 256; }
  int mask_id() const override { return 257; }
  int pad_id() const override { return 258; }
};

}  // namespace tessera
