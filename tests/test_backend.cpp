// The backends: memory and copies of the CPU backend, the choice of a backend by name, and every CUDA op against its
// CPU twin on the same random inputs, forward and backward (normwise relative error max|gpu - cpu| / max|cpu| under
// 1e-5 in fp32). Needs no MPI and no HDF5 (it runs as is on a lent GPU machine: bench/gpu/run.sh). Without a GPU, or
// in a build without CUDA, each CUDA test reports "skipped: no GPU" (CTest lists it as not run).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "model/transformer.hpp"
#include "ops/op_table.hpp"
#include "optim/adamw.hpp"

namespace tessera {
namespace {

using Vec = std::vector<float>;

Vec random_vec(int64_t n, uint32_t seed, float scale = 1.0F) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0F, scale);
  Vec v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(gen);
  return v;
}

double relative_error(const Vec& want, const Vec& got) {
  double diff = 0;
  double norm = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(want[i]) - got[i]));
    norm = std::max(norm, std::abs(static_cast<double>(want[i])));
  }
  return norm > 0 ? diff / norm : diff;
}

TEST(Backend, CpuMemoryAndCopies) {
  auto cpu = make_cpu_backend();
  EXPECT_STREQ(cpu->name(), "cpu");
  EXPECT_EQ(cpu->device(), Device::kCpu);
  EXPECT_EQ(cpu->ops().backend, std::string("cpu"));
  const Vec host = random_vec(1000, 1);
  DeviceBuffer<float> a(*cpu, 1000);
  DeviceBuffer<float> b(*cpu, 1000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 256, 0U);
  a.upload(host.data());
  cpu->copy(b.data(), a.data(), a.bytes());
  Vec back(1000);
  b.download(back.data());
  EXPECT_EQ(back, host);
  b.zero();
  b.download(back.data());
  EXPECT_TRUE(std::all_of(back.begin(), back.end(), [](float x) { return x == 0.0F; }));
  DeviceBuffer<float> moved = std::move(a);
  EXPECT_EQ(moved.size(), 1000);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): a moved-from buffer is empty
  EXPECT_GT(cpu->memory().total_bytes, 0);
}

TEST(Backend, ChosenByName) {
  EXPECT_STREQ(make_backend("cpu")->name(), "cpu");
  EXPECT_EQ(resolve_device("auto"), cuda_device_count() > 0 ? "cuda" : "cpu");
  try {
    make_backend("gpu");
    FAIL() << "an unknown device was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown device \"gpu\""), std::string::npos) << e.what();
  }
  if (cuda_device_count() == 0) {
    try {
      make_backend("cuda");
      FAIL() << "cuda was made without a GPU";
    } catch (const std::runtime_error& e) {
      EXPECT_FALSE(cuda_unavailable_reason().empty());
      EXPECT_EQ(std::string(e.what()), cuda_unavailable_reason());
    }
  }
}

// The MFU denominator of a GPU: the datasheet's dense figures for the GPUs this project's machines and users have
// (names as cudaDeviceProp gives them), an estimate from SMs x clock for the others, and none on the CPU.
TEST(Backend, StatedPeakOfAGpu) {
  const double T = 1e12;
  EXPECT_DOUBLE_EQ(gpu_peak_flops("NVIDIA H100 80GB HBM3", 9, 0, 132, 1.98e9, true).flops, 989.5 * T);
  EXPECT_DOUBLE_EQ(gpu_peak_flops("NVIDIA H100 80GB HBM3", 9, 0, 132, 1.98e9, false).flops, 66.9 * T);
  EXPECT_DOUBLE_EQ(gpu_peak_flops("NVIDIA H200", 9, 0, 132, 1.98e9, true).flops, 989.5 * T);
  EXPECT_DOUBLE_EQ(gpu_peak_flops("NVIDIA H100 PCIe", 9, 0, 114, 1.755e9, true).flops, 756.5 * T);
  EXPECT_DOUBLE_EQ(gpu_peak_flops("NVIDIA H100 NVL", 9, 0, 132, 1.785e9, true).flops, 835.5 * T);
  EXPECT_DOUBLE_EQ(gpu_peak_flops("NVIDIA A100-SXM4-80GB", 8, 0, 108, 1.41e9, true).flops, 312.0 * T);
  EXPECT_DOUBLE_EQ(gpu_peak_flops("NVIDIA A100-SXM4-80GB", 8, 0, 108, 1.41e9, false).flops, 19.5 * T);
  const GpuPeak h100 = gpu_peak_flops("NVIDIA H100 80GB HBM3", 9, 0, 132, 1.98e9, true);
  EXPECT_NE(h100.source.find("H100 SXM datasheet"), std::string::npos) << h100.source;
  // not in the table: SMs x clock x the architecture's rate, and the source says it is an estimate
  const GpuPeak other = gpu_peak_flops("NVIDIA Hopper-Next", 9, 0, 100, 2.0e9, true);
  EXPECT_DOUBLE_EQ(other.flops, 100 * 2.0e9 * 4096);
  EXPECT_NE(other.source.find("estimated as 100 SMs x 2.00 GHz"), std::string::npos) << other.source;
  // the A100's estimate agrees with its datasheet (its rated clock is the one the datasheet used)
  EXPECT_NEAR(gpu_peak_flops("NVIDIA Ampere part", 8, 0, 108, 1.41e9, true).flops, 312 * T, 0.01 * 312 * T);
  EXPECT_EQ(make_cpu_backend()->stated_peak_flops(true).flops, 0.0);
  if (cuda_device_count() > 0) {  // this machine's GPU: a peak, and where it came from
    const GpuPeak here = make_cuda_backend(0)->stated_peak_flops(true);
    EXPECT_GT(here.flops, 1e13) << here.source;
    EXPECT_FALSE(here.source.empty());
  }
}

