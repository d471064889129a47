#include "io/checkpoint/reshard.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "core/readable.hpp"
#include "core/version.hpp"
#include "io/checkpoint/run_dir.hpp"
#include "io/progress.hpp"
#include "model/model_shard.hpp"
#include "model/transformer.hpp"

namespace tessera {
namespace fs = std::filesystem;

std::string reshard_checkpoint(const WeightSource& reader, const std::string& out_run, const ReshardOptions& o) {
  RunConfig config = reader.config();
  check_tp_divides_model(config.model, o.tp);
  const std::vector<int> layers = chunk_layers(config.model.n_layer, o.pp, 1, {});
  config.parallel.tp = o.tp;
  config.parallel.pp = o.pp;
  config.parallel.dp = 0;
  config.parallel.virtual_stages = 1;
  config.parallel.pp_layers.clear();

  CheckpointManifest m = reader.manifest();
  m.optimizer_state = m.optimizer_state && !o.weights_only;
  m.layout = {o.tp, o.pp, 1, 1, layers, false};
  m.files.clear();
  m.created = utc_timestamp();
  m.writer = fmt::format("tessera {} ({}), tessera convert", version(), git_commit());

  const std::string partial = begin_checkpoint(out_run, m.step, to_toml(config), reader.tokenizer());

  const int64_t total = reader.bytes();
  Progress progress("convert", total, o.progress);
  int64_t done = 0;
  try {
    for (int p = 0; p < o.pp; ++p)
      for (int t = 0; t < o.tp; ++t) {
        ModelShard shard = even_shard(t, o.tp, p, o.pp);
        shard.pp_layers = layers;
        const TensorTable table = Transformer<float>::plan_table(config.model, shard);
        const auto n = static_cast<size_t>(table.total());
        std::vector<float> params(n), mom, var;
        reader.read(StateKind::kParams, table, params.data());
        if (m.optimizer_state) {
          mom.resize(n);
          var.resize(n);
          reader.read(StateKind::kExpAvg, table, mom.data());
          reader.read(StateKind::kExpAvgSq, table, var.data());
        }
        const std::string name = shard_file_name(t, p);
        const int64_t bytes =
            write_model_shard((fs::path(partial) / name).string(), {t, o.tp, p, o.pp, 0, m.step}, table, params.data(),
                              m.optimizer_state ? mom.data() : nullptr, m.optimizer_state ? var.data() : nullptr);
        m.files.push_back({name, bytes});
        done += total / (int64_t{o.tp} * o.pp);
        progress.update(done, done, 0);
      }
  } catch (...) {
    fs::remove_all(partial);
    throw;
  }
  progress.finish(total, 0);
  return publish_checkpoint(out_run, partial, m, 0);
}

}  // namespace tessera
