// The transformer's construction: the parameter table of a rank's shard, the activation plan, initialisation, and
// the whole-model calls (forward, backward) of a rank that holds every layer. The layers and chunks run in
// transformer_chunks.cpp.
#include "model/transformer.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "core/check.hpp"
#include "model/init_params.hpp"
#include "ops/ops.hpp"

namespace tessera {

// Where the table put each tensor (indices, -1 where the architecture or this rank has none).
template <typename T>
struct Transformer<T>::Plan {
  int wte = -1, wpe = -1, lnf_w = -1, lnf_b = -1, head = -1;
  std::vector<LayerIndex> layers;  // by layer of the whole model
};

namespace {

// The backend's ops for T: float on any backend; double (the finite-difference tests) on the CPU only.
template <typename T>
const ops::OpTable<T>* op_table(Backend& backend) {
  if constexpr (std::is_same_v<T, float>) {
    return &backend.ops();
  } else {
    TESSERA_CHECK(backend.device() == Device::kCpu, "a double-precision model runs on the CPU backend only");
    return &ops::cpu::table<T>();
  }
}

}  // namespace

template <typename T>
Transformer<T>::Transformer(const ModelConfig& config, int max_batch, int max_seq, const Communicator* tp,
                            ModelShard shard, Backend* backend)
    : config_(config),
      backend_(backend != nullptr ? backend : &cpu_backend()),
      ops_(op_table<T>(*backend_)),
      tp_(tp != nullptr ? tp : &self_),
      shard_(std::move(shard)),
      max_batch_(max_batch),
      max_seq_(max_seq == 0 ? config.max_seq_len : max_seq) {
  TESSERA_CHECK(max_batch > 0, "max_batch {}", max_batch);
  config_.finalize();
  TESSERA_CHECK(max_seq_ > 0 && max_seq_ <= config_.max_seq_len, "max_seq {} outside (0, {}]", max_seq_,
                config_.max_seq_len);
  shard_.tp_rank = tp_->rank();
  shard_.tp = tp_->size();
  sp_ = shard_.seq_split() > 1;
  dims_ = local_dims(config_, shard_);
  chunks_ = rank_chunks(config_, shard_);
  if (shard_.slots.empty()) shard_.slots.assign(chunks_.size(), 1);
  TESSERA_CHECK(shard_.slots.size() == chunks_.size(), "{} slot counts for {} chunks", shard_.slots.size(),
                chunks_.size());
  Plan plan;
  table_ = plan_params(config_, shard_, &plan);
  wte_ = plan.wte;
  wpe_ = plan.wpe;
  lnf_w_ = plan.lnf_w;
  lnf_b_ = plan.lnf_b;
  head_ = plan.head;
  layer_index_ = std::move(plan.layers);
  params_ = DeviceBuffer<T>(*backend_, table_.total());
  grads_ = DeviceBuffer<T>(*backend_, table_.total());
  params_.zero();
  grads_.zero();
  if (shard_.dtype == DType::kBf16) {
    TESSERA_CHECK((std::is_same_v<T, float>), "train.dtype = \"bf16\" needs a float model (fp32 master weights)");
    params_bf16_ = DeviceBuffer<uint16_t>(*backend_, table_.total());
  }
  TESSERA_CHECK((shard_.attention != Attention::kCudnn || std::is_same_v<T, float>),
                "train.attention = \"cudnn\" (bf16 operands) needs a float model");
  plan_activations();
}

namespace {
// 6 N + 12 L C T (N: the whole model's weights that take part in a matrix multiply).
double model_flops_per_token(const ModelConfig& m, int64_t matmul_parameters, int Tn) {
  return 6.0 * static_cast<double>(matmul_parameters) +
         12.0 * m.n_layer * static_cast<double>(m.d_model) * static_cast<double>(Tn);
}
}  // namespace

template <typename T>
ModelSizes Transformer<T>::sizes(const ModelConfig& config, int max_batch, int max_seq, const ModelShard& shard) {
  ModelConfig m = config;
  m.finalize();
  if (max_seq == 0) max_seq = m.max_seq_len;
  const TensorTable table = plan_params(m, shard, nullptr);
  // counts and FLOPs of the whole model, whatever part of it this rank holds
  const bool whole = shard.tp == 1 && shard.pp == 1;
  const TensorTable whole_table = whole ? TensorTable() : plan_params(m, {}, nullptr);
  const TensorTable& model = whole ? table : whole_table;
  ModelSizes s;
  s.parameters = table.count();
  s.model_parameters = model.count();
  s.flat_elements = table.total();
  s.activation_elements = activation_elements(m, shard, max_batch, max_seq);
  s.matmul_parameters = model.count_in_matmul();
  s.flops_per_token = model_flops_per_token(m, s.matmul_parameters, max_seq);
  return s;
}

template <typename T>
TensorTable Transformer<T>::plan_table(const ModelConfig& config, const ModelShard& shard) {
  ModelConfig m = config;
  m.finalize();
  return plan_params(m, shard, nullptr);
}

// The tensors of the whole model in order, of which this rank adds the ones it holds (each with its position in
// the whole model's table).
template <typename T>
TensorTable Transformer<T>::plan_params(const ModelConfig& m, const ModelShard& shard, Plan* plan) {
  TensorTable table;
  Plan local;
  Plan& ix_out = plan != nullptr ? *plan : local;
  ix_out.layers.assign(static_cast<size_t>(m.n_layer), LayerIndex{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1});
  const std::vector<ChunkRange> chunks = rank_chunks(m, shard);
  const bool first = chunks.front().embedding, last = chunks.back().head;
  std::vector<bool> held(static_cast<size_t>(m.n_layer), false);
  for (const ChunkRange& c : chunks)
    for (int l = c.first_layer; l < c.first_layer + c.n_layers; ++l) held[static_cast<size_t>(l)] = true;

  const int64_t C = m.d_model, Vp = m.padded_vocab(shard.tp), F = m.d_ff, QKV = m.qkv_width(), HS = m.head_size();
  const int r = shard.tp_rank, tp = shard.tp;
  const bool layernorm = m.norm == Norm::kLayerNorm;
  const Shape qkv_parts = {m.n_head * HS, m.n_kv_head * HS, m.n_kv_head * HS};          // [q | k | v heads]
  const Shape fc_parts = m.activation == Activation::kSwiGLU ? Shape{F, F} : Shape{F};  // [gate | up]
  int global = 0;  // position in the whole model's table
  auto placed = [&](bool holds, int index) {
    if (holds) table.set_global_index(index, global);
    ++global;
    return holds ? index : -1;
  };
  // the index a tensor gets if this rank holds it, counting its place in the whole model either way
  auto whole = [&](bool holds, const std::string& name, Shape shape, const TensorKind& kind) {
    if (!holds) return placed(false, -1);
    return placed(true, table.add(name, std::move(shape), kind));
  };
  // column-parallel: split by output rows (dim 0); row-parallel: by input columns (dim 1)
  auto split = [&](bool holds, const std::string& name, Shape shape, int dim, const Shape& parts,
                   const TensorKind& kind) {
    if (!holds) return placed(false, -1);
    return placed(true, table.add_split(name, std::move(shape), dim, parts, r, tp, kind));
  };

  // What each tensor is: its initialisation, weight decay, the sequence-parallel sum of norms' gradients and the
  // vocabulary padding follow these kinds, never the names. Embeddings are decayed by default (GPT-2, nanoGPT; the
  // optimizer may exempt them); the token embedding is a matrix of the model's FLOPs only when it is the tied head.
  const TensorKind matrix{.weight_decay = true, .in_matmul = true};
  const TensorKind into_residual{.init = TensorInit::kResidualNormal, .weight_decay = true, .in_matmul = true};
  const TensorKind bias{.init = TensorInit::kZeros};
  const TensorKind norm_weight{.init = TensorInit::kOnes, .norm = true};
  const TensorKind norm_bias{.init = TensorInit::kZeros, .norm = true};
  const TensorKind token_embedding{
      .weight_decay = m.tie_embeddings, .in_matmul = m.tie_embeddings, .embedding = true, .vocab_rows = true};
  const TensorKind position_embedding{.weight_decay = true, .embedding = true};
  const TensorKind head{.weight_decay = true, .in_matmul = true, .vocab_rows = true};

  // The tied head reads the embedding: the last stage keeps a copy, kept equal by an all-reduce of its gradient over
  // the embedding group.
  const bool tied_here = m.tie_embeddings && last;
  ix_out.wte = split(first || tied_here, "embed.wte", {Vp, C}, 0, {}, token_embedding);  // vocab-parallel
  if (ix_out.wte >= 0 && !first) table.set_pp_copy(ix_out.wte);
  if (m.position == Position::kLearned) ix_out.wpe = whole(first, "embed.wpe", {m.max_seq_len, C}, position_embedding);
  for (int l = 0; l < m.n_layer; ++l) {
    const bool h = held[static_cast<size_t>(l)];
    const std::string p = "layers." + std::to_string(l) + ".";
    LayerIndex& ix = ix_out.layers[static_cast<size_t>(l)];
    ix.ln1_w = whole(h, p + "attn_norm.weight", {C}, norm_weight);
    if (layernorm) ix.ln1_b = whole(h, p + "attn_norm.bias", {C}, norm_bias);
    ix.qkv_w = split(h, p + "attn.qkv.weight", {QKV, C}, 0, qkv_parts, matrix);
    if (m.bias) ix.qkv_b = split(h, p + "attn.qkv.bias", {QKV}, 0, qkv_parts, bias);
    ix.proj_w = split(h, p + "attn.proj.weight", {C, C}, 1, {}, into_residual);
    if (m.bias) ix.proj_b = whole(h, p + "attn.proj.bias", {C}, bias);
    ix.ln2_w = whole(h, p + "mlp_norm.weight", {C}, norm_weight);
    if (layernorm) ix.ln2_b = whole(h, p + "mlp_norm.bias", {C}, norm_bias);
    ix.fc_w = split(h, p + "mlp.fc.weight", {m.ffn_in_width(), C}, 0, fc_parts, matrix);
    if (m.bias) ix.fc_b = split(h, p + "mlp.fc.bias", {m.ffn_in_width()}, 0, fc_parts, bias);
    ix.fcproj_w = split(h, p + "mlp.proj.weight", {C, F}, 1, {}, into_residual);
    if (m.bias) ix.fcproj_b = whole(h, p + "mlp.proj.bias", {C}, bias);
  }
  ix_out.lnf_w = whole(last, "final_norm.weight", {C}, norm_weight);
  if (layernorm) ix_out.lnf_b = whole(last, "final_norm.bias", {C}, norm_bias);
  if (!m.tie_embeddings) ix_out.head = split(last, "head.weight", {Vp, C}, 0, {}, head);
  if (m.tie_embeddings && last) ix_out.head = ix_out.wte;
  return table;
}

template <typename T>
double Transformer<T>::layer_elements(const LocalDims& d, double B, double Tn, const ModelShard& shard) {
  const double BT = B * Tn, BTs = BT / shard.seq_split();  // all rows, this rank's rows of the residual stream
  const double C = d.C, attn_out = d.attn_out, QKV = d.QKV, F = d.F, fc_out = d.fc_out;
  return BT * (C + QKV + attn_out + C + fc_out + F) + BTs * (2 + C + 2 + C) +
         softmax_elements(d, B, Tn, shard.attention);
}

template <typename T>
double Transformer<T>::slot_elements(const LocalDims& d, const ChunkRange& chunk, double B, double Tn,
                                     const ModelShard& shard) {
  const double BT = B * Tn, BTs = BT / shard.seq_split();  // all rows, this rank's rows of the residual stream
  const double C = d.C, Vp = d.Vp;
  const Recompute recompute = shard.layer_recompute();
  double per_layer = layer_elements(d, B, Tn, shard);  // what a layer keeps
  if (recompute == Recompute::kSelective) per_layer -= softmax_elements(d, B, Tn, shard.attention);
  if (recompute == Recompute::kFull) per_layer = BTs * C;
  double n = BTs * C + per_layer * chunk.n_layers;           // input, layers
  if (chunk.head) n += BT * C + BTs * 2 + BT * Vp + BT * 4;  // final norm, logits, losses, lse, sums
  return n;
}

template <typename T>
double Transformer<T>::scratch_elements(const LocalDims& d, double B, double Tn, const ModelShard& shard) {
  const double BT = B * Tn, BTs = BT / shard.seq_split();
  const double split = shard.seq_split() > 1 ? 3 * BTs * d.C : 0;  // the local rows of rowpar, dres, dln
  const Recompute recompute = shard.layer_recompute();
  double shared = 0;  // the layer activations recomputation shares
  if (recompute == Recompute::kSelective) shared = softmax_elements(d, B, Tn, shard.attention);
  if (recompute == Recompute::kFull) shared = layer_elements(d, B, Tn, shard);  // with an output to recompute into
  return 3 * BT * d.C + split                                                   // rowpar, dres, dln
         + BT * (d.QKV + d.attn_out + d.fc_out + d.F)                           // backward scratch
         + shared;
}

template <typename T>
double Transformer<T>::bf16_scratch_elements(const LocalDims& d, double N, bool head, const ModelShard& shard) {
  double n = 0;
  if (shard.dtype == DType::kBf16) {  // the products' operands, a block at a time
    const int rows = static_cast<int>(N);
    auto need = [rows](int IC, int OC) { return static_cast<double>(ops::bf16_blocks(rows, IC, OC).scratch_size()); };
    n = std::max({need(d.C, d.QKV), need(d.attn_out, d.C), need(d.C, d.fc_out), need(d.F, d.C)});
    if (head) n = std::max(n, need(d.C, d.Vp));
  }
  if (shard.attention == Attention::kCudnn)  // attention's operands, whole
    n = std::max(
        n, static_cast<double>(ops::flash_attention_bf16_scratch_size(static_cast<int64_t>(N), d.NH, d.NKV, d.HS)));
  return n;
}

// Elements of every activation that plan_activations lays out (keep the two in step; the plan checks its total).
template <typename T>
int64_t Transformer<T>::activation_elements(const ModelConfig& m, const ModelShard& shard, int64_t max_batch,
                                            int64_t max_seq) {
  // in double: exact for any plan that fits in memory, and no overflow for one that does not (it saturates)
  const LocalDims d = local_dims(m, shard);
  const auto B = static_cast<double>(max_batch), Tn = static_cast<double>(max_seq);
  const std::vector<ChunkRange> chunks = rank_chunks(m, shard);
  double total = scratch_elements(d, B, Tn, shard) + bf16_scratch_elements(d, B * Tn, chunks.back().head, shard);
  for (size_t c = 0; c < chunks.size(); ++c) {
    const int slots = shard.slots.empty() ? 1 : shard.slots[c];
    total += slots * slot_elements(d, chunks[c], B, Tn, shard);
  }
  return total < 0x1p56 ? static_cast<int64_t>(total) : int64_t{1} << 56;
}

template <typename T>
void Transformer<T>::plan_activations() {
  const ModelConfig& m = config_;
  const LocalDims& d = dims_;
  const int64_t BT = static_cast<int64_t>(max_batch_) * max_seq_;
  const int64_t BTs = BT / shard_.seq_split();  // this rank's rows of the residual stream
  const int64_t C = d.C, attn_out = d.attn_out, QKV = d.QKV, F = d.F, fc_out = d.fc_out, Vp = d.Vp;
  const auto softmax = static_cast<int64_t>(softmax_elements(d, max_batch_, max_seq_, shard_.attention));
  const int64_t total = activation_elements(m, shard_, max_batch_, max_seq_);
  TESSERA_CHECK(BT % shard_.seq_split() == 0, "{} rows of the residual stream over {} sequence-parallel ranks", BT,
                shard_.seq_split());
  acts_ = DeviceBuffer<T>(*backend_, total);
  acts_.zero();
  T* p = acts_.data();
  auto take = [&p](int64_t n) {
    T* out = p;
    p += n;
    return out;
  };
  const auto bf16_scratch =
      static_cast<int64_t>(bf16_scratch_elements(d, static_cast<double>(BT), chunks_.back().head, shard_));
  if (bf16_scratch > 0) bf16_scratch_ = take(bf16_scratch);
  row_parallel_out_ = take(BT * C);
  d_residual_full_ = take(BT * C);
  d_norm_out_ = take(BT * C);
  row_parallel_out_local_ = sp_ ? take(BTs * C) : row_parallel_out_;
  d_residual_ = sp_ ? take(BTs * C) : d_residual_full_;
  d_norm_out_local_ = sp_ ? take(BTs * C) : d_norm_out_;
  dqkv_ = take(BT * QKV);
  datty_ = take(BT * attn_out);
  dfch_ = take(BT * fc_out);
  dact_ = take(BT * F);
  // A layer's activations but its output: those it keeps in new memory (keep_all: all of them; keep_softmax: what
  // attention keeps of its softmax), the rest in the set every layer shares under recomputation (shared_layer_)
  auto layer_acts = [&](bool keep_all, bool keep_softmax) {
    LayerActs a = shared_layer_;
    if (keep_all) {
      a.ln1 = take(BT * C);
      a.ln1_mean = take(BTs);
      a.ln1_rstd = take(BTs);
      a.qkv = take(BT * QKV);
    }
    if (keep_softmax) a.softmax = take(softmax);
    if (keep_all) {
      a.atty = take(BT * attn_out);
      a.res2 = take(BTs * C);
      a.ln2 = take(BT * C);
      a.ln2_mean = take(BTs);
      a.ln2_rstd = take(BTs);
      a.fch = take(BT * fc_out);
      a.act = take(BT * F);
    }
    return a;
  };
  const Recompute recompute = shard_.layer_recompute();
  if (recompute != Recompute::kNone) {
    shared_layer_ = layer_acts(recompute == Recompute::kFull, true);
    if (recompute == Recompute::kFull) shared_layer_.res3 = take(BTs * C);  // kept outputs are never written again
  }
  int total_slots = 0;
  for (const int s : shard_.slots) total_slots += s;
  slot_ids_ = DeviceBuffer<int32_t>(*backend_, static_cast<int64_t>(total_slots) * 2 * BT);
  slot_ids_.zero();
  loss_sum_ = DeviceBuffer<double>(*backend_, 1);
  loss_sum_.zero();
  host_ids_.assign(static_cast<size_t>(2 * BT), 0);
  int32_t* ids = slot_ids_.data();
  slots_.resize(chunks_.size());
  for (size_t c = 0; c < chunks_.size(); ++c) {
    const ChunkRange& chunk = chunks_[c];
    slots_[c].resize(static_cast<size_t>(shard_.slots[c]));
    for (Slot& s : slots_[c]) {
      s.input = take(BTs * C);
      for (int l = 0; l < chunk.n_layers; ++l) {
        LayerActs a = layer_acts(recompute != Recompute::kFull, recompute == Recompute::kNone);
        a.res3 = take(BTs * C);
        s.layers.push_back(a);
      }
      if (chunk.head) {
        s.lnf = take(BT * C);
        s.lnf_mean = take(BTs);
        s.lnf_rstd = take(BTs);
        s.logits = take(BT * Vp);
        s.losses = take(BT);
        s.lse = take(BT);
        s.ce_sums = take(BT * 2);
      }
      s.tokens = ids;
      s.targets = ids + BT;
      ids += 2 * BT;
    }
  }
  TESSERA_CHECK(p == acts_.data() + total, "activation plan mismatch");

  if (m.position == Position::kRope) {
    const int64_t n = static_cast<int64_t>(m.max_seq_len) * (m.head_size() / 2);
    std::vector<float> cos(static_cast<size_t>(n)), sin(static_cast<size_t>(n));
    ops::rope_tables(cos.data(), sin.data(), m.max_seq_len, m.head_size(), m.rope_theta);
    rope_cos_ = DeviceBuffer<float>(*backend_, n);
    rope_sin_ = DeviceBuffer<float>(*backend_, n);
    rope_cos_.upload(cos.data());
    rope_sin_.upload(sin.data());
  }
  if (backend_->device() == Device::kCpu)
    ctx_.reserve_scratch(keeps_logsumexp(shard_.attention) ? ops::flash_attention_scratch_size(d.HS)
                                                           : ops::attention_scratch_size(max_seq_));
}

template <typename T>
typename Transformer<T>::LayerParams Transformer<T>::layer_view(T* base, int l) const {
  const LayerIndex& ix = layer_index_[static_cast<size_t>(l)];
  return {tensor(base, ix.ln1_w),  tensor(base, ix.ln1_b),  tensor(base, ix.qkv_w),    tensor(base, ix.qkv_b),
          tensor(base, ix.proj_w), tensor(base, ix.proj_b), tensor(base, ix.ln2_w),    tensor(base, ix.ln2_b),
          tensor(base, ix.fc_w),   tensor(base, ix.fc_b),   tensor(base, ix.fcproj_w), tensor(base, ix.fcproj_b)};
}

template <typename T>
typename Transformer<T>::Slot& Transformer<T>::slot(int c, int s) {
  TESSERA_CHECK(c >= 0 && c < static_cast<int>(slots_.size()) && s >= 0 &&
                    s < static_cast<int>(slots_[static_cast<size_t>(c)].size()),
                "chunk {} slot {} outside the plan", c, s);
  return slots_[static_cast<size_t>(c)][static_cast<size_t>(s)];
}

template <typename T>
void Transformer<T>::init_weights(uint64_t seed) {
  bf16_stale_ = true;
  if (backend_->device() == Device::kCpu) {
    init_params(table_, config_, seed, params_.data());
    return;
  }
  std::vector<T> host(static_cast<size_t>(table_.total()), T(0));  // start-up only: filled here, then uploaded
  init_params(table_, config_, seed, host.data());
  params_.upload(host.data());
}

template <typename T>
void Transformer<T>::reduce_sequence_parallel_grads(int first, int last) {
  if (!sp_) return;
  if (last < 0) last = table_.size() - 1;
  for (int i = first; i <= last; ++i) {
    const TensorInfo& info = table_[i];
    if (!info.kind.norm) continue;  // norm weights and biases: partial over this rank's rows
    tp_->all_reduce_sum(grads_.data() + info.offset, info.numel);
  }
}

template <typename T>
void Transformer<T>::zero_grads() {
  grads_.zero();
}

template <typename T>
void Transformer<T>::check_single_stage(const char* what) const {
  TESSERA_CHECK(chunks_.size() == 1 && chunks_[0].embedding && chunks_[0].head,
                "{} needs the whole model on one rank; this one holds a pipeline stage (use the schedules)", what);
}

template <typename T>
double Transformer<T>::forward(const int32_t* tokens, const int32_t* targets, int B, int Tn) {
  check_single_stage("forward");
  forward_chunk(0, 0, tokens, targets, B, Tn);
  chunk_loss(0, 0, T(0), false);
  return take_loss_sum();
}

template <typename T>
void Transformer<T>::backward(T dloss) {
  check_single_stage("backward");
  Slot& s = slot(0, 0);
  TESSERA_CHECK(s.B > 0, "backward before forward");
  loss_backward(s, dloss);  // logits now hold dlogits
  backward_chunk(0, 0);
}

template <typename T>
double Transformer<T>::forward_backward(const int32_t* tokens, const int32_t* targets, int B, int Tn, T dloss) {
  check_single_stage("forward_backward");
  forward_chunk(0, 0, tokens, targets, B, Tn);
  chunk_loss(0, 0, dloss, true);
  backward_chunk(0, 0);
  return take_loss_sum();
}

template <typename T>
double Transformer<T>::flops_per_token(int Tn) const {
  const int64_t matmul_parameters =
      shard_.tp == 1 && shard_.pp == 1 ? table_.count_in_matmul() : plan_params(config_, {}, nullptr).count_in_matmul();
  return model_flops_per_token(config_, matmul_parameters, Tn);
}

template class Transformer<float>;
template class Transformer<double>;

}  // namespace tessera
