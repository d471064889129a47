// tessera info: what a dataset, a model or a checkpoint holds, or this machine's peak FLOP/s.
#include <algorithm>
#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "cli/model_loader.hpp"
#include "core/check.hpp"
#include "core/peak_flops.hpp"
#include "core/readable.hpp"
#include "io/checkpoint/reader.hpp"
#include "io/checkpoint/shard_file.hpp"
#include "io/hdf5_file.hpp"
#include "io/token_dataset.hpp"
#include "train/run_plan.hpp"

namespace tessera::cli {

namespace {
struct InfoFlags {
  std::string data, model, checkpoint;
  bool peak = false, refresh = false;
};

void print_dataset(const std::string& dir) {
  bool any = false;
  for (const char* split : {"train", "val"}) {
    if (shard_paths(dir, split).empty()) continue;
    const TokenDataset d(dir, split);
    if (!any) {
      const TokenizerInfo& t = d.tokenizer();
      fmt::print("dataset {}\n  tokenizer {} (hash {}), vocabulary {} ({} regular), end-of-text {}, mask {}, pad {}\n",
                 dir, t.name, t.hash.empty() ? "-" : t.hash, t.vocab_size, t.regular_vocab_size, t.eot_id, t.mask_id,
                 t.pad_id);
      if (!t.files.empty()) fmt::print("  tokenizer files {}\n", t.files);
      const h5::File first(d.path(0), h5::Mode::kRead);
      const std::string sources = first.attr_string("/", "sources");  // the first of them (all, if few)
      const int64_t n_sources = first.has_attr("/", "num_sources")
                                    ? first.attr_int("/", "num_sources")
                                    : 1 + std::count(sources.begin(), sources.end(), '\n');
      fmt::print("  sources: {}, the first {}\n", plural(n_sources, "file", "files"),
                 sources.substr(0, sources.find('\n')));
      any = true;
    }
    int64_t bytes = 0;
    for (int s = 0; s < d.shards(); ++s) bytes += static_cast<int64_t>(std::filesystem::file_size(d.path(s)));
    fmt::print("  {:5}: {}, {}, {}, {:.1f} MB on disk\n", split, plural(d.documents(), "document", "documents"),
               plural(d.tokens(), "token", "tokens"), plural(d.shards(), "shard", "shards"),
               static_cast<double>(bytes) / 1e6);
  }
  if (!any) TESSERA_RAISE("{}: holds no train or val shards", dir);
}
void print_model(const std::string& path) {
  LoadedModel lm = load_trained_model(path, 1);
  const ModelConfig& m = lm.config.model;
  fmt::print("model {}: step {}, {} consumed samples, tokenizer {}\n", path, lm.step, lm.consumed_samples,
             lm.tokenizer.name);
  fmt::print("  {} {} | {} parameters | {} layers, d_model {}, {} heads ({} kv), d_ff {}, context {}\n", m.family,
             to_string(m.objective), lm.model->table().count(), m.n_layer, m.d_model, m.n_head, m.n_kv_head, m.d_ff,
             m.max_seq_len);
  fmt::print("\n# resolved config the model was trained with\n{}\n", to_toml(lm.config));
  fmt::print("# tensors\n");
  for (const TensorInfo& t : lm.model->table().entries()) fmt::print("  {:40} {}\n", t.name, shape_string(t.shape));
}

// What a checkpoint holds, and whether every tensor's checksum holds (an error, exit 1, if one does not).
void print_checkpoint(const std::string& path) {
  const CheckpointReader reader(path);
  const CheckpointManifest& m = reader.manifest();
  const CheckpointLayout& l = m.layout;
  fmt::print("checkpoint {}\n  step {} | {} consumed ({} tokens) | saved {} by {}\n", reader.dir(), m.step,
             plural(m.consumed_samples, "sample", "samples"), m.tokens, m.created, m.writer);
  fmt::print("  layout: tp {}, pp {}, dp {}{}{} | layers per chunk {}\n", l.tp, l.pp, l.dp,
             l.virtual_stages > 1 ? fmt::format(", {} virtual stages", l.virtual_stages) : "",
             l.zero1 ? ", ZeRO-1 (moments in optim-* files)" : "", fmt::join(l.chunk_layers, ", "));
  fmt::print("  optimizer: AdamW, {}{}\n", plural(m.optimizer_steps, "step", "steps"),
             m.optimizer_state ? ", moments stored" : ", no state stored (weights only)");
  const TokenizerInfo t = reader.tokenizer();
  fmt::print("  tokenizer {} (hash {}), vocabulary {}, end-of-text {}, mask {}, pad {}; files: {}\n", t.name,
             t.hash.empty() ? "-" : t.hash, t.vocab_size, t.eot_id, t.mask_id, t.pad_id,
             m.tokenizer_files.empty() ? "none needed" : fmt::format("{}", fmt::join(m.tokenizer_files, ", ")));
  fmt::print("  data: {} training tokens, {} documents\n", m.data.train_tokens, m.data.train_documents);
  fmt::print("\n# resolved config\n{}\n", to_toml(reader.config()));
  fmt::print("# tensors (global shapes)\n");
  int64_t elements = 0;
  for (const auto& [info, stage] : reader.tensors()) {
    elements += numel(info.global_shape);
    fmt::print("  {:40} {:16} {}\n", info.name, shape_string(info.global_shape),
               info.tp_duplicated() ? fmt::format("whole on every tp rank, stage {}", stage)
                                    : fmt::format("split along dim {} over tp, stage {}", info.split_dim, stage));
  }
  fmt::print("\n# files\n");
  int64_t datasets = 0, bad = 0;
  std::string first_bad;
  for (const CheckpointFile& f : m.files) {
    const ShardFileReader file((std::filesystem::path(reader.dir()) / f.name).string());
    int64_t file_bad = 0;
    const auto entries = file.verify();
    for (const auto& e : entries) {
      if (e.checksum_ok) continue;
      ++file_bad;
      fmt::print("  {}: {} FAILS its checksum\n", f.name, e.dataset);
      if (first_bad.empty()) first_bad = fmt::format("{} in {}", e.dataset, f.name);
    }
    datasets += static_cast<int64_t>(entries.size());
    bad += file_bad;
    fmt::print("  {:28} {:>10} | {} | checksums {}\n", f.name, bytes_string(f.bytes),
               plural(static_cast<int64_t>(entries.size()), "dataset", "datasets"), file_bad == 0 ? "ok" : "FAILED");
  }
  fmt::print("size on disk {} | tensor data {} ({} weights{})\n", bytes_string(reader.bytes()),
             bytes_string(elements * 4 * (m.optimizer_state ? 3 : 1)), elements,
             m.optimizer_state ? " and AdamW's two moments of each, float32" : ", float32");
  if (bad > 0)
    TESSERA_RAISE("{}: {} of {} stored tensors fail their checksum (the first: tensor {})", reader.dir(), bad, datasets,
                  first_bad);
  fmt::print("checksums: all {} stored tensors ok\n", datasets);
}

void print_peak(bool refresh) {
  const PeakFlops p = machine_peak_flops(0, refresh);  // all the cores
  fmt::print("peak {:.1f} GFLOP/s ({}; {} {})\n  cache {}\n", p.flops / 1e9, p.key,
             p.from_cache ? "cached, measured" : "measured", p.measured_at, peak_cache_path());
}
}  // namespace

void add_info(CLI::App& app, const MpiRuntime& mpi) {
  auto f = std::make_shared<InfoFlags>();
  CLI::App* cmd = app.add_subcommand(
      "info",
      "Describe a dataset (--data), a model (--model), a checkpoint (--checkpoint) or this machine's peak FLOP/s, the "
      "MFU denominator (--peak)");
  cmd->add_option("--data", f->data, "Dataset directory");
  cmd->add_option("--model", f->model, "Run or checkpoint directory: config, step and every tensor's shape");
  cmd->add_option("--checkpoint", f->checkpoint,
                  "Run or checkpoint directory: step, layout, config, tokenizer, tensors with global shapes, size on "
                  "disk; verifies every checksum");
  cmd->add_flag("--peak", f->peak, "This machine's sgemm peak with all its cores (cached; measured on first use)");
  cmd->add_flag("--refresh", f->refresh, "With --peak: measure again and update the cache");
  cmd->callback([f, &mpi] {
    if (mpi.rank() != 0) return;
    if (f->data.empty() && f->model.empty() && f->checkpoint.empty() && !f->peak)
      TESSERA_RAISE("info: give --data DIR, --model PATH, --checkpoint PATH or --peak");
    if (!f->data.empty()) print_dataset(f->data);
    if (!f->model.empty()) print_model(f->model);
    if (!f->checkpoint.empty()) print_checkpoint(f->checkpoint);
    if (f->peak) print_peak(f->refresh);
  });
}

}  // namespace tessera::cli
