// Micro-benchmarks: the sgemm rate (the MFU denominator on the CPU) and each op's forward and backward at the sizes
// of the benchmark model (GPT-2 family, C=512, 8 heads, T=256, micro-batch 8, vocab 50304).
#include <benchmark/benchmark.h>

#include <vector>

#include "core/blas.hpp"
#include "core/rng.hpp"
#include "ops/ops.hpp"

namespace {

using namespace tessera;

constexpr int B = 8, Tn = 256, C = 512, NH = 8, HS = C / NH, V = 50304, N = B * Tn;

std::vector<float> random_floats(size_t n, uint64_t seed) {
  Rng rng(seed, 0);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal() * 0.1);
  return v;
}

void flops(benchmark::State& state, double per_iteration) {
  state.counters["FLOP/s"] = benchmark::Counter(per_iteration, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_sgemm(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto a = random_floats(static_cast<size_t>(n) * n, 1), b = random_floats(static_cast<size_t>(n) * n, 2);
  std::vector<float> c(static_cast<size_t>(n) * n);
  for (auto _ : state) gemm<float>(false, true, n, n, n, 1.0F, a.data(), n, b.data(), n, 0.0F, c.data(), n);
  flops(state, 2.0 * n * n * static_cast<double>(n));
}
BENCHMARK(BM_sgemm)->Arg(512)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_matmul_forward(benchmark::State& state) {
  const int oc = static_cast<int>(state.range(0));
  auto inp = random_floats(static_cast<size_t>(N) * C, 1), w = random_floats(static_cast<size_t>(oc) * C, 2),
       bias = random_floats(static_cast<size_t>(oc), 3);
  std::vector<float> out(static_cast<size_t>(N) * oc);
  for (auto _ : state) ops::matmul_forward(out.data(), inp.data(), w.data(), bias.data(), N, C, oc, false);
  flops(state, 2.0 * N * C * static_cast<double>(oc));
}
BENCHMARK(BM_matmul_forward)->Arg(3 * C)->Arg(4 * C)->Arg(V)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_matmul_backward(benchmark::State& state) {
  const int oc = static_cast<int>(state.range(0));
  auto inp = random_floats(static_cast<size_t>(N) * C, 1), w = random_floats(static_cast<size_t>(oc) * C, 2),
       dout = random_floats(static_cast<size_t>(N) * oc, 3);
  std::vector<float> dinp(static_cast<size_t>(N) * C), dw(static_cast<size_t>(oc) * C), db(static_cast<size_t>(oc));
  for (auto _ : state)
    ops::matmul_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), N, C, oc);
  flops(state, 4.0 * N * C * static_cast<double>(oc));
}
BENCHMARK(BM_matmul_backward)->Arg(3 * C)->Arg(4 * C)->Arg(V)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_attention(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  auto qkv = random_floats(static_cast<size_t>(N) * 3 * C, 1), dout = random_floats(static_cast<size_t>(N) * C, 2);
  std::vector<float> out(static_cast<size_t>(N) * C), probs(static_cast<size_t>(B) * NH * Tn * Tn),
      dqkv(static_cast<size_t>(N) * 3 * C);
  ops::Context<float> ctx;
  ctx.reserve_scratch(ops::attention_scratch_size(Tn));
  ops::attention_forward(out.data(), probs.data(), qkv.data(), B, Tn, NH, NH, HS, true);
  for (auto _ : state) {
    if (backward) {
      ops::attention_backward(dqkv.data(), dout.data(), qkv.data(), probs.data(), B, Tn, NH, NH, HS, ctx);
    } else {
      ops::attention_forward(out.data(), probs.data(), qkv.data(), B, Tn, NH, NH, HS, true);
    }
  }
}
BENCHMARK(BM_attention)->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_flash_attention(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  auto qkv = random_floats(static_cast<size_t>(N) * 3 * C, 1), dout = random_floats(static_cast<size_t>(N) * C, 2);
  std::vector<float> out(static_cast<size_t>(N) * C), lse(static_cast<size_t>(B) * NH * Tn),
      dqkv(static_cast<size_t>(N) * 3 * C);
  ops::Context<float> ctx;
  ctx.reserve_scratch(ops::flash_attention_scratch_size(HS));
  ops::flash_attention_forward(out.data(), lse.data(), qkv.data(), B, Tn, NH, NH, HS, true, ctx);
  for (auto _ : state) {
    if (backward) {
      ops::flash_attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, Tn, NH, NH, HS,
                                    true, ctx);
    } else {
      ops::flash_attention_forward(out.data(), lse.data(), qkv.data(), B, Tn, NH, NH, HS, true, ctx);
    }
  }
}
BENCHMARK(BM_flash_attention)->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_layernorm(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  auto inp = random_floats(static_cast<size_t>(N) * C, 1), w = random_floats(C, 2), b = random_floats(C, 3),
       dout = random_floats(static_cast<size_t>(N) * C, 4);
  std::vector<float> out(static_cast<size_t>(N) * C), mean(N), rstd(N), dinp(static_cast<size_t>(N) * C), dw(C), db(C);
  ops::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5F);
  for (auto _ : state) {
    if (backward) {
      ops::layernorm_backward(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w.data(), mean.data(),
                              rstd.data(), N, C);
    } else {
      ops::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5F);
    }
  }
}
BENCHMARK(BM_layernorm)->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_gelu(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  const int64_t n = static_cast<int64_t>(N) * 4 * C;
  auto inp = random_floats(static_cast<size_t>(n), 1), dout = random_floats(static_cast<size_t>(n), 2);
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : state) {
    if (backward) {
      ops::gelu_backward(out.data(), inp.data(), dout.data(), n);
    } else {
      ops::gelu_forward(out.data(), inp.data(), n);
    }
  }
}
BENCHMARK(BM_gelu)->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_cross_entropy(benchmark::State& state) {
  const bool backward = state.range(0) != 0;
  auto logits = random_floats(static_cast<size_t>(N) * V, 1);
  std::vector<float> losses(N), lse(N), work(logits);
  std::vector<int32_t> targets(N);
  for (int i = 0; i < N; ++i) targets[static_cast<size_t>(i)] = i % 50257;
  double loss_sum = 0;
  for (auto _ : state) {
    if (backward) {
      ops::cross_entropy_backward(work.data(), lse.data(), targets.data(), 1.0F / N, N, 50257, V);
    } else {
      ops::cross_entropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), N, 50257, V, &loss_sum);
      benchmark::DoNotOptimize(loss_sum);
    }
  }
}
BENCHMARK(BM_cross_entropy)->ArgName("backward")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_adamw(benchmark::State& state) {
  const int64_t n = 45'000'000;  // parameters of the benchmark model
  auto p = random_floats(static_cast<size_t>(n), 1), g = random_floats(static_cast<size_t>(n), 2);
  std::vector<float> m(static_cast<size_t>(n)), v(static_cast<size_t>(n));
  ops::AdamWParams a;
  a.lr = 1e-4F;
  a.weight_decay = 0.1F;
  for (auto _ : state) ops::adamw_update(p.data(), g.data(), m.data(), v.data(), n, a);
}
BENCHMARK(BM_adamw)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