// ---- CUDA against CPU

class CudaOps : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (cuda_device_count() > 0) gpu_ = make_cuda_backend(0).release();
  }
  static void TearDownTestSuite() {
    delete gpu_;
    gpu_ = nullptr;
  }
  void SetUp() override {
    if (gpu_ == nullptr) GTEST_SKIP() << "skipped: no GPU (" << cuda_unavailable_reason() << ")";
  }

  // A device copy of a host vector.
  template <typename T>
  DeviceBuffer<T> up(const std::vector<T>& host) const {
    DeviceBuffer<T> d(*gpu_, static_cast<int64_t>(host.size()));
    d.upload(host.data());
    return d;
  }
  template <typename T>
  std::vector<T> down(const DeviceBuffer<T>& d) const {
    std::vector<T> host(static_cast<size_t>(d.size()));
    d.download(host.data());
    return host;
  }
  void expect_close(const char* what, const Vec& cpu, const DeviceBuffer<float>& gpu, double tol = 1e-5) const {
    const double err = relative_error(cpu, down(gpu));
    EXPECT_LT(err, tol) << what << ": CUDA differs from the CPU by " << err;
  }
  const ops::OpTable<float>& cpu_ops() const { return ops::cpu::table<float>(); }
  const ops::OpTable<float>& gpu_ops() const { return gpu_->ops(); }

  // the shapes every test uses: odd sizes, so no kernel gets by on multiples of its block
  static constexpr int B = 2, Tn = 37, C = 72, NH = 6, NKV = 2, HS = 12, F = 100, V = 301, Vp = 384;
  static constexpr int N = B * Tn;
  static Backend* gpu_;
};

Backend* CudaOps::gpu_ = nullptr;

std::vector<int32_t> random_tokens(int n, int V, uint32_t seed, bool with_ignored = false) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int32_t> dist(0, V - 1);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = dist(gen);
  if (with_ignored) t[1] = t[5] = -1;
  return t;
}

TEST_F(CudaOps, Embedding) {
  const auto tokens = random_tokens(N, V, 1);
  for (const auto& [v0, Vn] : {std::pair{0, Vp}, std::pair{128, 128}}) {  // the whole table; a vocab-parallel slice
    Vec wte = random_vec(static_cast<int64_t>(Vn) * C, 2), wpe = random_vec(Tn * C, 3), out(N * C);
    auto d_tokens = up(tokens);
    auto d_wte = up(wte), d_wpe = up(wpe), d_out = up(out);
    cpu_ops().embedding_forward(out.data(), tokens.data(), wte.data(), wpe.data(), B, Tn, C, v0, Vn);
    gpu_ops().embedding_forward(d_out.data(), d_tokens.data(), d_wte.data(), d_wpe.data(), B, Tn, C, v0, Vn);
    expect_close("embedding_forward", out, d_out);
    Vec dout = random_vec(N * C, 4), dwte = random_vec(static_cast<int64_t>(Vn) * C, 5), dwpe = random_vec(Tn * C, 6);
    auto d_dout = up(dout), d_dwte = up(dwte), d_dwpe = up(dwpe);
    cpu_ops().embedding_backward(dwte.data(), dwpe.data(), dout.data(), tokens.data(), B, Tn, C, v0, Vn);
    gpu_ops().embedding_backward(d_dwte.data(), d_dwpe.data(), d_dout.data(), d_tokens.data(), B, Tn, C, v0, Vn);
    expect_close("embedding_backward dwte", dwte, d_dwte);
    expect_close("embedding_backward dwpe", dwpe, d_dwpe);
  }
}

TEST_F(CudaOps, Residual) {
  Vec x = random_vec(N * C, 1), y = random_vec(N * C, 2), bias = random_vec(C, 3), out(N * C);
  auto dx = up(x), dy = up(y), db = up(bias), dout = up(out);
  for (const bool with_bias : {true, false}) {
    cpu_ops().residual_forward(out.data(), x.data(), y.data(), with_bias ? bias.data() : nullptr, N, C);
    gpu_ops().residual_forward(dout.data(), dx.data(), dy.data(), with_bias ? db.data() : nullptr, N, C);
    expect_close("residual_forward", out, dout);
  }
}

TEST_F(CudaOps, LayerNorm) {
  Vec x = random_vec(N * C, 1, 2.0F), w = random_vec(C, 2), b = random_vec(C, 3), out(N * C), mean(N), rstd(N);
  auto d_x = up(x), d_w = up(w), d_b = up(b), d_out = up(out), d_mean = up(mean), d_rstd = up(rstd);
  cpu_ops().layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, C, 1e-5F);
  gpu_ops().layernorm_forward(d_out.data(), d_mean.data(), d_rstd.data(), d_x.data(), d_w.data(), d_b.data(), N, C,
                              1e-5F);
  expect_close("layernorm_forward out", out, d_out);
  expect_close("layernorm_forward mean", mean, d_mean);
  expect_close("layernorm_forward rstd", rstd, d_rstd);
  Vec dout = random_vec(N * C, 4), dx = random_vec(N * C, 5), dw = random_vec(C, 6), db = random_vec(C, 7);
  auto d_dout = up(dout), d_dx = up(dx), d_dw = up(dw), d_db = up(db);
  cpu_ops().layernorm_backward(dx.data(), dw.data(), db.data(), dout.data(), x.data(), w.data(), mean.data(),
                               rstd.data(), N, C);
  gpu_ops().layernorm_backward(d_dx.data(), d_dw.data(), d_db.data(), d_dout.data(), d_x.data(), d_w.data(),
                               d_mean.data(), d_rstd.data(), N, C);
  expect_close("layernorm_backward dinp (accumulated)", dx, d_dx);
  expect_close("layernorm_backward dw", dw, d_dw);
  expect_close("layernorm_backward db", db, d_db);
}

