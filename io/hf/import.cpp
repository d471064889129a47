#include "io/hf/import.hpp"

#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "io/checkpoint/run_dir.hpp"
#include "io/read_file.hpp"
#include "io/tokenizer.hpp"
#include "model/transformer.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {

// The safetensors files of a model directory: model.safetensors, or the shards its index names.
std::vector<std::string> weight_files(const fs::path& dir) {
  if (fs::exists(dir / "model.safetensors")) return {(dir / "model.safetensors").string()};
  const fs::path index = dir / "model.safetensors.index.json";
  const nlohmann::json j =
      nlohmann::json::parse(read_small_file(index.string(), int64_t{64} << 20, "safetensors index"), nullptr, false);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    TESSERA_RAISE("{}: not a safetensors index (no weight_map object)", index.string());
  std::set<std::string> names;
  for (const auto& [tensor, file] : j["weight_map"].items()) {
    const std::string name = file.is_string() ? file.get<std::string>() : "";
    if (name.empty() || name.find('/') != std::string::npos || name == ".." || name == ".")
      TESSERA_RAISE("{}: weight_map names {} for {}, not a file name in the directory", index.string(), file.dump(),
                    tensor);
    names.insert(name);
  }
  std::vector<std::string> out;
  out.reserve(names.size());
  for (const std::string& n : names) out.push_back((dir / n).string());
  return out;
}

// Buffers the transformers versions keep in their state dicts, which hold no weights.
bool is_buffer(const std::string& name) {
  return name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") || name.ends_with("rotary_emb.inv_freq");
}
}  // namespace

bool is_hf_dir(const std::string& dir) {
  std::error_code ec;
  const fs::path d(dir);
  return fs::is_regular_file(d / "config.json", ec) &&
         (fs::exists(d / "model.safetensors", ec) || fs::exists(d / "model.safetensors.index.json", ec));
}

HfCheckpoint::HfCheckpoint(const std::string& dir) : dir_(fs::absolute(dir).lexically_normal().string()) {
  const fs::path d(dir_);
  const std::string config_path = (d / "config.json").string();
  std::string tokenizer_name;
  config_.model =
      parse_hf_config(read_small_file(config_path, int64_t{1} << 20, "config.json"), config_path, &tokenizer_name);
  config_.source = config_path;
  ModelConfig& m = config_.model;
  hf_vocab_ = m.vocab_size;

  // the tokenizer: its files where they lie
  std::unique_ptr<Tokenizer> tok;
  if (fs::exists(d / "vocab.json") && fs::exists(d / "merges.txt")) {
    tok = make_tokenizer("gpt2", dir_);
  } else if (fs::exists(d / "tokenizer.model")) {
    tok = make_tokenizer("sentencepiece", (d / "tokenizer.model").string());
  } else if (tokenizer_name == "byte") {
    tok = make_tokenizer("byte", "");
  } else {
    TESSERA_RAISE("{}: no tokenizer files (vocab.json and merges.txt, or tokenizer.model)", dir_);
  }
  tokenizer_ = {tok->name(),   tok->hash(),    tok->files(), tok->vocab_size(), tok->regular_vocab_size(),
                tok->eot_id(), tok->mask_id(), tok->pad_id()};
  if (tokenizer_.vocab_size > m.vocab_size) {  // tessera's tokenizers add <|mask|> and <|pad|>: zero rows for them
    note_ =
        fmt::format("the tokenizer has {} tokens, the model's embedding {} rows: the embedding grows by {} zero rows",
                    tokenizer_.vocab_size, m.vocab_size, tokenizer_.vocab_size - m.vocab_size);
    m.vocab_size = static_cast<int>(tokenizer_.vocab_size);
  }
  if (m.objective == Objective::kMasked && m.mask_token_id < 0) m.mask_token_id = static_cast<int>(tokenizer_.mask_id);
  hf_architecture(m);

  // the weights: every tensor of the class, at its shape
  for (const std::string& file : weight_files(d)) {
    files_.push_back(std::make_unique<SafetensorsReader>(file));
    bytes_ += static_cast<int64_t>(fs::file_size(file));
    for (const SafetensorsEntry& e : files_.back()->header().tensors) tensors_[e.name] = {files_.back().get(), &e};
  }
  ModelConfig shapes = m;
  shapes.vocab_size = static_cast<int>(hf_vocab_);
  map_ = hf_tensors(shapes);
  const TensorTable whole = Transformer<float>::plan_table(shapes);
  std::set<std::string> used;
  for (const HfTensor& t : map_) {
    const auto it = tensors_.find(t.hf);
    if (it == tensors_.end()) TESSERA_RAISE("{}: tensor {} is missing", dir_, t.hf);
    const TensorInfo& tensor = whole[whole.find(t.tessera)];
    Shape global = tensor.global_shape;
    if (tensor.kind.vocab_rows) global[0] = hf_vocab_;
    const Shape want = hf_shape(t, global);
    if (it->second.second->shape != want)
      TESSERA_RAISE("{}: tensor {} has shape {}, config.json implies {}", it->second.first->path(), t.hf,
                    shape_string(it->second.second->shape), shape_string(want));
    used.insert(t.hf);
  }
  for (const auto& [name, where] : tensors_) {
    if (used.contains(name) || is_buffer(name)) continue;
    if (name == "lm_head.weight" && m.tie_embeddings) continue;  // a tied head saved anyway
    TESSERA_RAISE("{}: tensor {} is not part of a {} of this config", where.first->path(), name, hf_architecture(m));
  }

  manifest_.tokenizer = tokenizer_;
  manifest_.tokenizer.files.clear();
  manifest_.optimizer_state = false;
  manifest_.layout.chunk_layers = {m.n_layer};
  manifest_.writer = "Hugging Face transformers (imported)";
  for (const auto& file : tokenizer_files(tokenizer_)) manifest_.tokenizer_files.push_back(file.second);
  manifest_.data.tokenizer_hash = tokenizer_.hash;
}

