#include "model/model_config.hpp"

#include "core/check.hpp"

namespace tessera {

void ModelConfig::apply_family_defaults() {
  if (family == "gpt2") {
    norm = Norm::kLayerNorm;
    activation = Activation::kGelu;
    position = Position::kLearned;
    tie_embeddings = true;
    bias = true;
    norm_eps = 1e-5F;
  } else if (family == "llama") {
    norm = Norm::kRMSNorm;
    activation = Activation::kSwiGLU;
    position = Position::kRope;
    tie_embeddings = false;
    bias = false;
    norm_eps = 1e-5F;
  } else {
    TESSERA_RAISE("model.family: unknown family \"{}\" (expected \"gpt2\" or \"llama\")", family);
  }
}

void ModelConfig::finalize() {
  if (n_kv_head == 0) n_kv_head = n_head;
  if (d_ff == 0) {
    if (activation == Activation::kSwiGLU) {
      d_ff = (8 * d_model / 3 + 255) / 256 * 256;
    } else {
      d_ff = 4 * d_model;
    }
  }
  auto positive = [](int v, const char* key) {
    if (v <= 0) TESSERA_RAISE("model.{}: must be positive, got {}", key, v);
  };
  positive(vocab_size, "vocab_size");
  positive(vocab_multiple, "vocab_multiple");
  positive(max_seq_len, "max_seq_len");
  positive(n_layer, "n_layer");
  positive(n_head, "n_head");
  positive(n_kv_head, "n_kv_head");
  positive(d_model, "d_model");
  positive(d_ff, "d_ff");
  if (d_model % n_head != 0) TESSERA_RAISE("model.n_head: {} heads do not divide d_model = {}", n_head, d_model);
  if (n_head % n_kv_head != 0)
    TESSERA_RAISE("model.n_kv_head: {} KV heads do not divide n_head = {}", n_kv_head, n_head);
  if (position == Position::kRope && head_size() % 2 != 0)
    TESSERA_RAISE("model.position: RoPE needs an even head size, got d_model / n_head = {}", head_size());
  if (norm_eps <= 0) TESSERA_RAISE("model.norm_eps: must be positive, got {}", norm_eps);
  if (init_std <= 0) TESSERA_RAISE("model.init_std: must be positive, got {}", init_std);
  if (objective == Objective::kMasked && (mask_token_id < 0 || mask_token_id >= vocab_size))
    TESSERA_RAISE(
        "model.objective = \"mlm\" needs a mask token inside the vocabulary (mask_token_id = {}, vocab_size = {})",
        mask_token_id, vocab_size);
}

const char* to_string(Norm v) {
  return v == Norm::kLayerNorm ? "layernorm" : "rmsnorm";
}
const char* to_string(Activation v) {
  return v == Activation::kGelu ? "gelu" : "swiglu";
}
const char* to_string(Position v) {
  return v == Position::kLearned ? "learned" : "rope";
}
const char* to_string(Objective v) {
  return v == Objective::kCausal ? "clm" : "mlm";
}

}  // namespace tessera