// The residual add fused with the norm after it, against the CPU's fused op, with and without a bias.
TEST_F(CudaOps, ResidualNorms) {
  Vec x = random_vec(N * C, 1), y = random_vec(N * C, 2), bias = random_vec(C, 3), w = random_vec(C, 4),
      b = random_vec(C, 5), res(N * C), out(N * C), mean(N), rstd(N);
  auto d_x = up(x), d_y = up(y), d_bias = up(bias), d_w = up(w), d_b = up(b), d_res = up(res), d_out = up(out),
       d_mean = up(mean), d_rstd = up(rstd);
  for (const bool with_bias : {true, false}) {
    const float* cb = with_bias ? bias.data() : nullptr;
    const float* gb = with_bias ? d_bias.data() : nullptr;
    cpu_ops().residual_layernorm_forward(res.data(), out.data(), mean.data(), rstd.data(), x.data(), y.data(), cb,
                                         w.data(), b.data(), N, C, 1e-5F);
    gpu_ops().residual_layernorm_forward(d_res.data(), d_out.data(), d_mean.data(), d_rstd.data(), d_x.data(),
                                         d_y.data(), gb, d_w.data(), d_b.data(), N, C, 1e-5F);
    expect_close("residual_layernorm_forward res", res, d_res);
    expect_close("residual_layernorm_forward out", out, d_out);
    expect_close("residual_layernorm_forward mean", mean, d_mean);
    expect_close("residual_layernorm_forward rstd", rstd, d_rstd);
    cpu_ops().residual_rmsnorm_forward(res.data(), out.data(), rstd.data(), x.data(), y.data(), cb, w.data(), N, C,
                                       1e-6F);
    gpu_ops().residual_rmsnorm_forward(d_res.data(), d_out.data(), d_rstd.data(), d_x.data(), d_y.data(), gb,
                                       d_w.data(), N, C, 1e-6F);
    expect_close("residual_rmsnorm_forward res", res, d_res);
    expect_close("residual_rmsnorm_forward out", out, d_out);
    expect_close("residual_rmsnorm_forward rstd", rstd, d_rstd);
  }
}

TEST_F(CudaOps, RmsNorm) {
  Vec x = random_vec(N * C, 1, 2.0F), w = random_vec(C, 2), out(N * C), rstd(N);
  auto d_x = up(x), d_w = up(w), d_out = up(out), d_rstd = up(rstd);
  cpu_ops().rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, C, 1e-6F);
  gpu_ops().rmsnorm_forward(d_out.data(), d_rstd.data(), d_x.data(), d_w.data(), N, C, 1e-6F);
  expect_close("rmsnorm_forward out", out, d_out);
  expect_close("rmsnorm_forward rstd", rstd, d_rstd);
  Vec dout = random_vec(N * C, 4), dx = random_vec(N * C, 5), dw = random_vec(C, 6);
  auto d_dout = up(dout), d_dx = up(dx), d_dw = up(dw);
  cpu_ops().rmsnorm_backward(dx.data(), dw.data(), dout.data(), x.data(), w.data(), rstd.data(), N, C);
  gpu_ops().rmsnorm_backward(d_dx.data(), d_dw.data(), d_dout.data(), d_x.data(), d_w.data(), d_rstd.data(), N, C);
  expect_close("rmsnorm_backward dinp (accumulated)", dx, d_dx);
  expect_close("rmsnorm_backward dw", dw, d_dw);
}

TEST_F(CudaOps, Matmul) {
  const int IC = C, OC = 3 * C + 5;
  Vec inp = random_vec(N * IC, 1), w = random_vec(OC * IC, 2, 0.1F), bias = random_vec(OC, 3);
  auto d_inp = up(inp), d_w = up(w), d_bias = up(bias);
  for (const bool with_bias : {true, false}) {
    for (const bool accumulate : {false, true}) {
      Vec out = random_vec(N * OC, 4);
      auto d_out = up(out);
      cpu_ops().matmul_forward(out.data(), inp.data(), w.data(), with_bias ? bias.data() : nullptr, N, IC, OC,
                               accumulate);
      gpu_ops().matmul_forward(d_out.data(), d_inp.data(), d_w.data(), with_bias ? d_bias.data() : nullptr, N, IC, OC,
                               accumulate);
      expect_close(with_bias ? (accumulate ? "matmul_forward +bias +=" : "matmul_forward +bias")
                             : (accumulate ? "matmul_forward +=" : "matmul_forward"),
                   out, d_out);
    }
  }
  Vec dout = random_vec(N * OC, 5), dinp(N * IC), dw = random_vec(OC * IC, 6), dbias = random_vec(OC, 7);
  auto d_dout = up(dout), d_dinp = up(dinp), d_dw = up(dw), d_dbias = up(dbias);
  cpu_ops().matmul_backward(dinp.data(), dw.data(), dbias.data(), dout.data(), inp.data(), w.data(), N, IC, OC);
  gpu_ops().matmul_backward(d_dinp.data(), d_dw.data(), d_dbias.data(), d_dout.data(), d_inp.data(), d_w.data(), N, IC,
                            OC);
  expect_close("matmul_backward dinp", dinp, d_dinp);
  expect_close("matmul_backward dw (accumulated)", dw, d_dw);
  expect_close("matmul_backward dbias (accumulated)", dbias, d_dbias);
}