HfCheckpoint::~HfCheckpoint() = default;

void HfCheckpoint::read(StateKind kind, const TensorTable& table, float* flat) const {
  if (kind != StateKind::kParams)
    TESSERA_RAISE("{}: a Hugging Face model holds no optimizer state (the run starts AdamW afresh)", dir_);
  const ModelConfig& m = config_.model;
  const TensorTable whole_table = Transformer<float>::plan_table(m);
  std::vector<float> whole, hf;
  for (const TensorInfo& info : table.entries()) {
    const int w = whole_table.find(info.name);
    if (w < 0) TESSERA_RAISE("{}: the model has no tensor {}", dir_, info.name);
    Shape global = whole_table[w].global_shape;
    if (whole_table[w].kind.vocab_rows)
      global[0] = m.vocab_size;  // without tessera's padding (rows past hf_vocab_ stay zero)
    whole.assign(static_cast<size_t>(numel(global)), 0.0F);
    const int64_t cols = global.size() > 1 ? numel(global) / global[0] : 1;
    bool found = false;
    for (const HfTensor& t : map_) {
      if (t.tessera != info.name) continue;
      found = true;
      const auto& [file, entry] = tensors_.at(t.hf);
      hf.resize(static_cast<size_t>(numel(entry->shape)));
      file->read(*entry, hf.data());
      if (t.op == HfOp::kTranspose) {  // hf (in, out) -> tessera (out, in)
        transpose_2d(hf.data(), entry->shape[0], entry->shape[1], whole.data());
      } else {
        std::copy(hf.begin(), hf.end(), whole.begin() + t.first_row * cols);
      }
    }
    if (!found) TESSERA_RAISE("{}: no Hugging Face tensor maps to {}", dir_, info.name);
    copy_to_shard(info, whole.data(), info.tp_duplicated() ? info.shape : global, flat + info.offset);
  }
}

}  // namespace tessera
