// GPT-2 byte-level BPE (encoder.json + vocab.bpe), as OpenAI's encoder.py, tiktoken and Hugging Face tokenizers.
//
// Text is split by GPT-2's pre-tokenisation regex (PCRE2 with Unicode properties), each piece's bytes start as
// single-byte tokens, and the lowest-ranked adjacent pair from vocab.bpe is merged until none applies.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/tokenizer.hpp"

namespace tessera {

class Gpt2Tokenizer final : public Tokenizer {
 public:
  explicit Gpt2Tokenizer(const std::string& dir);
  ~Gpt2Tokenizer() override;
  Gpt2Tokenizer(const Gpt2Tokenizer&) = delete;
  Gpt2Tokenizer& operator=(const Gpt2Tokenizer&) = delete;

  void encode(std::string_view text, std::vector<int32_t>& out) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  std::string name() const override { return "gpt2"; }
  std::string hash() const override { return hash_; }
  std::string files() const override { return dir_; }
  int vocab_size() const override { return eot_ + 3; }
  int regular_vocab_size() const override { return eot_; }
  int eot_id() const override { return eot_; }
  int mask_id() const override { return eot_ + 1; }
  int pad_id() const override { return eot_ + 2; }

 private:
  // BPE of one pre-tokenised piece, appended to out.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;
  static constexpr int32_t kShortPiece = 32;  // bytes; longer pieces merge through a heap

  struct Merge {
    int32_t rank;
    int32_t merged;
  };
  std::vector<std::string> token_bytes_;        // id -> bytes
  int32_t byte_id_[256] = {};                   // byte -> id of its single-byte token
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> rank, merged id
  int eot_ = 0;
  std::string dir_, hash_;
  void* regex_ = nullptr;  // pcre2_code_8*, owned
  uint64_t instance_ = 0;  // names this tokenizer's entries in the per-thread piece caches
};

}  // namespace tessera