// bf16 operands: the rounding bit for bit (NaN stays NaN), and the products against the CPU's (both exact products of
// the same bf16 values accumulated in fp32: only the order of the sums differs), in one block and across blocks.
TEST_F(CudaOps, Bf16Matmul) {
  Vec x = random_vec(4099, 1, 3.0F);
  x[0] = std::numeric_limits<float>::infinity();
  x[1] = std::numeric_limits<float>::max();
  x[2] = std::bit_cast<float>(0x3f808000U);  // a tie
  x[3] = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint16_t> want(x.size()), got(x.size());
  DeviceBuffer<uint16_t> d_bits(*gpu_, static_cast<int64_t>(x.size()));
  auto d_x = up(x);
  cpu_ops().round_to_bf16(want.data(), x.data(), static_cast<int64_t>(x.size()));
  gpu_ops().round_to_bf16(d_bits.data(), d_x.data(), static_cast<int64_t>(x.size()));
  got = down(d_bits);
  EXPECT_EQ((got[3] & 0x7f80U), 0x7f80U);
  EXPECT_NE((got[3] & 0x007fU), 0U) << "NaN";
  got[3] = want[3];
  EXPECT_EQ(got, want);

  const int IC = C, OC = 3 * C + 5;
  Vec inp = random_vec(N * IC, 1), w = random_vec(OC * IC, 2, 0.1F), bias = random_vec(OC, 3);
  std::vector<uint16_t> w16(w.size());
  cpu_ops().round_to_bf16(w16.data(), w.data(), static_cast<int64_t>(w.size()));
  auto d_inp = up(inp), d_bias = up(bias);
  auto d_w16 = up(w16);
  for (const int64_t block : {ops::kBf16BlockElements, int64_t{2000}}) {
    const ops::Bf16Blocks blocks = ops::bf16_blocks(N, IC, OC, block);
    Vec scratch(static_cast<size_t>(blocks.scratch_size()));
    DeviceBuffer<float> d_scratch(*gpu_, blocks.scratch_size());
    const std::string where =
        block == ops::kBf16BlockElements ? "" : " (blocks of " + std::to_string(blocks.rows) + " rows)";
    for (const bool with_bias : {true, false}) {
      for (const bool accumulate : {false, true}) {
        Vec out = random_vec(N * OC, 4);
        auto d_out = up(out);
        cpu_ops().matmul_forward_bf16(out.data(), inp.data(), w16.data(), with_bias ? bias.data() : nullptr, N, IC, OC,
                                      accumulate, blocks, scratch.data());
        gpu_ops().matmul_forward_bf16(d_out.data(), d_inp.data(), d_w16.data(), with_bias ? d_bias.data() : nullptr, N,
                                      IC, OC, accumulate, blocks, d_scratch.data());
        expect_close(
            ("matmul_forward_bf16" + std::string(with_bias ? " +bias" : "") + (accumulate ? " +=" : "") + where)
                .c_str(),
            out, d_out, 1e-4);
      }
    }
    Vec dout = random_vec(N * OC, 5), dinp(N * IC), dw = random_vec(OC * IC, 6), dbias = random_vec(OC, 7);
    auto d_dout = up(dout), d_dinp = up(dinp), d_dw = up(dw), d_dbias = up(dbias);
    cpu_ops().matmul_backward_bf16(dinp.data(), dw.data(), dbias.data(), dout.data(), inp.data(), w16.data(), N, IC, OC,
                                   blocks, scratch.data());
    gpu_ops().matmul_backward_bf16(d_dinp.data(), d_dw.data(), d_dbias.data(), d_dout.data(), d_inp.data(),
                                   d_w16.data(), N, IC, OC, blocks, d_scratch.data());
    expect_close(("matmul_backward_bf16 dinp" + where).c_str(), dinp, d_dinp, 1e-4);
    expect_close(("matmul_backward_bf16 dw (accumulated)" + where).c_str(), dw, d_dw, 1e-4);
    expect_close(("matmul_backward_bf16 dbias (accumulated)" + where).c_str(), dbias, d_dbias);
  }
}

TEST_F(CudaOps, GeluAndSwiglu) {
  const int64_t n = static_cast<int64_t>(N) * F;
  Vec x = random_vec(n, 1, 2.0F), out(n), dout = random_vec(n, 2), dx(n);
  auto d_x = up(x), d_out = up(out), d_dout = up(dout), d_dx = up(dx);
  cpu_ops().gelu_forward(out.data(), x.data(), n);
  gpu_ops().gelu_forward(d_out.data(), d_x.data(), n);
  expect_close("gelu_forward", out, d_out);
  cpu_ops().gelu_backward(dx.data(), x.data(), dout.data(), n);
  gpu_ops().gelu_backward(d_dx.data(), d_x.data(), d_dout.data(), n);
  expect_close("gelu_backward", dx, d_dx);

  Vec gu = random_vec(2 * n, 3, 2.0F), dgu(2 * n);
  auto d_gu = up(gu), d_dgu = up(dgu);
  cpu_ops().swiglu_forward(out.data(), gu.data(), N, F);
  gpu_ops().swiglu_forward(d_out.data(), d_gu.data(), N, F);
  expect_close("swiglu_forward", out, d_out);
  cpu_ops().swiglu_backward(dgu.data(), gu.data(), dout.data(), N, F);
  gpu_ops().swiglu_backward(d_dgu.data(), d_gu.data(), d_dout.data(), N, F);
  expect_close("swiglu_backward", dgu, d_dgu);
}

