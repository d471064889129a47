// The model's shape and architecture: the [model] section of a run config.
//
// One config spans the GPT-2 family (LayerNorm, GELU, learned positions, tied embeddings, biases) and the LLaMA
// family (RMSNorm, SwiGLU, RoPE, grouped-query attention, untied head, no biases); `family` sets the defaults of
// the architecture keys and any of them may be set on its own.
#pragma once

#include <cstdint>
#include <string>

namespace tessera {

enum class Norm { kLayerNorm, kRMSNorm };
enum class Activation { kGelu, kSwiGLU };
enum class Position { kLearned, kRope };
enum class Objective { kCausal, kMasked };

struct ModelConfig {
  std::string family = "gpt2";  // "gpt2" | "llama"
  int vocab_size = 0;           // real vocabulary, special tokens included (0: take it from the dataset)
  int vocab_multiple = 128;     // the padded vocabulary is a multiple of this (128 * tp under tensor parallelism)
  int max_seq_len = 1024;       // T: context length
  int n_layer = 12;             // L
  int n_head = 12;              // NH
  int n_kv_head = 0;            // NKV (0: = n_head, plain multi-head attention)
  int d_model = 768;            // C
  int d_ff = 0;                 // F (0: 4C for GELU; 2/3 * 4C rounded up to a multiple of 256 for SwiGLU)
  Norm norm = Norm::kLayerNorm;
  Activation activation = Activation::kGelu;
  Position position = Position::kLearned;
  bool tie_embeddings = true;
  bool bias = true;
  float norm_eps = 1e-5F;
  float rope_theta = 10000.0F;
  float init_std = 0.02F;
  Objective objective = Objective::kCausal;
  int mask_token_id = -1;  // MLM: the id that replaces selected tokens

  // Sets the architecture keys to the family's defaults ("gpt2" or "llama"); throws on an unknown family.
  void apply_family_defaults();
  // Fills derived sizes (n_kv_head, d_ff) and checks that everything divides; throws tessera::Error naming the key.
  void finalize();

  // The vocabulary padded to a multiple of vocab_multiple * tp (each tensor-parallel rank holds an equal slice).
  int padded_vocab(int tp = 1) const {
    const int multiple = vocab_multiple * tp;
    return (vocab_size + multiple - 1) / multiple * multiple;
  }
  int head_size() const { return d_model / n_head; }
  int qkv_width() const { return (n_head + 2 * n_kv_head) * head_size(); }
  int ffn_in_width() const { return activation == Activation::kSwiGLU ? 2 * d_ff : d_ff; }
};

const char* to_string(Norm v);
const char* to_string(Activation v);
const char* to_string(Position v);
const char* to_string(Objective v);

}  // namespace tessera
