// Hugging Face's form of tessera's models: GPT2LMHeadModel for the GPT-2 family, LlamaForCausalLM for the LLaMA family.
// One table of tensor names and transforms serves export and import, so the two are inverses by construction.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor_table.hpp"
#include "io/token_dataset.hpp"
#include "model/model_config.hpp"

namespace tessera {

// How a Hugging Face tensor is made from the tessera tensor of the whole model (tp = 1):
//  kSame: as it is; kTranspose: a 2-D transpose (GPT-2's Conv1D weights are (in, out));
//  kRows: rows [first_row, first_row + rows) (a part of a fused q|k|v or gate|up weight; the vocabulary rows of an
//  embedding or head, without tessera's padding).
enum class HfOp { kSame, kTranspose, kRows };

struct HfTensor {
  std::string hf;       // e.g. "transformer.h.0.attn.c_attn.weight"
  std::string tessera;  // e.g. "layers.0.attn.qkv.weight"
  HfOp op = HfOp::kSame;
  int64_t first_row = 0, rows = 0;  // kRows
};

// "GPT2LMHeadModel" or "LlamaForCausalLM"; throws tessera::Error naming the [model] key that the class cannot
// express (a GPT-2 without biases, a LLaMA with learned positions, ...).
std::string hf_architecture(const ModelConfig& model);
// Every tensor of the class's state dict, in the class's order (the tied head left out, as transformers saves it).
std::vector<HfTensor> hf_tensors(const ModelConfig& model);
// The tensor's shape in Hugging Face's form.
Shape hf_shape(const HfTensor& t, const Shape& tessera_shape);
// out (cols, rows) = the transpose of in (rows, cols): kTranspose, both ways.
void transpose_2d(const float* in, int64_t rows, int64_t cols, float* out);

// config.json for the model (ids of the tokenizer's special tokens included), with a "tessera" object that keeps
// what transformers has no key for (objective, mask token, vocabulary padding, tokenizer).
nlohmann::json hf_config_json(const ModelConfig& model, const TokenizerInfo& tokenizer);
// A config.json (model_type "gpt2" or "llama") as a finalised ModelConfig. Every field's type and range is checked;
// settings tessera cannot run (another activation, rope_scaling, biases in LLaMA, ...) are refused by name. Throws
// tessera::Error naming `source` and the field. tokenizer_name: the "tessera" object's tokenizer ("" if none).
ModelConfig parse_hf_config(const std::string& text, const std::string& source, std::string* tokenizer_name = nullptr);

}  // namespace tessera