TEST_F(CudaOps, Rope) {
  const int64_t n = static_cast<int64_t>(N) * (NH + 2 * NKV) * HS;
  std::vector<float> cos(Tn * HS / 2), sin(Tn * HS / 2);
  ops::rope_tables(cos.data(), sin.data(), Tn, HS, 10000.0F);
  auto d_cos = up(cos), d_sin = up(sin);
  Vec qkv = random_vec(n, 1);
  auto d_qkv = up(qkv);
  cpu_ops().rope_forward(qkv.data(), cos.data(), sin.data(), B, Tn, NH, NKV, HS);
  gpu_ops().rope_forward(d_qkv.data(), d_cos.data(), d_sin.data(), B, Tn, NH, NKV, HS);
  expect_close("rope_forward", qkv, d_qkv);
  cpu_ops().rope_backward(qkv.data(), cos.data(), sin.data(), B, Tn, NH, NKV, HS);
  gpu_ops().rope_backward(d_qkv.data(), d_cos.data(), d_sin.data(), B, Tn, NH, NKV, HS);
  expect_close("rope_backward", qkv, d_qkv);
}

TEST_F(CudaOps, Attention) {
  const int64_t n_out = static_cast<int64_t>(N) * NH * HS;
  const int64_t n_probs = static_cast<int64_t>(B) * NH * Tn * Tn;
  for (const bool causal : {true, false}) {
    for (const int kv : {NKV, NH}) {  // grouped-query and plain multi-head
      const int64_t nq = static_cast<int64_t>(N) * (NH + 2 * kv) * HS;
      Vec qkv = random_vec(nq, 1), out(n_out), probs(n_probs);
      auto d_qkv = up(qkv), d_out = up(out), d_probs = up(probs);
      cpu_ops().attention_forward(out.data(), probs.data(), qkv.data(), B, Tn, NH, kv, HS, causal);
      gpu_ops().attention_forward(d_out.data(), d_probs.data(), d_qkv.data(), B, Tn, NH, kv, HS, causal);
      expect_close(causal ? "attention_forward (causal) out" : "attention_forward out", out, d_out);
      expect_close("attention_forward probs", probs, d_probs);
      Vec dout = random_vec(n_out, 2), dqkv(qkv.size());
      auto d_dout = up(dout), d_dqkv = up(dqkv);
      ops::Context<float> ctx;
      ctx.reserve_scratch(ops::attention_scratch_size(Tn));
      cpu_ops().attention_backward(dqkv.data(), dout.data(), qkv.data(), probs.data(), B, Tn, NH, kv, HS, ctx);
      gpu_ops().attention_backward(d_dqkv.data(), d_dout.data(), d_qkv.data(), d_probs.data(), B, Tn, NH, kv, HS, ctx);
      expect_close(causal ? "attention_backward (causal)" : "attention_backward", dqkv, d_dqkv);
    }
  }
}

// The tiled attention against the CPU's, within one tile (37) and across the CPU's 64-query tiles (150).
TEST_F(CudaOps, FlashAttention) {
  for (const int T : {Tn, 150}) {
    for (const bool causal : {true, false}) {
      for (const int kv : {NKV, NH}) {
        const int64_t n_out = static_cast<int64_t>(B) * T * NH * HS;
        const int64_t nq = static_cast<int64_t>(B) * T * (NH + 2 * kv) * HS;
        Vec qkv = random_vec(nq, 1), out(n_out), lse(static_cast<int64_t>(B) * NH * T);
        auto d_qkv = up(qkv), d_out = up(out), d_lse = up(lse);
        ops::Context<float> ctx;
        ctx.reserve_scratch(ops::flash_attention_scratch_size(HS));
        const std::string what =
            "flash attention T " + std::to_string(T) + (causal ? " causal" : "") + (kv == NH ? "" : " grouped-query");
        cpu_ops().flash_attention_forward(out.data(), lse.data(), qkv.data(), B, T, NH, kv, HS, causal, ctx);
        gpu_ops().flash_attention_forward(d_out.data(), d_lse.data(), d_qkv.data(), B, T, NH, kv, HS, causal, ctx);
        expect_close((what + " out").c_str(), out, d_out);
        expect_close((what + " lse").c_str(), lse, d_lse);
        Vec dout = random_vec(n_out, 2), dqkv(qkv.size());
        auto d_dout = up(dout), d_dqkv = up(dqkv);
        cpu_ops().flash_attention_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, T, NH, kv,
                                           HS, causal, ctx);
        gpu_ops().flash_attention_backward(d_dqkv.data(), d_dout.data(), d_qkv.data(), d_out.data(), d_lse.data(), B, T,
                                           NH, kv, HS, causal, ctx);
        expect_close((what + " backward").c_str(), dqkv, d_dqkv);
      }
    }
  }
}

