// End-to-end throughput of a full training step (forward, backward, AdamW) on synthetic tokens, and the machine's
// sgemm peak that is the MFU denominator. Prints one table row (medians over the timed steps); never fails.
// Columns: forward and backward as two calls (the breakdown); update (clipping + AdamW); step = forward and
// backward in one call, as the trainer runs them, + update.
//
//   bench_train_step [--layers 6] [--width 512] [--heads 8] [--seq 256] [--batch 8] [--vocab 50304]
//                    [--family gpt2|llama] [--steps 5] [--warmup 2] [--threads 0]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/blas.hpp"
#include "core/peak_flops.hpp"
#include "core/rng.hpp"
#include "model/transformer.hpp"
#include "ops/ops.hpp"
#include "optim/adamw.hpp"

namespace {

struct Options {
  int layers = 6, width = 512, heads = 8, seq = 256, batch = 8, vocab = 50304, steps = 7, warmup = 1, threads = 0;
  std::string family = "gpt2";
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--layers")
      o.layers = std::atoi(v);
    else if (k == "--width")
      o.width = std::atoi(v);
    else if (k == "--heads")
      o.heads = std::atoi(v);
    else if (k == "--seq")
      o.seq = std::atoi(v);
    else if (k == "--batch")
      o.batch = std::atoi(v);
    else if (k == "--vocab")
      o.vocab = std::atoi(v);
    else if (k == "--steps")
      o.steps = std::atoi(v);
    else if (k == "--warmup")
      o.warmup = std::atoi(v);
    else if (k == "--threads")
      o.threads = std::atoi(v);
    else if (k == "--family")
      o.family = v;
    else
      std::fprintf(stderr, "bench_train_step: ignoring unknown option %s\n", k.c_str());
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tessera;
  const Options o = parse(argc, argv);
  if (o.threads > 0) {
    omp_set_num_threads(o.threads);
    set_blas_threads(o.threads);
  }
  ModelConfig m;
  m.family = o.family;
  m.apply_family_defaults();
  m.vocab_size = o.vocab;
  m.max_seq_len = o.seq;
  m.n_layer = o.layers;
  m.n_head = o.heads;
  m.d_model = o.width;
  Transformer<float> model(m, o.batch);
  model.init_weights(1);
  AdamW opt(model.table(), AdamWConfig{});

  const int n = o.batch * o.seq;
  std::vector<int32_t> tokens(static_cast<size_t>(n)), targets(static_cast<size_t>(n));
  Rng rng(1, 2);
  for (int i = 0; i < n; ++i) {
    tokens[static_cast<size_t>(i)] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(o.vocab)));
    targets[static_cast<size_t>(i)] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(o.vocab)));
  }
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  // The machine may be shared and its speed drift: after every step the sgemm peak is measured again (a short
  // median), each step's MFU is taken against the peak beside it, and the medians are reported.
  std::vector<double> fwd, bwd, upd, step, peak, mfu;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    // forward and backward as two calls, for the breakdown
    model.zero_grads();
    const auto t0 = clock::now();
    model.forward(tokens.data(), targets.data(), o.batch, o.seq);
    const auto t1 = clock::now();
    model.backward(1.0F / static_cast<float>(n));
    const auto t2 = clock::now();
    // the step as the trainer runs it: forward and backward in one call (fused cross-entropy), clipping, AdamW
    model.zero_grads();
    const auto t3 = clock::now();
    model.forward_backward(tokens.data(), targets.data(), o.batch, o.seq, 1.0F / static_cast<float>(n));
    const auto t4 = clock::now();
    const double norm = ops::sum_squares(model.grads(), model.flat_size());
    if (norm > 1.0) ops::scale(model.grads(), static_cast<float>(1.0 / std::sqrt(norm)), model.flat_size());
    opt.step(model.params(), model.grads(), 1e-4F);
    const auto t5 = clock::now();
    if (s < o.warmup) continue;
    fwd.push_back(seconds(t0, t1));
    bwd.push_back(seconds(t1, t2));
    upd.push_back(seconds(t4, t5));
    step.push_back(seconds(t3, t5));
    peak.push_back(measure_sgemm_flops(2048, 0.3));
    mfu.push_back(model.flops_per_token(o.seq) * n / step.back() / peak.back());
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double step_s = median(step);
  std::printf(
      "| tessera | %s L=%d C=%d NH=%d T=%d B=%d V=%d | %d | %.1f | %.1f | %.1f | %.1f | %.0f | %.1f | %.1f%% |\n",
      o.family.c_str(), o.layers, o.width, o.heads, o.seq, o.batch, o.vocab, omp_get_max_threads(), 1e3 * median(fwd),
      1e3 * median(bwd), 1e3 * median(upd), 1e3 * step_s, n / step_s, median(peak) / 1e9, 100 * median(mfu));
  return 0;
}
