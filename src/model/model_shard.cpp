#include "model/model_shard.hpp"

#include <algorithm>
#include <numeric>

#include "core/check.hpp"

namespace tessera {

Recompute recompute_from_name(std::string_view name) {
  if (name == "none") return Recompute::kNone;
  if (name == "selective") return Recompute::kSelective;
  if (name == "full") return Recompute::kFull;
  TESSERA_RAISE("train.recompute = \"{}\": use \"none\", \"selective\" or \"full\"", name);
}

Attention attention_from_name(std::string_view name) {
  if (name == "materialized") return Attention::kMaterialized;
  if (name == "flash") return Attention::kFlash;
  if (name == "cudnn") return Attention::kCudnn;
  TESSERA_RAISE("train.attention = \"{}\": use \"flash\", \"materialized\" or \"cudnn\"", name);
}

DType dtype_from_name(std::string_view name) {
  if (name == "fp32") return DType::kFp32;
  if (name == "bf16") return DType::kBf16;
  TESSERA_RAISE("train.dtype = \"{}\": use \"fp32\" or \"bf16\"", name);
}

void check_tp_divides_model(const ModelConfig& m, int tp) {
  auto divides = [tp](int value, const char* key, const char* why) {
    if (value % tp != 0) TESSERA_RAISE("parallel.tp = {} does not divide {} = {} ({})", tp, key, value, why);
  };
  divides(m.n_head, "model.n_head", "each tensor-parallel rank holds n_head / tp attention heads");
  divides(m.n_kv_head, "model.n_kv_head", "each tensor-parallel rank holds n_kv_head / tp key/value heads");
  divides(m.d_ff, "model.d_ff", "each tensor-parallel rank holds d_ff / tp columns of the MLP");
}

std::vector<int> chunk_layers(int n_layer, int pp, int virtual_stages, const std::vector<int>& pp_layers) {
  const int chunks = pp * virtual_stages;
  if (!pp_layers.empty()) {
    if (static_cast<int>(pp_layers.size()) != chunks)
      TESSERA_RAISE("parallel.pp_layers lists {} stages; parallel.pp * parallel.virtual_stages = {} * {} = {}",
                    pp_layers.size(), pp, virtual_stages, chunks);
    if (std::any_of(pp_layers.begin(), pp_layers.end(), [](int n) { return n < 1; }))
      TESSERA_RAISE("parallel.pp_layers: every stage needs at least one layer");
    const int sum = std::accumulate(pp_layers.begin(), pp_layers.end(), 0);
    if (sum != n_layer) TESSERA_RAISE("parallel.pp_layers adds up to {} layers; model.n_layer = {}", sum, n_layer);
    return pp_layers;
  }
  if (n_layer % chunks != 0)
    TESSERA_RAISE(
        "model.n_layer = {} does not divide into parallel.pp * parallel.virtual_stages = {} equal stages (set "
        "parallel.pp_layers for an uneven split)",
        n_layer, chunks);
  return std::vector<int>(static_cast<size_t>(chunks), n_layer / chunks);
}

std::vector<ChunkRange> rank_chunks(const ModelConfig& m, const ModelShard& shard) {
  TESSERA_CHECK(shard.pp >= 1 && shard.pp_rank >= 0 && shard.pp_rank < shard.pp && shard.virtual_stages >= 1,
                "pipeline rank {} of {} with {} virtual stages", shard.pp_rank, shard.pp, shard.virtual_stages);
  const std::vector<int> layers = chunk_layers(m.n_layer, shard.pp, shard.virtual_stages, shard.pp_layers);
  std::vector<int> first(layers.size(), 0);
  std::partial_sum(layers.begin(), layers.end() - 1, first.begin() + 1);
  std::vector<ChunkRange> out;
  for (int c = 0; c < shard.virtual_stages; ++c) {
    const int k = c * shard.pp + shard.pp_rank;
    const auto i = static_cast<size_t>(k);
    out.push_back({k, first[i], layers[i], k == 0, k == shard.chunks() - 1});
  }
  return out;
}

LocalDims local_dims(const ModelConfig& m, const ModelShard& shard) {
  const int tp = shard.tp;
  TESSERA_CHECK(tp >= 1 && shard.tp_rank >= 0 && shard.tp_rank < tp, "tensor-parallel rank {} of {}", shard.tp_rank,
                tp);
  LocalDims d;
  d.C = m.d_model;
  d.NH = static_cast<int>(divide(m.n_head, tp, "model.n_head over parallel.tp"));
  d.NKV = static_cast<int>(divide(m.n_kv_head, tp, "model.n_kv_head over parallel.tp"));
  d.HS = m.head_size();
  d.attn_out = d.NH * d.HS;
  d.QKV = (d.NH + 2 * d.NKV) * d.HS;
  d.F = static_cast<int>(divide(m.d_ff, tp, "model.d_ff over parallel.tp"));
  d.fc_out = m.activation == Activation::kSwiGLU ? 2 * d.F : d.F;
  d.Vp = m.padded_vocab(tp) / tp;
  d.v0 = shard.tp_rank * d.Vp;
  d.Vn = std::clamp(m.vocab_size - d.v0, 0, d.Vp);
  return d;
}

}  // namespace tessera