// Attention with bf16 operands: cuDNN's fused flash attention against the CPU's reference (the flash op between the
// same roundings; cuDNN also rounds the probabilities before they multiply v), within bf16's precision, at head size
// 64 (cuDNN's kernels take head sizes that are multiples of 8), one tile of the CPU's and across its tiles.
TEST_F(CudaOps, FlashAttentionBf16IsCudnns) {
  const int heads = 4, hs = 64;
  for (const int T : {Tn, 150}) {
    for (const bool causal : {true, false}) {
      for (const int kv : {2, heads}) {
        const std::string what = "cuDNN attention T " + std::to_string(T) + (causal ? " causal" : "") +
                                 (kv == heads ? "" : " grouped-query");
        int64_t workspace = -1;
        const std::string why = gpu_ops().flash_attention_bf16_check(B, T, heads, kv, hs, causal, &workspace);
        ASSERT_EQ(why, "") << what << ": cuDNN attention cannot run here";
        EXPECT_GE(workspace, 0);
        const int64_t BT = static_cast<int64_t>(B) * T, n_out = BT * heads * hs, nq = BT * (heads + 2 * kv) * hs;
        Vec qkv = random_vec(nq, 1), out(n_out), lse(static_cast<int64_t>(B) * heads * T), dqkv(nq);
        Vec dout = random_vec(n_out, 2), scratch(ops::flash_attention_bf16_scratch_size(BT, heads, kv, hs));
        auto d_qkv = up(qkv), d_out = up(out), d_lse = up(lse), d_dout = up(dout), d_dqkv = up(dqkv);
        auto d_scratch = up(scratch);
        ops::Context<float> ctx;
        ctx.reserve_scratch(ops::flash_attention_scratch_size(hs));
        cpu_ops().flash_attention_bf16_forward(out.data(), lse.data(), qkv.data(), B, T, heads, kv, hs, causal,
                                               scratch.data(), ctx);
        gpu_ops().flash_attention_bf16_forward(d_out.data(), d_lse.data(), d_qkv.data(), B, T, heads, kv, hs, causal,
                                               d_scratch.data(), ctx);
        expect_close((what + " out").c_str(), out, d_out, 1e-2);
        expect_close((what + " lse").c_str(), lse, d_lse, 1e-2);
        cpu_ops().flash_attention_bf16_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, T,
                                                heads, kv, hs, causal, scratch.data(), ctx);
        gpu_ops().flash_attention_bf16_backward(d_dqkv.data(), d_dout.data(), d_qkv.data(), d_out.data(), d_lse.data(),
                                                B, T, heads, kv, hs, causal, d_scratch.data(), ctx);
        expect_close((what + " backward").c_str(), dqkv, d_dqkv, 1e-2);
      }
    }
  }
}

TEST_F(CudaOps, CrossEntropy) {
  const auto targets = random_tokens(N, V, 7, true);
  auto d_targets = up(targets);
  Vec logits = random_vec(static_cast<int64_t>(N) * Vp, 1, 3.0F), losses(N), lse(N);
  auto d_logits = up(logits), d_losses = up(losses), d_lse = up(lse);
  // the loss sums add to what their doubles hold (0.5 here), on the device
  double cpu_sum = 0.5;
  auto d_sum = up(std::vector<double>{0.5});
  cpu_ops().cross_entropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), N, V, Vp, &cpu_sum);
  gpu_ops().cross_entropy_forward(d_losses.data(), d_lse.data(), d_logits.data(), d_targets.data(), N, V, Vp,
                                  d_sum.data());
  EXPECT_NEAR(down(d_sum)[0], cpu_sum, 1e-5 * std::abs(cpu_sum));
  expect_close("cross_entropy_forward losses", losses, d_losses);
  expect_close("cross_entropy_forward lse", lse, d_lse);
  const float dloss = 1.0F / static_cast<float>(N - 2);
  Vec dlogits = logits;
  auto d_dlogits = up(logits);
  cpu_ops().cross_entropy_backward(dlogits.data(), lse.data(), targets.data(), dloss, N, V, Vp);
  gpu_ops().cross_entropy_backward(d_dlogits.data(), d_lse.data(), d_targets.data(), dloss, N, V, Vp);
  expect_close("cross_entropy_backward", dlogits, d_dlogits);
  Vec fused = logits;
  auto d_fused = up(logits);
  double cpu_fused = 0.5;
  auto d_fused_sum = up(std::vector<double>{0.5});
  cpu_ops().cross_entropy_forward_backward(fused.data(), losses.data(), targets.data(), dloss, N, V, Vp, &cpu_fused);
  gpu_ops().cross_entropy_forward_backward(d_fused.data(), d_losses.data(), d_targets.data(), dloss, N, V, Vp,
                                           d_fused_sum.data());
  EXPECT_NEAR(down(d_fused_sum)[0], cpu_fused, 1e-5 * std::abs(cpu_fused));
  expect_close("cross_entropy_forward_backward dlogits", fused, d_fused);
}

TEST_F(CudaOps, VocabParallelCrossEntropy) {
  const int Vp_local = Vp / 2;
  const auto targets = random_tokens(N, V, 7, true);
  auto d_targets = up(targets);
  for (const int v0 : {0, Vp_local}) {  // the two ranks of tp = 2: the second holds V - Vp_local real rows
    const int Vn = std::clamp(V - v0, 0, Vp_local);
    Vec logits = random_vec(static_cast<int64_t>(N) * Vp_local, 1, 3.0F), rowmax(N), sums(2 * N);
    auto d_logits = up(logits), d_rowmax = up(rowmax), d_sums = up(sums);
    cpu_ops().vocab_parallel_max(rowmax.data(), logits.data(), N, Vn, Vp_local);
    gpu_ops().vocab_parallel_max(d_rowmax.data(), d_logits.data(), N, Vn, Vp_local);
    expect_close("vocab_parallel_max", rowmax, d_rowmax);
    cpu_ops().vocab_parallel_sum_exp(sums.data(), logits.data(), rowmax.data(), targets.data(), N, v0, Vn, Vp_local);
    gpu_ops().vocab_parallel_sum_exp(d_sums.data(), d_logits.data(), d_rowmax.data(), d_targets.data(), N, v0, Vn,
                                     Vp_local);
    expect_close("vocab_parallel_sum_exp", sums, d_sums);
    Vec lse = rowmax, losses(N);  // one rank's sums stand for the all-reduced ones
    auto d_lse = up(lse), d_losses = up(losses);
    double cpu_total = 0.5;
    auto d_total = up(std::vector<double>{0.5});
    cpu_ops().vocab_parallel_loss(losses.data(), lse.data(), sums.data(), targets.data(), N, &cpu_total);
    gpu_ops().vocab_parallel_loss(d_losses.data(), d_lse.data(), d_sums.data(), d_targets.data(), N, d_total.data());
    EXPECT_NEAR(down(d_total)[0], cpu_total, 1e-5 * std::abs(cpu_total));
    expect_close("vocab_parallel_loss losses", losses, d_losses);
    expect_close("vocab_parallel_loss lse", lse, d_lse);
    cpu_ops().vocab_parallel_backward(logits.data(), lse.data(), targets.data(), 0.01F, N, v0, Vn, Vp_local);
    gpu_ops().vocab_parallel_backward(d_logits.data(), d_lse.data(), d_targets.data(), 0.01F, N, v0, Vn, Vp_local);
    expect_close("vocab_parallel_backward", logits, d_logits);
  }
}

