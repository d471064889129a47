// The CUDA backend's throughput on GPT-2 124M (T = 1024): a full training step (forward and backward in one call,
// AdamW) in tokens/s and MFU, the GEMMs of the model's shapes (fp32 and bf16 operands) against the square GEMM that
// is their ceiling, the attention op, and the GPU memory used against the plan. No MPI, no HDF5: bench/gpu/run.sh runs
// it on a lent GPU. Prints markdown rows; without a GPU it says so and exits 0 (a benchmark never fails).
//
//   bench_gpu_step [--layers 12] [--width 768] [--heads 12] [--seq 1024] [--batch 8] [--vocab 50257] [--steps 10]
//                  [--warmup 3] [--peak-tflops T] [--recompute none|selective|full]
//                  [--attention flash|materialized|cudnn]
//                  [--dtype bf16|fp32] [--parts all|step]
// --peak-tflops: the MFU denominator (default: the GPU's datasheet peak for --dtype, backend/gpu_peak.hpp).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "core/readable.hpp"
#include "core/rng.hpp"
#include "model/transformer.hpp"
#include "ops/cuda/ops_cuda.hpp"
#include "optim/adamw.hpp"

namespace {

using namespace tessera;
using clock_type = std::chrono::steady_clock;

struct Options {
  int layers = 12, width = 768, heads = 12, seq = 1024, batch = 8, vocab = 50257, steps = 10, warmup = 3;
  double peak_tflops = 0;  // the MFU denominator; 0: the GPU's datasheet peak for --dtype (Backend::stated_peak_flops)
  std::string recompute = "none";
  std::string attention = "flash";
  std::string dtype = "bf16";  // train.dtype of the step
  std::string parts = "all";   // "step": the step's table alone
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
    else if (k == "--peak-tflops")
      o.peak_tflops = std::atof(v);
    else if (k == "--recompute")
      o.recompute = v;
    else if (k == "--attention")
      o.attention = v;
    else if (k == "--dtype")
      o.dtype = v;
    else if (k == "--parts")
      o.parts = v;
    else
      std::fprintf(stderr, "bench_gpu_step: ignoring unknown option %s\n", k.c_str());
  }
  return o;
}

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// Median seconds of f over `runs` after one warm-up, the device drained around each.
template <typename F>
double time_op(Backend& gpu, int runs, F&& f) {
  f();
  gpu.synchronize();
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto a = clock_type::now();
    f();
    gpu.synchronize();
    t.push_back(std::chrono::duration<double>(clock_type::now() - a).count());
  }
  return median(t);
}

void random_fill(Backend& gpu, DeviceBuffer<float>& b, uint64_t seed) {
  std::vector<float> host(static_cast<size_t>(b.size()));
  Rng rng(seed, 0);
  for (auto& x : host) x = static_cast<float>(0.02 * rng.normal());
  gpu.upload(b.data(), host.data(), b.bytes());
}

// GEMMs through the op table, fp32 and bf16 operands (the bf16 ones round their activation operand on the way in,
// as the model's do): the model's shapes against a square product, the ceiling of each path.
void bench_gemm(Backend& gpu, const Options& o) {
  const auto& ops = gpu.ops();
  auto rate = [&](bool bf16, int N, int IC, int OC) {
    DeviceBuffer<float> in(gpu, int64_t{N} * IC), w(gpu, int64_t{OC} * IC), out(gpu, int64_t{N} * OC);
    random_fill(gpu, in, 1);
    random_fill(gpu, w, 2);
    double s = 0;
    if (bf16) {
      DeviceBuffer<uint16_t> w16(gpu, w.size());
      ops.round_to_bf16(w16.data(), w.data(), w.size());
      const ops::Bf16Blocks blocks = ops::bf16_blocks(N, IC, OC);
      DeviceBuffer<float> scratch(gpu, blocks.scratch_size());
      s = time_op(gpu, 10, [&] {
        ops.matmul_forward_bf16(out.data(), in.data(), w16.data(), nullptr, N, IC, OC, false, blocks, scratch.data());
      });
    } else {
      s = time_op(gpu, 10, [&] { ops.matmul_forward(out.data(), in.data(), w.data(), nullptr, N, IC, OC, false); });
    }
    return 2.0 * N * IC * OC / s / 1e12;
  };
  const int N = o.batch * o.seq, C = o.width;
  const struct {
    const char* name;
    int ic, oc;
  } shapes[] = {
      {"qkv", C, 3 * C}, {"attn proj", C, C}, {"mlp fc", C, 4 * C}, {"mlp proj", 4 * C, C}, {"head", C, o.vocab}};
  for (const bool bf16 : {true, false}) {
    const char* type = bf16 ? "bf16 operands, fp32 accumulation" : "fp32, no TF32";
    const double ceiling = rate(bf16, 8192, 8192, 8192);
    std::printf("%s| GEMM (%s, cuBLASLt) | shape N x IC -> OC | TFLOP/s | of the square ceiling |\n|---|---|---|---|\n",
                bf16 ? "" : "\n", type);
    std::printf("| square | 8192 x 8192 -> 8192 | %.1f | 100%% |\n", ceiling);
    for (const auto& s : shapes) {
      const double r = rate(bf16, N, s.ic, s.oc);
      std::printf("| %s | %d x %d -> %d | %.1f | %.0f%% |\n", s.name, N, s.ic, s.oc, r, 100 * r / ceiling);
    }
  }
}

