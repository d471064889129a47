// Export to Hugging Face format: a directory that transformers loads as is (AutoModelForCausalLM, AutoTokenizer).
#pragma once

#include <string>

#include "io/checkpoint/weight_source.hpp"

namespace tessera {

struct HfExportOptions {
  int64_t max_shard_bytes = int64_t{5} << 30;  // a larger model is split into model-0000K-of-0000N.safetensors
  bool progress = false;
};

// Writes `source`'s model into out: config.json, generation_config.json, model.safetensors (or shards and
// model.safetensors.index.json; float32), and the tokenizer's files in Hugging Face's names (GPT-2: vocab.json,
// merges.txt, added tokens for <|mask|> and <|pad|>; SentencePiece: tokenizer.model). Written beside out and renamed
// into place when complete. Returns notes for the user (what transformers cannot do with this model). Throws
// tessera::Error when the model has no Hugging Face class.
std::string export_hf(const WeightSource& source, const std::string& out, const HfExportOptions& options);

}  // namespace tessera
