#include "cli/model_loader.hpp"

#include <vector>

#include "core/check.hpp"
#include "core/memory.hpp"
#include "core/readable.hpp"
#include "train/run_plan.hpp"

namespace tessera::cli {

LoadedModel inspect_trained_model(const std::string& path, int max_batch, const ModelShard& layout) {
  LoadedModel out;
  out.reader = open_weights(path);
  out.dir = out.reader->dir();
  out.max_batch = max_batch;
  out.config = out.reader->config();
  out.step = out.reader->manifest().step;
  out.consumed_samples = out.reader->manifest().consumed_samples;
  out.tokenizer = out.reader->tokenizer();
  check_tp_divides_model(out.config.model, layout.tp);
  chunk_layers(out.config.model.n_layer, layout.pp, 1, {});  // the layers split evenly into the stages
  // the largest shard (pipeline rank 0: the embedding), its weights and activations, and one global tensor in flight
  const ModelSizes sizes = Transformer<float>::sizes(out.config.model, max_batch, 0, layout);
  const int64_t bytes = (sizes.flat_elements * 2 + sizes.activation_elements) * static_cast<int64_t>(sizeof(float));
  if (const int64_t machine = physical_memory_bytes(); machine > 0 && bytes > machine)
    TESSERA_RAISE(
        "{}: its stored config (model.vocab_size = {}, model.max_seq_len = {}, model.d_model = {}, "
        "model.n_layer = {}) needs {} to load, more than this machine's {}",
        out.dir, out.config.model.vocab_size, out.config.model.max_seq_len, out.config.model.d_model,
        out.config.model.n_layer, bytes_string(bytes), bytes_string(machine));
  return out;
}

void load_weights(LoadedModel& lm, const Communicator* tp, const ModelShard& shard) {
  lm.model = std::make_unique<Transformer<float>>(lm.config.model, lm.max_batch, 0, tp, shard, lm.backend.get());
  Transformer<float>& model = *lm.model;
  if (model.backend().device() == Device::kCpu) {
    lm.reader->read(StateKind::kParams, model.table(), model.params());
    return;
  }
  std::vector<float> host(static_cast<size_t>(model.table().total()));
  lm.reader->read(StateKind::kParams, model.table(), host.data());
  model.backend().upload(model.params(), host.data(), model.table().total() * static_cast<int64_t>(sizeof(float)));
}

LoadedModel load_trained_model(const std::string& path, int max_batch, const Communicator* tp) {
  LoadedModel lm = inspect_trained_model(path, max_batch, even_shard(0, tp != nullptr ? tp->size() : 1));
  load_weights(lm, tp, even_shard(tp != nullptr ? tp->rank() : 0, tp != nullptr ? tp->size() : 1));
  return lm;
}

std::unique_ptr<Tokenizer> load_model_tokenizer(const TokenizerInfo& info, const std::string& files_override) {
  std::unique_ptr<Tokenizer> tok = make_tokenizer(info.name, files_override.empty() ? info.files : files_override);
  if (tok->hash() != info.hash)
    TESSERA_RAISE("tokenizer {}: its files hash to {}, but the model was trained with {} (pass --tokenizer-files)",
                  info.name, tok->hash(), info.hash);
  return tok;
}

}  // namespace tessera::cli