TEST_F(CudaOps, ReductionsAndAdamW) {
  const int64_t n = 3'000'001;  // more than one pass of the reduction's grid
  Vec x = random_vec(n, 1);
  auto d_x = up(x);
  const double cpu_ss = cpu_ops().sum_squares(x.data(), n);
  const double gpu_ss = gpu_ops().sum_squares(d_x.data(), n);
  EXPECT_NEAR(gpu_ss, cpu_ss, 1e-9 * cpu_ss);
  EXPECT_EQ(gpu_ops().sum_squares(d_x.data(), n), gpu_ss) << "the same bits twice";
  const std::vector<double> start = {0.5, 0.25};
  DeviceBuffer<double> d_sums = up(start);
  gpu_ops().sum_squares_to(d_sums.data() + 1, d_x.data(), n);  // added to what is there, the other left alone
  gpu_ops().sum_squares_to(d_sums.data() + 1, d_x.data(), 1000);
  const std::vector<double> sums = down(d_sums);
  EXPECT_EQ(sums[0], 0.5);
  EXPECT_NEAR(sums[1], 0.25 + gpu_ss + cpu_ops().sum_squares(x.data(), 1000), 1e-9 * gpu_ss);
  EXPECT_FALSE(gpu_ops().has_nonfinite(d_x.data(), n));
  cpu_ops().scale(x.data(), 0.5F, n);
  gpu_ops().scale(d_x.data(), 0.5F, n);
  expect_close("scale", x, d_x, 0);
  for (const float bad : {NAN, INFINITY}) {
    Vec y = x;
    y[n - 2] = bad;
    auto d_y = up(y);
    EXPECT_TRUE(gpu_ops().has_nonfinite(d_y.data(), n)) << bad;
  }
  Vec p = random_vec(n, 2), g = random_vec(n, 3), m = random_vec(n, 4, 0.1F), v = random_vec(n, 5, 0.1F);
  for (auto& e : v) e = std::abs(e);
  auto d_p = up(p), d_g = up(g), d_m = up(m), d_v = up(v);
  ops::AdamWParams params;
  params.lr = 3e-4F;
  params.weight_decay = 0.1F;
  params.t = 7;
  cpu_ops().adamw_update(p.data(), g.data(), m.data(), v.data(), n, params);
  gpu_ops().adamw_update(d_p.data(), d_g.data(), d_m.data(), d_v.data(), n, params);
  expect_close("adamw_update param", p, d_p);
  expect_close("adamw_update m", m, d_m);
  expect_close("adamw_update v", v, d_v);
}

TEST_F(CudaOps, BackendCopiesAndMemory) {
  EXPECT_STREQ(gpu_->name(), "cuda");
  EXPECT_EQ(gpu_ops().backend, std::string("cuda"));
  const Vec host = random_vec(4097, 1);
  auto a = up(host);
  DeviceBuffer<float> b(*gpu_, 4097);
  gpu_->copy(b.data(), a.data(), a.bytes());
  EXPECT_EQ(down(b), host);
  b.zero();
  EXPECT_EQ(down(b), Vec(4097, 0.0F));
  const DeviceMemory m = gpu_->memory();
  EXPECT_GT(m.total_bytes, 0);
  EXPECT_LE(m.free_bytes, m.total_bytes);
  try {
    DeviceBuffer<float> huge(*gpu_, m.total_bytes);  // four times the device
    FAIL() << "allocated more than the device holds";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("out of GPU memory"), std::string::npos) << e.what();
  }
}

// ---- training: the model and AdamW on each backend from the same weights and batches

ModelConfig small_model(const std::string& family, Objective objective) {
  ModelConfig m;
  m.family = family;
  m.apply_family_defaults();
  m.vocab_size = 301;  // padded to 384
  m.max_seq_len = 32;
  m.n_layer = 2;
  m.n_head = 4;
  m.n_kv_head = family == "llama" ? 2 : 4;
  m.d_model = 64;
  m.d_ff = family == "llama" ? 160 : 0;
  m.objective = objective;
  m.mask_token_id = 300;
  return m;
}

