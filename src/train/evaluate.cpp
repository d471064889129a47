#include "train/evaluate.hpp"

#include <algorithm>
#include <vector>

#include "parallel/pipeline.hpp"

namespace tessera {

EvalResult evaluate_loss(Transformer<float>& model, BlendedSampler& sampler, const BatchBuilder& batches, uint64_t salt,
                         const ProcessGroup& dp, const ProcessGroup& pp, int64_t max_samples,
                         const std::function<void()>& on_batch, const Communicator* pp_data) {
  const int T = sampler.seq_len();
  const int mb = model.max_batch();
  const int64_t available = sampler.samples_per_epoch();
  const int64_t total = max_samples > 0 ? std::min(available, max_samples) : available;
  std::vector<int32_t> seq(static_cast<size_t>(T) + 1), inputs(static_cast<size_t>(mb) * T),
      targets(static_cast<size_t>(mb) * T);
  std::vector<uint8_t> mask(sampler.has_loss_mask() ? static_cast<size_t>(T) + 1 : 0);  // fine-tuning: responses
  double sums[2] = {0, 0};                                                              // loss sum, targeted positions
  int B = 0;
  auto flush = [&] {
    if (B > 0)
      sums[0] +=
          run_pipeline_forward(model, {inputs.data(), targets.data(), 1, B, T}, pp_data != nullptr ? *pp_data : pp);
    B = 0;
    if (on_batch) on_batch();
  };
  for (int64_t j = dp.rank(); j < total; j += dp.size()) {
    sampler.read(j, seq.data(), mask.empty() ? nullptr : mask.data());
    const int64_t off = static_cast<int64_t>(B) * T;
    sums[1] += static_cast<double>(batches.make(seq.data(), T, salt ^ static_cast<uint64_t>(j), inputs.data() + off,
                                                targets.data() + off, mask.empty() ? nullptr : mask.data()));
    if (++B == mb) flush();
  }
  flush();
  pp.all_reduce_sum(sums, 1);  // the loss is known on the last stage
  dp.all_reduce_sum(sums, 2);
  EvalResult r;
  r.positions = static_cast<int64_t>(sums[1]);
  r.loss = sums[1] > 0 ? sums[0] / sums[1] : 0.0;
  r.samples = total;
  return r;
}

}  // namespace tessera
