#include "io/hf/mapping.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/check.hpp"
#include "io/json_fields.hpp"

namespace tessera {
using json = nlohmann::json;

std::string hf_architecture(const ModelConfig& m) {
  auto need = [&](bool ok, const char* key, const char* cls, const char* what) {
    if (!ok) TESSERA_RAISE("model.{}: {} has {}; this model does not, so it has no Hugging Face class", key, cls, what);
  };
  if (m.family == "gpt2") {
    const char* cls = "GPT2LMHeadModel";
    need(m.norm == Norm::kLayerNorm, "norm", cls, "LayerNorm");
    need(m.activation == Activation::kGelu, "activation", cls, "GELU");
    need(m.position == Position::kLearned, "position", cls, "learned positions");
    need(m.bias, "bias", cls, "biases");
    need(m.tie_embeddings, "tie_embeddings", cls, "a head tied to the embedding");
    need(m.n_kv_head == m.n_head, "n_kv_head", cls, "as many key/value heads as heads");
    return cls;
  }
  const char* cls = "LlamaForCausalLM";
  need(m.norm == Norm::kRMSNorm, "norm", cls, "RMSNorm");
  need(m.activation == Activation::kSwiGLU, "activation", cls, "SwiGLU");
  need(m.position == Position::kRope, "position", cls, "rotary positions");
  need(!m.bias, "bias", cls, "no biases");
  return cls;
}

std::vector<HfTensor> hf_tensors(const ModelConfig& m) {
  std::vector<HfTensor> out;
  const int64_t V = m.vocab_size, HS = m.head_size(), Q = int64_t{m.n_head} * HS, KV = int64_t{m.n_kv_head} * HS;
  auto add = [&](std::string hf, std::string t, HfOp op = HfOp::kSame, int64_t first = 0, int64_t rows = 0) {
    out.push_back({std::move(hf), std::move(t), op, first, rows});
  };
  if (m.family == "gpt2") {
    add("transformer.wte.weight", "embed.wte", HfOp::kRows, 0, V);
    add("transformer.wpe.weight", "embed.wpe");
    for (int l = 0; l < m.n_layer; ++l) {
      const std::string h = fmt::format("transformer.h.{}.", l), t = fmt::format("layers.{}.", l);
      add(h + "ln_1.weight", t + "attn_norm.weight");
      add(h + "ln_1.bias", t + "attn_norm.bias");
      add(h + "attn.c_attn.weight", t + "attn.qkv.weight", HfOp::kTranspose);
      add(h + "attn.c_attn.bias", t + "attn.qkv.bias");
      add(h + "attn.c_proj.weight", t + "attn.proj.weight", HfOp::kTranspose);
      add(h + "attn.c_proj.bias", t + "attn.proj.bias");
      add(h + "ln_2.weight", t + "mlp_norm.weight");
      add(h + "ln_2.bias", t + "mlp_norm.bias");
      add(h + "mlp.c_fc.weight", t + "mlp.fc.weight", HfOp::kTranspose);
      add(h + "mlp.c_fc.bias", t + "mlp.fc.bias");
      add(h + "mlp.c_proj.weight", t + "mlp.proj.weight", HfOp::kTranspose);
      add(h + "mlp.c_proj.bias", t + "mlp.proj.bias");
    }
    add("transformer.ln_f.weight", "final_norm.weight");
    add("transformer.ln_f.bias", "final_norm.bias");
    return out;
  }
  add("model.embed_tokens.weight", "embed.wte", HfOp::kRows, 0, V);
  for (int l = 0; l < m.n_layer; ++l) {
    const std::string h = fmt::format("model.layers.{}.", l), t = fmt::format("layers.{}.", l);
    add(h + "input_layernorm.weight", t + "attn_norm.weight");
    add(h + "self_attn.q_proj.weight", t + "attn.qkv.weight", HfOp::kRows, 0, Q);
    add(h + "self_attn.k_proj.weight", t + "attn.qkv.weight", HfOp::kRows, Q, KV);
    add(h + "self_attn.v_proj.weight", t + "attn.qkv.weight", HfOp::kRows, Q + KV, KV);
    add(h + "self_attn.o_proj.weight", t + "attn.proj.weight");
    add(h + "post_attention_layernorm.weight", t + "mlp_norm.weight");
    add(h + "mlp.gate_proj.weight", t + "mlp.fc.weight", HfOp::kRows, 0, m.d_ff);
    add(h + "mlp.up_proj.weight", t + "mlp.fc.weight", HfOp::kRows, m.d_ff, m.d_ff);
    add(h + "mlp.down_proj.weight", t + "mlp.proj.weight");
  }
  add("model.norm.weight", "final_norm.weight");
  if (!m.tie_embeddings) add("lm_head.weight", "head.weight", HfOp::kRows, 0, V);
  return out;
}

void transpose_2d(const float* in, int64_t rows, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
}

Shape hf_shape(const HfTensor& t, const Shape& s) {
  switch (t.op) {
    case HfOp::kSame:
      return s;
    case HfOp::kTranspose:
      return {s[1], s[0]};
    case HfOp::kRows: {
      Shape r = s;
      r[0] = t.rows;
      return r;
    }
  }
  return s;
}

namespace {
// A float as the shortest decimal that reads back as it (1e-05, not 9.999999747378752e-06).
double clean(float x) {
  return std::stod(fmt::format("{}", x));
}
}  // namespace

json hf_config_json(const ModelConfig& m, const TokenizerInfo& t) {
  const std::string cls = hf_architecture(m);
  json j;
  j["architectures"] = {cls};
  const int64_t eot = t.eot_id >= 0 ? t.eot_id : 0;
  json tessera = {{"objective", m.objective == Objective::kMasked ? "mlm" : "clm"},
                  {"vocab_multiple", m.vocab_multiple},
                  {"tokenizer", t.name}};
  if (m.mask_token_id >= 0) tessera["mask_token_id"] = m.mask_token_id;
  if (m.family == "gpt2") {
    j.update({{"model_type", "gpt2"},
              {"vocab_size", m.vocab_size},
              {"n_positions", m.max_seq_len},
              {"n_ctx", m.max_seq_len},
              {"n_embd", m.d_model},
              {"n_layer", m.n_layer},
              {"n_head", m.n_head},
              {"n_inner", m.d_ff},
              {"activation_function", "gelu_new"},
              {"layer_norm_epsilon", clean(m.norm_eps)},
              {"resid_pdrop", 0.0},
              {"embd_pdrop", 0.0},
              {"attn_pdrop", 0.0},
              {"scale_attn_weights", true},
              {"tie_word_embeddings", true}});
  } else {
    j.update({{"model_type", "llama"},
              {"vocab_size", m.vocab_size},
              {"hidden_size", m.d_model},
              {"intermediate_size", m.d_ff},
              {"num_hidden_layers", m.n_layer},
              {"num_attention_heads", m.n_head},
              {"num_key_value_heads", m.n_kv_head},
              {"max_position_embeddings", m.max_seq_len},
              {"rms_norm_eps", clean(m.norm_eps)},
              {"rope_theta", clean(m.rope_theta)},
              {"rope_scaling", nullptr},
              {"hidden_act", "silu"},
              {"attention_bias", false},
              {"mlp_bias", false},
              {"attention_dropout", 0.0},
              {"pretraining_tp", 1},
              {"tie_word_embeddings", m.tie_embeddings}});
  }
  j.update({{"initializer_range", clean(m.init_std)},
            {"bos_token_id", eot},
            {"eos_token_id", eot},
            {"torch_dtype", "float32"},
            {"use_cache", true},
            {"tessera", tessera}});
  if (t.pad_id >= 0) j["pad_token_id"] = t.pad_id;
  return j;
}

namespace {
// A setting tessera cannot run, refused by name.
void refuse_unless(const JsonFields& f, bool ok, const char* key, const std::string& why) {
  if (!ok) TESSERA_RAISE("{}: {}: {} (tessera cannot run this model)", f.source(), key, why);
}
}  // namespace

ModelConfig parse_hf_config(const std::string& text, const std::string& source, std::string* tokenizer_name) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    TESSERA_RAISE("{}: not valid JSON ({})", source, e.what());
  }
  if (!j.is_object()) TESSERA_RAISE("{}: not a JSON object", source);
  const JsonFields f(j, source);
  const std::string type = f.string_or("model_type", "");
  ModelConfig m;
  constexpr int64_t kVocab = int64_t{1} << 24, kWidth = 1 << 16, kLayers = 4096, kHeads = 1024, kPositions = 1 << 20;
  if (type == "gpt2") {
    m.family = "gpt2";
    m.apply_family_defaults();
    m.vocab_size = static_cast<int>(f.integer("vocab_size", 1, kVocab));
    m.max_seq_len = static_cast<int>(f.integer("n_positions", 1, kPositions));
    m.d_model = static_cast<int>(f.integer("n_embd", 1, kWidth));
    m.n_layer = static_cast<int>(f.integer("n_layer", 1, kLayers));
    m.n_head = static_cast<int>(f.integer("n_head", 1, kHeads));
    m.n_kv_head = m.n_head;
    m.d_ff = static_cast<int>(f.integer_or("n_inner", 4 * int64_t{m.d_model}, 1, 4 * kWidth));
    const std::string act = f.string_or("activation_function", "gelu_new");
    refuse_unless(f, act == "gelu_new" || act == "gelu_pytorch_tanh", "activation_function",
                  fmt::format("\"{}\"; tessera's GELU is the tanh approximation (gelu_new)", act.substr(0, 32)));
    m.norm_eps = static_cast<float>(f.number_or("layer_norm_epsilon", 1e-5, 0, 1));
    refuse_unless(f, f.boolean_or("scale_attn_weights", true), "scale_attn_weights", "false");
    refuse_unless(f, !f.boolean_or("scale_attn_by_inverse_layer_idx", false), "scale_attn_by_inverse_layer_idx",
                  "true");
    refuse_unless(f, f.boolean_or("tie_word_embeddings", true), "tie_word_embeddings", "false (GPT-2 ties its head)");
  } else if (type == "llama") {
    m.family = "llama";
    m.apply_family_defaults();
    m.vocab_size = static_cast<int>(f.integer("vocab_size", 1, kVocab));
    m.d_model = static_cast<int>(f.integer("hidden_size", 1, kWidth));
    m.d_ff = static_cast<int>(f.integer("intermediate_size", 1, 4 * kWidth));
    m.n_layer = static_cast<int>(f.integer("num_hidden_layers", 1, kLayers));
    m.n_head = static_cast<int>(f.integer("num_attention_heads", 1, kHeads));
    m.n_kv_head = static_cast<int>(f.integer_or("num_key_value_heads", m.n_head, 1, m.n_head));
    m.max_seq_len = static_cast<int>(f.integer_or("max_position_embeddings", 2048, 1, kPositions));
    m.norm_eps = static_cast<float>(f.number_or("rms_norm_eps", 1e-6, 0, 1));
    m.rope_theta = static_cast<float>(f.number_or("rope_theta", 10000.0, 0, 1e12));
    const std::string act = f.string_or("hidden_act", "silu");
    refuse_unless(f, act == "silu", "hidden_act",
                  fmt::format("\"{}\"; tessera's SwiGLU gates with SiLU", act.substr(0, 32)));
    refuse_unless(f, !f.has("rope_scaling"), "rope_scaling", "set; tessera's RoPE has no scaling");
    refuse_unless(f, !f.boolean_or("attention_bias", false), "attention_bias", "true");
    refuse_unless(f, !f.boolean_or("mlp_bias", false), "mlp_bias", "true");
    refuse_unless(f, f.integer_or("pretraining_tp", 1, 1, 1024) == 1, "pretraining_tp", "not 1");
    if (f.has("head_dim"))
      refuse_unless(f, f.integer("head_dim", 1, kWidth) * m.n_head == m.d_model, "head_dim",
                    "not hidden_size / num_attention_heads");
    m.tie_embeddings = f.boolean_or("tie_word_embeddings", false);
  } else {
    TESSERA_RAISE("{}: model_type \"{}\": tessera reads \"gpt2\" (GPT2LMHeadModel) and \"llama\" (LlamaForCausalLM)",
                  source, type.substr(0, 32));
  }
  m.init_std = static_cast<float>(f.number_or("initializer_range", 0.02, 0, 10));
  if (j.contains("tessera") && j["tessera"].is_object()) {
    const JsonFields t(j["tessera"], source, "tessera");
    const std::string objective = t.string_or("objective", "clm");
    if (objective != "clm" && objective != "mlm")
      TESSERA_RAISE("{}: tessera.objective must be \"clm\" or \"mlm\"", source);
    m.objective = objective == "mlm" ? Objective::kMasked : Objective::kCausal;
    m.vocab_multiple = static_cast<int>(t.integer_or("vocab_multiple", 128, 1, 1 << 16));
    m.mask_token_id = static_cast<int>(t.integer_or("mask_token_id", -1, -1, m.vocab_size - 1));
    if (tokenizer_name != nullptr) *tokenizer_name = t.string_or("tokenizer", "");
  }
  if (int64_t{m.vocab_size} * m.d_model > (int64_t{1} << 36) ||
      int64_t{m.d_model} * m.d_ff * m.n_layer > (int64_t{1} << 40))
    TESSERA_RAISE("{}: vocab_size, width and layers describe a model too large to load", source);
  try {
    m.finalize();
  } catch (const Error& e) {
    TESSERA_RAISE("{}: {}", source, e.what());
  }
  return m;
}

}  // namespace tessera