void bench_attention(Backend& gpu, const Options& o) {
  const auto& ops = gpu.ops();
  const int B = o.batch, Tn = o.seq, NH = o.heads, HS = o.width / o.heads;
  DeviceBuffer<float> qkv(gpu, int64_t{B} * Tn * 3 * NH * HS), out(gpu, int64_t{B} * Tn * NH * HS),
      dout(gpu, out.size()), probs(gpu, int64_t{B} * NH * Tn * Tn), lse(gpu, int64_t{B} * NH * Tn),
      dqkv(gpu, qkv.size());
  random_fill(gpu, qkv, 3);
  random_fill(gpu, dout, 4);
  ops::Context<float> ctx;
  const double flops = 4.0 * B * NH * Tn * Tn * HS / 2;  // causal: half the (T, T) products, forward
  std::printf(
      "\n| attention (causal) | B x NH x T x HS | forward ms | backward ms | forward TFLOP/s |\n"
      "|---|---|---|---|---|\n");
  auto row = [&](const char* name, double fwd, double bwd) {
    std::printf("| %s | %d x %d x %d x %d | %.2f | %.2f | %.2f |\n", name, B, NH, Tn, HS, 1e3 * fwd, 1e3 * bwd,
                flops / fwd / 1e12);
  };
  double fwd = time_op(
      gpu, 5, [&] { ops.flash_attention_forward(out.data(), lse.data(), qkv.data(), B, Tn, NH, NH, HS, true, ctx); });
  double bwd = time_op(gpu, 5, [&] {
    ops.flash_attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, Tn, NH, NH, HS, true,
                                 ctx);
  });
  row("flash (fp32 tiles, lse kept)", fwd, bwd);
  int64_t workspace = 0;
  const std::string why = ops.flash_attention_bf16_check(B, Tn, NH, NH, HS, true, &workspace);
  if (why.empty()) {
    DeviceBuffer<float> staging(gpu, ops::flash_attention_bf16_scratch_size(int64_t{B} * Tn, NH, NH, HS));
    fwd = time_op(gpu, 5, [&] {
      ops.flash_attention_bf16_forward(out.data(), lse.data(), qkv.data(), B, Tn, NH, NH, HS, true, staging.data(),
                                       ctx);
    });
    bwd = time_op(gpu, 5, [&] {
      ops.flash_attention_bf16_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, Tn, NH, NH, HS,
                                        true, staging.data(), ctx);
    });
    row("cuDNN (bf16 operands, fp32 conversions in and out included)", fwd, bwd);
  } else {
    std::printf("| cuDNN (bf16 operands) | unavailable: %s | | | |\n", why.c_str());
  }
  fwd = time_op(gpu, 5, [&] { ops.attention_forward(out.data(), probs.data(), qkv.data(), B, Tn, NH, NH, HS, true); });
  bwd = time_op(gpu, 5, [&] {
    ops.attention_backward(dqkv.data(), dout.data(), qkv.data(), probs.data(), B, Tn, NH, NH, HS, ctx);
  });
  row("materialized (fp32, probabilities kept)", fwd, bwd);
}

