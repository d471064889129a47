// tessera info: what a dataset or a model file holds.
#include <algorithm>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/model_loader.hpp"
#include "core/check.hpp"
#include "core/peak_flops.hpp"
#include "io/hdf5_file.hpp"
#include "io/token_dataset.hpp"
#include "train/run_plan.hpp"

namespace tessera::cli {

namespace {
struct InfoFlags {
  std::string data, model;
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
      "Describe a dataset (--data), a model (--model) or this machine's peak FLOP/s, the MFU denominator (--peak)");
  cmd->add_option("--data", f->data, "Dataset directory");
  cmd->add_option("--model", f->model, "Model file or checkpoint directory: config, step and every tensor's shape");
  cmd->add_flag("--peak", f->peak, "This machine's sgemm peak with all its cores (cached; measured on first use)");
  cmd->add_flag("--refresh", f->refresh, "With --peak: measure again and update the cache");
  cmd->callback([f, &mpi] {
    if (mpi.rank() != 0) return;
    if (f->data.empty() && f->model.empty() && !f->peak) TESSERA_RAISE("info: give --data DIR, --model PATH or --peak");
    if (!f->data.empty()) print_dataset(f->data);
    if (!f->model.empty()) print_model(f->model);
    if (f->peak) print_peak(f->refresh);
  });
}

}  // namespace tessera::cli
