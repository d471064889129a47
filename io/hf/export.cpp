#include "io/hf/export.hpp"

#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "io/checkpoint/run_dir.hpp"
#include "io/file_sync.hpp"
#include "io/hf/mapping.hpp"
#include "io/progress.hpp"
#include "io/safetensors.hpp"
#include "model/transformer.hpp"

namespace tessera {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
// tokenizer files in Hugging Face's names, and their configs
void write_tokenizer(const TokenizerInfo& t, const ModelConfig& m, const fs::path& out) {
  const auto files = tokenizer_files(t);
  auto special = [&](int64_t id) -> json { return id >= 0 ? json(id) : json(nullptr); };
  if (t.name == "gpt2") {
    fs::copy_file(files[0].first, out / "vocab.json");
    fs::copy_file(files[1].first, out / "merges.txt");
    json added = json::object();
    if (t.mask_id >= 0) added["<|mask|>"] = t.mask_id;
    if (t.pad_id >= 0) added["<|pad|>"] = t.pad_id;
    write_file_atomic((out / "added_tokens.json").string(), added.dump(2) + "\n");
    json special_map = {{"bos_token", "<|endoftext|>"}, {"eos_token", "<|endoftext|>"}, {"unk_token", "<|endoftext|>"}};
    if (t.mask_id >= 0) special_map["mask_token"] = "<|mask|>";
    if (t.pad_id >= 0) special_map["pad_token"] = "<|pad|>";
    write_file_atomic((out / "special_tokens_map.json").string(), special_map.dump(2) + "\n");
    json cfg = special_map;
    cfg["tokenizer_class"] = "GPT2Tokenizer";
    cfg["add_prefix_space"] = false;
    cfg["model_max_length"] = m.max_seq_len;
    write_file_atomic((out / "tokenizer_config.json").string(), cfg.dump(2) + "\n");
  } else if (t.name == "sentencepiece") {
    fs::copy_file(files[0].first, out / "tokenizer.model");
    json cfg = {{"tokenizer_class", "LlamaTokenizer"},
                {"add_bos_token", false},
                {"add_eos_token", false},
                {"model_max_length", m.max_seq_len},
                {"eot_id", special(t.eot_id)}};
    write_file_atomic((out / "tokenizer_config.json").string(), cfg.dump(2) + "\n");
  }
}
}  // namespace

std::string export_hf(const WeightSource& source, const std::string& out, const HfExportOptions& o) {
  const ModelConfig& m = source.config().model;
  const TokenizerInfo t = source.tokenizer();
  const std::string cls = hf_architecture(m);
  const TensorTable whole = Transformer<float>::plan_table(m);
  std::vector<float> flat(static_cast<size_t>(whole.total()));
  source.read(StateKind::kParams, whole, flat.data());

  // each Hugging Face tensor from the whole model's
  const std::vector<HfTensor> map = hf_tensors(m);
  std::vector<std::vector<float>> data(map.size());
  std::vector<SafetensorsTensor> tensors;
  for (size_t k = 0; k < map.size(); ++k) {
    const HfTensor& h = map[k];
    const TensorInfo& info = whole[whole.find(h.tessera)];
    const float* src = flat.data() + info.offset;
    const Shape shape = hf_shape(h, info.shape);
    std::vector<float>& d = data[k];
    if (h.op == HfOp::kTranspose) {  // tessera (out, in) -> hf (in, out)
      d.resize(static_cast<size_t>(info.numel));
      transpose_2d(src, info.shape[0], info.shape[1], d.data());
    } else {
      const int64_t row = info.shape.size() > 1 ? info.numel / info.shape[0] : 1;
      const int64_t first = h.op == HfOp::kRows ? h.first_row * row : 0;
      d.assign(src + first, src + first + numel(shape));
    }
    tensors.push_back({h.hf, shape, d.data()});
  }

  const fs::path target(out);
  const fs::path tmp = target.parent_path() / fmt::format(".{}.partial-{}", target.filename().string(), getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    // one file, or shards of at most max_shard_bytes with an index
    std::vector<std::vector<SafetensorsTensor>> shards(1);
    int64_t in_shard = 0, total = 0;
    for (const SafetensorsTensor& s : tensors) {
      const int64_t bytes = numel(s.shape) * 4;
      if (in_shard > 0 && in_shard + bytes > o.max_shard_bytes) {
        shards.emplace_back();
        in_shard = 0;
      }
      shards.back().push_back(s);
      in_shard += bytes;
      total += bytes;
    }
    Progress progress("export", total, o.progress);
    int64_t done = 0;
    const std::map<std::string, std::string> meta = {{"format", "pt"}};
    if (shards.size() == 1) {
      write_safetensors((tmp / "model.safetensors").string(), shards[0], meta);
    } else {
      json index = {{"metadata", {{"total_size", total}}}, {"weight_map", json::object()}};
      for (size_t i = 0; i < shards.size(); ++i) {
        const std::string name = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
        write_safetensors((tmp / name).string(), shards[i], meta);
        for (const SafetensorsTensor& s : shards[i]) {
          index["weight_map"][s.name] = name;
          done += numel(s.shape) * 4;
        }
        progress.update(done, done, 0);
      }
      write_file_atomic((tmp / "model.safetensors.index.json").string(), index.dump(2) + "\n");
    }
    progress.finish(total, 0);
    write_file_atomic((tmp / "config.json").string(), hf_config_json(m, t).dump(2) + "\n");
    json gen = {{"_from_model_config", true}, {"bos_token_id", t.eot_id}, {"eos_token_id", t.eot_id}};
    if (t.pad_id >= 0) gen["pad_token_id"] = t.pad_id;
    write_file_atomic((tmp / "generation_config.json").string(), gen.dump(2) + "\n");
    write_tokenizer(t, m, tmp);
    if (fs::exists(target)) fs::remove_all(target);  // empty, or --force
    fs::rename(tmp, target);
  } catch (...) {
    fs::remove_all(tmp);
    throw;
  }
  std::string notes;
  if (m.objective == Objective::kMasked)
    notes += fmt::format(
        "note: this model was trained as a masked LM (bidirectional attention; mask token {}): {} loads its weights "
        "but "
        "attends causally; no transformers class runs a bidirectional {} (BERT-style classes such as "
        "BertForMaskedLM have another architecture)\n",
        m.mask_token_id, cls, m.family == "gpt2" ? "GPT-2" : "LLaMA");
  if (t.name == "byte")
    notes +=
        "note: tessera's byte tokenizer has no transformers class: the export holds no tokenizer files (ids "
        "0-255 are the bytes, then end-of-text, mask and pad)\n";
  return notes;
}

}  // namespace tessera
