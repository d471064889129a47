// One optimizer step: this rank's micro-batches read, forward and backward through the pipeline, the gradients
// completed and reduced over data-parallel ranks, then the gradient norm, the non-finite policy, clipping and AdamW.
#include <cmath>

#include <fmt/format.h>

#include "core/check.hpp"
#include "train/trainer_impl.hpp"

namespace tessera {

StepRecord Trainer::Impl::train_step(int64_t step) {
  const auto start = Clock::now();
  step_now = step + 1;
  phase(step_now, "reading the batch");
  LossSum loss;
  loss.targets = read_batches();
  phase(step_now, "the all-reduce of the target count over dp");
  ps.dp.all_reduce_sum(&loss.targets, 1);
  const auto dloss = static_cast<float>(loss.targets > 0 ? 1.0 / loss.targets : 0.0);  // 0: a batch of prompts only
  phase(step_now, "forward and backward");
  loss.sum = forward_backward(dloss);
  phase(step_now, "the gradient reduction over dp");
  reduce_gradients();
  ps.pp.all_reduce_sum(&loss.sum, 1);  // the loss is known on the last stage
  ps.dp.all_reduce_sum(&loss.sum, 1);
  phase(step_now, "the optimizer step");
  StepRecord record = update(step, loss.mean());
  consumed += global_batch;
  record.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return record;
}

// This rank's micro-batches of the step into inputs and targets (global_sample: every dp-th sample of the step's
// global batch); returns how many positions they target.
double Trainer::Impl::read_batches() {
  double targeted = 0;
  uint8_t* sample_mask = mask.empty() ? nullptr : mask.data();
  for (int m = 0; m < grad_accum; ++m) {
    for (int i = 0; i < mb; ++i) {
      const int64_t k = global_sample(consumed, mb, m, i, dp, ps.dp.rank());
      const int64_t off = (static_cast<int64_t>(m) * mb + i) * T;
      train_sampler->read(k, seq.data(), sample_mask);
      targeted += static_cast<double>(batches->make(seq.data(), T, kTrainStream ^ static_cast<uint64_t>(k),
                                                    inputs.data() + off, targets.data() + off, sample_mask));
    }
  }
  return targeted;
}

// Forward and backward of the micro-batches through the pipeline (each position's loss weighted by dloss),
// gradients accumulating, then completed where ranks hold parts of them: the sequence-parallel norms' (with overlap:
// as each layer finished) and the tied embedding's two copies. Returns the loss sum of this rank's micro-batches
// (on the last pipeline stage; 0 elsewhere).
double Trainer::Impl::forward_backward(float dloss) {
  model->zero_grads();
  reducer->start_step();
  const double loss_sum = pipeline->step({inputs.data(), targets.data(), grad_accum, mb, T}, dloss);
  if (!overlap) model->reduce_sequence_parallel_grads();
  reduce_tied_embedding();
  waits.pp_s = pipeline->last_wait_seconds();
  waits.pp_step_s = pipeline->last_step_seconds();
  return loss_sum;
}

// Tied embeddings under pipeline parallelism: the first stage's embedding and the last stage's head copy each hold
// half of the gradient; the sum over the two keeps the copies equal after the update.
void Trainer::Impl::reduce_tied_embedding() {
  const int wte = model->embedding_index();
  if (!cfg.model.tie_embeddings || ps.embedding.size() == 1 || wte < 0) return;
  const TensorInfo& info = model->table()[wte];
  devices->embedding().all_reduce_sum(model->grads() + info.offset, info.numel);
}

// The data-parallel reduction: the sum over ranks is the gradient of the global mean loss (buckets started during
// backward are waited for; the wait is what the overlap did not hide).
void Trainer::Impl::reduce_gradients() {
  const auto start = Clock::now();
  reducer->finish();
  waits.dp_s = std::chrono::duration<double>(Clock::now() - start).count();
}

// The global gradient norm, the non-finite policy (stop, or skip the step), clipping and the AdamW update (ZeRO-1:
// each rank its ranges, then the parameters gathered).
StepRecord Trainer::Impl::update(int64_t step, double loss) {
  const double norm =
      grad_norm->compute(model->grads(), reducer->owned(), ps.tp, ps.pp, reducer->zero1() ? &ps.dp : nullptr);
  StepRecord record{step + 1, loss, norm, schedule.at(step), false, 0.0};
  if (!std::isfinite(loss) || !std::isfinite(norm)) {
    const std::string what = fmt::format("step {}: non-finite {} (loss {}, grad norm {})", step + 1,
                                         std::isfinite(loss) ? "gradient norm" : "loss", loss, norm);
    if (cfg.train.on_nonfinite == "stop")
      TESSERA_RAISE("{}; stopping (train.on_nonfinite = \"skip\" skips such steps instead)", what);
    if (main()) fmt::print("warning: {}; step skipped\n", what);
    record.skipped = true;
    ++skipped;
    return record;
  }
  if (cfg.train.grad_clip > 0 && norm > cfg.train.grad_clip) {
    for (const FlatRange& r : reducer->owned())
      model->ops().scale(model->grads() + r.begin, static_cast<float>(cfg.train.grad_clip / norm), r.end - r.begin);
  }
  optimizer->step(model->params(), model->grads(), record.lr);
  reducer->gather_params(model->params());
  return record;
}

}  // namespace tessera