void bench_step(Backend& gpu, const Options& o) {
  ModelConfig m;
  m.vocab_size = o.vocab;
  m.max_seq_len = o.seq;
  m.n_layer = o.layers;
  m.n_head = o.heads;
  m.d_model = o.width;
  ModelShard shard;
  shard.recompute = recompute_from_name(o.recompute);
  shard.attention = attention_from_name(o.attention);
  shard.dtype = dtype_from_name(o.dtype);
  gpu.synchronize();
  const int64_t free_before = gpu.memory().free_bytes;
  // attention's backward scratch, or cuDNN's workspace (reserved by the check, as the trainer does)
  int64_t attention_extra = ops::cuda::attention_scratch_bytes(o.batch, o.heads, o.seq, o.attention == "flash");
  if (shard.attention == Attention::kCudnn) {
    const std::string why = gpu.ops().flash_attention_bf16_check(o.batch, o.seq, o.heads, o.heads, o.width / o.heads,
                                                                 true, &attention_extra);
    if (!why.empty()) {
      std::printf("\n| step (%s products, cudnn attention) | unavailable: %s |\n|---|---|\n", o.dtype.c_str(),
                  why.c_str());
      return;
    }
  }
  Transformer<float> model(m, o.batch, o.seq, nullptr, shard, &gpu);
  model.init_weights(1);
  AdamW optimizer(model.table(), AdamWConfig{}, {}, &gpu);
  const int n = o.batch * o.seq;
  std::vector<int32_t> tokens(static_cast<size_t>(n)), targets(static_cast<size_t>(n));
  Rng rng(1, 2);
  for (int i = 0; i < n; ++i) {
    tokens[static_cast<size_t>(i)] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(o.vocab)));
    targets[static_cast<size_t>(i)] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(o.vocab)));
  }
  std::vector<double> t;
  double loss = 0;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    gpu.synchronize();
    const auto a = clock_type::now();
    model.zero_grads();
    loss = model.forward_backward(tokens.data(), targets.data(), o.batch, o.seq, 1.0F / static_cast<float>(n));
    optimizer.step(model.params(), model.grads(), 1e-4F);
    gpu.synchronize();
    if (s >= o.warmup) t.push_back(std::chrono::duration<double>(clock_type::now() - a).count());
  }
  const int64_t used = free_before - gpu.memory().free_bytes;
  // the plan: parameters (and their bf16 copy), gradients, AdamW's moments, activations (the bf16 products' scratch
  // and cuDNN attention's operands included), attention's backward scratch or workspace (as the trainer's)
  const int64_t planned = 4 * model.flat_size() * static_cast<int64_t>(sizeof(float)) +
                          (o.dtype == "bf16" ? 2 * model.flat_size() : 0) + model.activation_bytes() + attention_extra;
  const double step = median(t);
  const double tflops = model.flops_per_token(o.seq) * n / step / 1e12;
  std::printf(
      "\n| step (%s products, %s attention, %s recompute) | B x T | step ms | tokens/s | model TFLOP/s | MFU vs %.0f | "
      "loss | GPU memory used | planned |\n|---|---|---|---|---|---|---|---|---|\n",
      o.dtype.c_str(), o.attention.c_str(), o.recompute.c_str(), o.peak_tflops);
  std::printf("| GPT-2 L=%d C=%d | %d x %d | %.1f | %.0f | %.1f | %.1f%% | %.3f | %s | %s (%+.1f%%) |\n", o.layers,
              o.width, o.batch, o.seq, 1e3 * step, n / step, tflops, 100 * tflops / o.peak_tflops, loss / n,
              bytes_string(used).c_str(), bytes_string(planned).c_str(),
              100.0 * static_cast<double>(planned - used) / static_cast<double>(std::max<int64_t>(used, 1)));
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (cuda_device_count() == 0) {
    std::printf("bench_gpu_step: skipped: no GPU (%s)\n", cuda_unavailable_reason().c_str());
    return 0;
  }
  const std::unique_ptr<Backend> gpu = make_cuda_backend(0);
  std::printf("%s\n", gpu->description().c_str());
  if (o.peak_tflops <= 0) {
    const GpuPeak peak = gpu->stated_peak_flops(o.dtype == "bf16");
    o.peak_tflops = peak.flops / 1e12;
    std::printf("MFU denominator: %.1f TFLOP/s (%s)\n\n", o.peak_tflops, peak.source.c_str());
  } else {
    std::printf("MFU denominator: %.1f TFLOP/s (--peak-tflops)\n\n", o.peak_tflops);
  }
  if (o.parts != "step") {
    bench_gemm(*gpu, o);
    bench_attention(*gpu, o);
  }
  bench_step(*gpu, o);
  return 0;
}
