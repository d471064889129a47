// SentencePiece (BPE or unigram) through libsentencepiece: a model file trained by `tessera train-tokenizer` (or any
// SentencePiece .model, LLaMA's included).
//
// Special ids: end-of-text is the model's eos piece, the mask and padding the pieces "<|mask|>" and the model's pad
// piece; a model without them (a foreign one) gets them appended after its pieces.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/tokenizer.hpp"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace tessera {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // path: a .model file, or a directory holding tokenizer.model. Throws tessera::Error if missing or not a model.
  explicit SentencePieceTokenizer(const std::string& path);
  ~SentencePieceTokenizer() override;
  SentencePieceTokenizer(const SentencePieceTokenizer&) = delete;
  SentencePieceTokenizer& operator=(const SentencePieceTokenizer&) = delete;

  void encode(std::string_view text, std::vector<int32_t>& out) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  std::string name() const override { return "sentencepiece"; }
  std::string hash() const override { return hash_; }
  std::string files() const override { return path_; }
  int vocab_size() const override { return vocab_size_; }
  int regular_vocab_size() const override { return pieces_; }
  int eot_id() const override { return eot_; }
  int mask_id() const override { return mask_; }
  int pad_id() const override { return pad_; }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string path_, hash_;
  int pieces_ = 0, vocab_size_ = 0, eot_ = -1, mask_ = -1, pad_ = -1;
};

struct SentencePieceTrainOptions {
  std::vector<std::string> inputs;  // as for prepare: files (.gz, .zst) or directories
  std::string jsonl_key;            // inputs are JSON lines
  std::string output;               // directory to write tokenizer.model and tokenizer.vocab into
  std::string model_type = "bpe";   // "bpe" | "unigram"
  int vocab_size = 8000;
  int64_t max_sentences = 2000000;  // lines sampled (uniformly, seeded) for training; 0 = all
  double character_coverage = 0.9995;
  int threads = 0;  // 0 = all cores
  uint64_t seed = 1234;
  bool force = false;  // replace an existing model
};

struct SentencePieceTrainSummary {
  int64_t sentences = 0, bytes = 0;
  int vocab_size = 0;
  std::string model_path;
  double seconds = 0;
};

// Trains a lossless model (identity normalisation, no dummy prefix, whitespace kept, byte fallback, digits split)
// with <unk> = 0, <|endoftext|> = 1, <|pad|> = 2, <|mask|> = 3. Writes the files through temporaries, so a failed
// run leaves any previous model as it was. Throws tessera::Error with SentencePiece's message on failure.
SentencePieceTrainSummary train_sentencepiece(const SentencePieceTrainOptions& options);

}  // namespace tessera
