// A Hugging Face model directory (config.json, model.safetensors or model.safetensors.index.json with its shards,
// tokenizer files) read as a tessera model: generate, eval, info, train --init-from and convert all accept one.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint/weight_source.hpp"
#include "io/hf/mapping.hpp"
#include "io/safetensors.hpp"

namespace tessera {

// True if dir holds a Hugging Face model (config.json and model.safetensors or its index).
bool is_hf_dir(const std::string& dir);

class HfCheckpoint final : public WeightSource {
 public:
  // Reads and checks config.json, the safetensors headers (every tensor of the class present, at its shape) and the
  // tokenizer (vocab.json + merges.txt: GPT-2's BPE; tokenizer.model: SentencePiece; tessera's byte tokenizer when
  // the config says so). Throws tessera::Error naming the file and tensor.
  explicit HfCheckpoint(const std::string& dir);
  ~HfCheckpoint() override;

  const std::string& dir() const override { return dir_; }
  const CheckpointManifest& manifest() const override { return manifest_; }
  const RunConfig& config() const override { return config_; }
  TokenizerInfo tokenizer() const override { return tokenizer_; }
  int64_t bytes() const override { return bytes_; }
  void read(StateKind kind, const TensorTable& table, float* flat) const override;
  // Why the model's vocabulary grew on import ("" if it did not).
  const std::string& note() const { return note_; }

 private:
  std::string dir_, note_;
  RunConfig config_;
  CheckpointManifest manifest_;
  TokenizerInfo tokenizer_;
  int64_t bytes_ = 0;
  std::vector<std::unique_ptr<SafetensorsReader>> files_;
  std::map<std::string, std::pair<const SafetensorsReader*, const SafetensorsEntry*>> tensors_;  // by HF name
  std::vector<HfTensor> map_;
  int64_t hf_vocab_ = 0;  // rows of the embedding in the files
};

}  // namespace tessera
