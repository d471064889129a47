#include "train/run_plan.hpp"

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/memory.hpp"
#include "core/readable.hpp"
#include "parallel/pipeline.hpp"

namespace tessera {

Layout resolve_layout(const ParallelConfig& p, int world_size) {
  Layout layout{p.tp, p.pp, p.dp};
  if (layout.tp < 1 || layout.pp < 1)
    TESSERA_RAISE("parallel: tp and pp must be at least 1 (got tp = {}, pp = {})", layout.tp, layout.pp);
  if (layout.dp == 0) layout.dp = std::max(1, world_size / (layout.tp * layout.pp));
  if (layout.world() != world_size)
    TESSERA_RAISE("parallel: tp * pp * dp = {} * {} * {} = {} does not match the {} MPI {} of this job", layout.tp,
                  layout.pp, layout.dp, layout.world(), world_size, world_size == 1 ? "rank" : "ranks");
  if (p.sequence_parallel && layout.tp == 1)
    TESSERA_RAISE("parallel.sequence_parallel = true needs tensor parallelism (parallel.tp > 1; it is 1)");
  if (p.virtual_stages > 1 && layout.pp == 1)
    TESSERA_RAISE("parallel.virtual_stages = {} needs pipeline parallelism (parallel.pp > 1)", p.virtual_stages);
  return layout;
}

ModelShard plan_shard(const RunConfig& cfg, const RunPlan& plan, const Coord& coord) {
  ModelShard shard;
  shard.tp_rank = coord.tp_rank;
  shard.tp = plan.layout.tp;
  shard.pp_rank = coord.pp_rank;
  shard.pp = plan.layout.pp;
  shard.virtual_stages = cfg.parallel.virtual_stages;
  shard.pp_layers = plan.chunk_layers;
  const PipelineOrder order =
      pipeline_order(plan.schedule, shard.pp, shard.pp_rank, plan.grad_accum, shard.virtual_stages);
  shard.slots = pipeline_slots(order, shard.virtual_stages);
  shard.sequence_parallel = cfg.parallel.sequence_parallel;
  shard.recompute = recompute_from_name(cfg.train.recompute);
  shard.attention = attention_from_name(cfg.train.attention);
  shard.dtype = dtype_from_name(cfg.train.dtype);
  return shard;
}

namespace {
// The pipeline's checks: enough micro-batches for the schedule, layers for every stage.
void check_pipeline(const RunConfig& cfg, const RunPlan& plan) {
  const int pp = plan.layout.pp, v = cfg.parallel.virtual_stages, m = plan.grad_accum;
  if (pp == 1) return;
  const std::string why =
      fmt::format("train.global_batch / (train.micro_batch * dp) = {} / ({} * {}) = {} micro-batches per step",
                  plan.global_batch, plan.micro_batch, plan.layout.dp, m);
  if (plan.schedule != PipelineSchedule::kAllForwardAllBackward && m < pp)
    TESSERA_RAISE("{}: the 1F1B schedule of parallel.pp = {} stages needs at least {} (raise train.global_batch)", why,
                  pp, pp);
  if (plan.schedule == PipelineSchedule::kInterleaved && m % pp != 0)
    TESSERA_RAISE(
        "{}: interleaved 1F1B (parallel.virtual_stages = {}) needs a multiple of parallel.pp = {} (set "
        "train.global_batch)",
        why, v, pp);
}
}  // namespace

RunPlan plan_run(RunConfig& cfg, const Layout& layout) {
  RunPlan plan;
  plan.layout = layout;
  plan.micro_batch = cfg.train.micro_batch;
  plan.seq_len = cfg.train.seq_len == 0 ? cfg.model.max_seq_len : cfg.train.seq_len;
  if (plan.seq_len > cfg.model.max_seq_len)
    TESSERA_RAISE("train.seq_len = {} exceeds model.max_seq_len = {}", plan.seq_len, cfg.model.max_seq_len);
  plan.global_batch = cfg.train.global_batch == 0 ? plan.micro_batch * layout.dp : cfg.train.global_batch;
  plan.grad_accum = static_cast<int>(divide(plan.global_batch, int64_t{plan.micro_batch} * layout.dp,
                                            "train.global_batch (a multiple of micro_batch * dp)"));
  plan.steps = cfg.train.steps;
  cfg.train.seq_len = plan.seq_len;
  cfg.train.global_batch = plan.global_batch;
  cfg.parallel.dp = layout.dp;

  check_tp_divides_model(cfg.model, layout.tp);
  if (cfg.parallel.sequence_parallel && (int64_t{plan.micro_batch} * plan.seq_len) % layout.tp != 0)
    TESSERA_RAISE(
        "parallel.sequence_parallel: train.micro_batch * train.seq_len = {} * {} tokens do not split evenly over "
        "parallel.tp = {} ranks",
        plan.micro_batch, plan.seq_len, layout.tp);
  plan.schedule = parse_pipeline_schedule(cfg.parallel.pp_schedule, cfg.parallel.virtual_stages);
  plan.chunk_layers = chunk_layers(cfg.model.n_layer, layout.pp, cfg.parallel.virtual_stages, cfg.parallel.pp_layers);
  check_pipeline(cfg, plan);
  // the sizes of the pipeline rank that needs the most memory
  for (int p = 0; p < layout.pp; ++p) {
    const ModelShard shard = plan_shard(cfg, plan, Coord{0, p, 0});
    ModelSizes s = Transformer<float>::sizes(cfg.model, plan.micro_batch, plan.seq_len, shard);
    // the pipeline's receive buffers count as activations
    const int64_t message = shard.residual_rows(plan.micro_batch, plan.seq_len) * cfg.model.d_model;
    s.activation_elements += PipelineRunner::buffer_elements(rank_chunks(cfg.model, shard), plan.grad_accum, message);
    if (p == 0 ||
        4 * s.flat_elements + s.activation_elements > 4 * plan.sizes.flat_elements + plan.sizes.activation_elements) {
      plan.sizes = s;
      plan.heaviest_stage = p;
    }
  }
  const auto f = static_cast<int64_t>(sizeof(float));
  plan.param_bytes = plan.sizes.flat_elements * f;
  // train.dtype = "bf16": a bf16 copy of the parameters beside the fp32 masters
  if (cfg.train.dtype == "bf16") plan.param_bytes += plan.sizes.flat_elements * 2;
  plan.grad_bytes = plan.sizes.flat_elements * f;
  // AdamW m and v: ZeRO-1 keeps this rank's 1/dp of them, and receives the reduced gradients of that part apart
  const int64_t part = (plan.sizes.flat_elements + layout.dp - 1) / layout.dp;
  plan.optimizer_bytes = 2 * (cfg.parallel.zero1 ? part : plan.sizes.flat_elements) * f;
  if (cfg.parallel.zero1) plan.grad_bytes += part * f;
  plan.activation_bytes = plan.sizes.activation_elements * f;
  return plan;
}

void check_fits_in_memory(const RunPlan& plan, int64_t capacity, int64_t extra, const std::string& where) {
  const int64_t machine = capacity > 0 ? capacity : physical_memory_bytes();
  const int64_t needed = plan.total_bytes() + extra;
  if (machine == 0 || needed <= machine) return;
  const bool activations = plan.activation_bytes >= plan.param_bytes + plan.grad_bytes + plan.optimizer_bytes;
  TESSERA_RAISE(
      "the run needs {} per rank ({} of activations for train.micro_batch = {} x train.seq_len = {}, {} of "
      "parameters, gradients and AdamW state{}), more than {} {}: lower {}",
      bytes_string(needed), bytes_string(plan.activation_bytes), plan.micro_batch, plan.seq_len,
      bytes_string(plan.param_bytes + plan.grad_bytes + plan.optimizer_bytes),
      extra > 0 ? fmt::format(", {} of the GPU's scratch", bytes_string(extra)) : std::string(), where,
      bytes_string(machine),
      activations ? "train.micro_batch or train.seq_len (accumulate through train.global_batch instead), or the "
                    "model (model.n_layer, model.vocab_size, model.d_model, model.d_ff)"
                  : "the model's size (model.vocab_size, model.d_model, model.n_layer, model.d_ff)");
}

std::string describe_run(const RunConfig& cfg, const RunPlan& plan, const RunData& data) {
  const ModelConfig& m = cfg.model;
  const TokenizerInfo& tok = data.tokenizer;
  const Layout& l = plan.layout;
  const int64_t whole_parameters = plan.sizes.model_parameters;  // (plan.sizes.parameters: one rank's share)
  const double params = static_cast<double>(whole_parameters);
  const double flops_per_token = plan.sizes.flops_per_token;
  const auto total_tokens = static_cast<double>(plan.tokens_per_step()) * static_cast<double>(plan.steps);
  const int64_t train_tokens = data.train_tokens();
  std::string out;
  out += fmt::format("data: {} | tokenizer {} (vocab {}) | train {} tokens | val {} tokens\n", data.describe(),
                     tok.name, tok.vocab_size, train_tokens, data.val_tokens());
  out += fmt::format(
      "model: {} {} | {} parameters ({:.2f} M) | vocab {} padded to {} | {} layers, d_model {}, {} heads ({} kv), "
      "d_ff {}, context {}\n",
      m.family, to_string(m.objective), whole_parameters, params / 1e6, m.vocab_size, m.padded_vocab(l.tp), m.n_layer,
      m.d_model, m.n_head, m.n_kv_head, m.d_ff, m.max_seq_len);
  out += fmt::format(
      "layout: world {} (tp {}, pp {}, dp {}) | global batch {} = micro {} x accum {} x dp {} | {} tokens per step "
      "(T = {})\n",
      l.world(), l.tp, l.pp, l.dp, plan.global_batch, plan.micro_batch, plan.grad_accum, l.dp, plan.tokens_per_step(),
      plan.seq_len);
  const ParallelConfig& p = cfg.parallel;
  if (l.tp > 1 || l.dp > 1)
    out += fmt::format("parallel: sequence parallelism {} | ZeRO-1 {} | gradient buckets of {} MiB, {}\n",
                       p.sequence_parallel ? "on" : "off", p.zero1 ? "on" : "off", p.bucket_mb,
                       p.overlap_grad_reduce ? "reduced during backward" : "reduced after backward");
  if (l.pp > 1) {
    std::string layers;
    for (const int n : plan.chunk_layers) layers += (layers.empty() ? "" : ", ") + std::to_string(n);
    const int v = cfg.parallel.virtual_stages;
    out += fmt::format("pipeline: {} | layers per stage [{}] | {} micro-batches per step | bubble {:.1f}%\n",
                       plan.schedule == PipelineSchedule::kAllForwardAllBackward ? "all forwards, then all backwards"
                       : v > 1 ? fmt::format("interleaved 1F1B, {} virtual stages", v)
                               : std::string("1F1B"),
                       layers, plan.grad_accum, 100 * pipeline_bubble(l.pp, plan.grad_accum, v));
  }
  out += fmt::format(
      "memory per rank: {} = parameters {} + gradients {} + AdamW state {} + activations {} (micro-batch {} x "
      "{}, {} attention{}{}){}\n",
      bytes_string(plan.total_bytes()), bytes_string(plan.param_bytes), bytes_string(plan.grad_bytes),
      bytes_string(plan.optimizer_bytes), bytes_string(plan.activation_bytes), plan.micro_batch, plan.seq_len,
      cfg.train.attention,
      cfg.train.recompute == "none" ? std::string() : fmt::format(", {} recomputation", cfg.train.recompute),
      cfg.train.dtype == "bf16" ? ", bf16 matrix products: parameters fp32 + a bf16 copy" : "",
      l.tp * l.pp > 1 ? fmt::format("; {} parameters on {}", plan.sizes.parameters,
                                    l.pp > 1 ? fmt::format("the ranks of pipeline stage {}", plan.heaviest_stage)
                                             : std::string("each rank"))
                      : std::string());
  out += fmt::format("compute: {:.3g} FLOPs per token | {:.3g} per step | {:.3g} in all\n", flops_per_token,
                     flops_per_token * static_cast<double>(plan.tokens_per_step()), flops_per_token * total_tokens);
  out +=
      fmt::format("steps: {} | {:.4g} tokens{}", plan.steps, total_tokens,
                  train_tokens > 0 ? fmt::format(" = {:.2f} epochs of the training split", total_tokens / train_tokens)
                                   : std::string());
  return out;
}

}  // namespace tessera