// The loss of each of `steps` AdamW steps on batches drawn from a fixed generator (MLM: 15% of positions masked and
// targeted; CLM: the next token).
std::vector<double> train_losses(Backend& backend, const ModelConfig& config, int steps,
                                 Attention attention = Attention::kMaterialized, DType dtype = DType::kFp32) {
  const int B = 4, Tn = 32, N = B * Tn;
  ModelShard shard;
  shard.attention = attention;
  shard.dtype = dtype;
  Transformer<float> model(config, B, Tn, nullptr, shard, &backend);
  model.init_weights(1234);
  AdamW optimizer(model.table(), AdamWConfig{}, {}, &backend);
  std::mt19937 gen(99);
  std::uniform_int_distribution<int32_t> token(0, config.vocab_size - 2);
  std::uniform_real_distribution<float> coin(0.0F, 1.0F);
  std::vector<int32_t> tokens(N), targets(N);
  std::vector<double> losses;
  for (int step = 0; step < steps; ++step) {
    for (auto& t : tokens) t = token(gen);
    int targeted = 0;
    for (int i = 0; i < N; ++i) {
      if (config.objective == Objective::kCausal) {
        targets[i] = (i + 1) % Tn == 0 ? -1 : tokens[i + 1];
      } else if (coin(gen) < 0.15F) {
        targets[i] = tokens[i];
        tokens[i] = config.mask_token_id;
      } else {
        targets[i] = -1;
      }
      targeted += targets[i] >= 0 ? 1 : 0;
    }
    model.zero_grads();
    const double loss =
        model.forward_backward(tokens.data(), targets.data(), B, Tn, 1.0F / static_cast<float>(targeted));
    optimizer.step(model.params(), model.grads(), 1e-3F);
    losses.push_back(loss / targeted);
  }
  return losses;
}

TEST(BackendTraining, CpuBackendGivenExplicitlyIsTheDefault) {
  auto cpu = make_cpu_backend();
  const ModelConfig m = small_model("llama", Objective::kCausal);
  {
    Transformer<float> model(m, 4, 32);
    EXPECT_STREQ(model.backend().name(), "cpu");
  }
  const auto a = train_losses(*cpu, m, 3);
  const auto b = train_losses(*make_cpu_backend(), m, 3);
  EXPECT_EQ(a, b);
  EXPECT_LT(a.back(), a.front());
}

TEST_F(CudaOps, TwentyTrainingStepsMatchTheCpu) {
  auto cpu = make_cpu_backend();
  for (const char* family : {"gpt2", "llama"}) {
    for (const Objective objective : {Objective::kCausal, Objective::kMasked}) {
      const ModelConfig m = small_model(family, objective);
      const auto want = train_losses(*cpu, m, 20);
      for (const Attention attention : {Attention::kMaterialized, Attention::kFlash}) {  // flash: the GPU's default
        const auto got = train_losses(*gpu_, m, 20, attention);
        for (size_t i = 0; i < want.size(); ++i) {
          EXPECT_NEAR(got[i], want[i], 1e-4 * std::abs(want[i]))
              << family << " " << to_string(objective) << (attention == Attention::kFlash ? " flash" : "") << " step "
              << i + 1;
        }
      }
      // bf16 products: against the CPU's bf16 emulation (the same rounded operands) and within 1e-2 of fp32; with
      // cuDNN's bf16 attention too (its CPU reference does not round the probabilities as cuDNN does: 5e-3)
      const auto cpu_bf16 = train_losses(*cpu, m, 20, Attention::kFlash, DType::kBf16);
      const auto gpu_bf16 = train_losses(*gpu_, m, 20, Attention::kFlash, DType::kBf16);
      const auto cpu_cudnn = train_losses(*cpu, m, 20, Attention::kCudnn, DType::kBf16);
      const auto gpu_cudnn = train_losses(*gpu_, m, 20, Attention::kCudnn, DType::kBf16);
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_NEAR(gpu_bf16[i], cpu_bf16[i], 1e-3 * std::abs(cpu_bf16[i]))
            << family << " " << to_string(objective) << " bf16 step " << i + 1;
        EXPECT_NEAR(gpu_bf16[i], want[i], 1e-2 * std::abs(want[i]))
            << family << " " << to_string(objective) << " bf16 against fp32, step " << i + 1;
        EXPECT_NEAR(gpu_cudnn[i], cpu_cudnn[i], 5e-3 * std::abs(cpu_cudnn[i]))
            << family << " " << to_string(objective) << " bf16 with cuDNN attention, step " << i + 1;
        EXPECT_NEAR(gpu_cudnn[i], want[i], 1e-2 * std::abs(want[i]))
            << family << " " << to_string(objective) << " bf16 with cuDNN attention against fp32, step " << i + 1;
      }
    }
  }
}

// After the first step (which sizes the attention scratch, and builds cuDNN's graphs), a step allocates no GPU memory.
TEST_F(CudaOps, AStepAllocatesNothing) {
  const ModelConfig m = small_model("llama", Objective::kCausal);
  for (const auto& [dtype, attention] :
       {std::pair{DType::kFp32, Attention::kFlash}, std::pair{DType::kBf16, Attention::kFlash},
        std::pair{DType::kBf16, Attention::kCudnn}}) {
    ModelShard shard;
    shard.attention = attention;
    shard.dtype = dtype;
    Transformer<float> model(m, 4, 32, nullptr, shard, gpu_);
    model.init_weights(1);
    AdamW optimizer(model.table(), AdamWConfig{}, {}, gpu_);
    std::vector<int32_t> tokens(4 * 32, 7), targets(4 * 32, 8);
    auto step = [&] {
      model.zero_grads();
      model.forward_backward(tokens.data(), targets.data(), 4, 32, 1.0F / 128);
      optimizer.step(model.params(), model.grads(), 1e-3F);
      gpu_->synchronize();
    };
    step();
    const int64_t free_before = gpu_->memory().free_bytes;
    for (int i = 0; i < 3; ++i) step();
    EXPECT_EQ(gpu_->memory().free_bytes, free_before)
        << (dtype == DType::kBf16 ? "bf16" : "fp32") << (attention == Attention::kCudnn ? ", cuDNN attention" : "");
  }
}

}  // namespace
}  // namespace tessera
