#include "cli/model_loader.hpp"

#include <filesystem>

#include "core/check.hpp"
#include "core/memory.hpp"
#include "train/gather_model.hpp"
#include "train/run_plan.hpp"

namespace tessera::cli {

LoadedModel inspect_trained_model(const std::string& path, int max_batch, const ModelShard& layout) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "model.h5").string();
  LoadedModel out;
  out.file = file;
  out.max_batch = max_batch;
  out.meta = read_model_meta(file);
  out.config = parse_run_config(out.meta.config_toml, file + " (stored config)", {});
  // a damaged or hostile config must not size an allocation this machine cannot make
  check_layout_fits_model(out.config.model, {layout.tp, layout.pp, 1});
  out.config.model.finalize();
  chunk_layers(out.config.model.n_layer, layout.pp, 1, {});  // the layers split evenly into the stages
  // the whole model (read from the file) and the largest shard of it (pipeline rank 0: the embedding)
  const ModelSizes whole = Transformer<float>::sizes(out.config.model, max_batch);
  const ModelSizes sizes = Transformer<float>::sizes(out.config.model, max_batch, 0, layout);
  const bool sharded = layout.tp * layout.pp > 1;
  const int64_t bytes = (sizes.flat_elements * 2 + sizes.activation_elements + (sharded ? whole.flat_elements : 0)) *
                        static_cast<int64_t>(sizeof(float));
  if (const int64_t machine = physical_memory_bytes(); machine > 0 && bytes > machine)
    TESSERA_RAISE(
        "{}: its stored config (model.vocab_size = {}, model.max_seq_len = {}, model.d_model = {}, "
        "model.n_layer = {}) needs {} to load, more than this machine's {}",
        file, out.config.model.vocab_size, out.config.model.max_seq_len, out.config.model.d_model,
        out.config.model.n_layer, bytes_string(bytes), bytes_string(machine));
  return out;
}

void load_weights(LoadedModel& lm, const Communicator* tp, const ModelShard& shard) {
  lm.model = std::make_unique<Transformer<float>>(lm.config.model, lm.max_batch, 0, tp, shard);
  if ((tp == nullptr || tp->size() == 1) && shard.pp == 1) {
    load_model(lm.file, lm.model->table(), lm.model->params());
    return;
  }
  const TensorTable whole_table = Transformer<float>::plan_table(lm.config.model);
  std::vector<float> params(static_cast<size_t>(whole_table.total()));
  load_model(lm.file, whole_table, params.data());
  scatter_model(params, whole_table, *lm.model);
}

LoadedModel load_trained_model(const std::string& path, int max_batch, const Communicator* tp) {
  LoadedModel lm = inspect_trained_model(path, max_batch, even_shard(0, tp != nullptr ? tp->size() : 1));
  load_weights(lm, tp);
  return lm;
}

std::unique_ptr<Tokenizer> load_model_tokenizer(const ModelFileMeta& meta, const std::string& files_override) {
  std::unique_ptr<Tokenizer> tok =
      make_tokenizer(meta.tokenizer.name, files_override.empty() ? meta.tokenizer.files : files_override);
  if (tok->hash() != meta.tokenizer.hash)
    TESSERA_RAISE("tokenizer {}: its files hash to {}, but the model was trained with {} (pass --tokenizer-files)",
                  meta.tokenizer.name, tok->hash(), meta.tokenizer.hash);
  return tok;
}

}  // namespace tessera::cli
