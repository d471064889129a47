// Every op's backward against central finite differences, in double precision.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/blas.hpp"
#include "gradcheck.hpp"
#include "ops/cpu/fast_math.hpp"
#include "ops/ops.hpp"

namespace tessera {
namespace {

using testing::expect_gradient;
using testing::random_vector;
using testing::weighted_sum;
using Vec = std::vector<double>;

TEST(OpsGrad, Embedding) {
  const int B = 2, Tn = 3, C = 5, V = 4;
  std::vector<int32_t> tokens = {1, 3, 1, 0, 1, 2};  // repeated tokens: the scatter-add must add up
  // the whole vocabulary, and a vocab-parallel slice of rows [1, 3) (tokens 0 and 3 belong to other ranks)
  for (const auto& [v0, Vn] : {std::pair{0, V}, std::pair{1, 2}}) {
    Vec wte = random_vector(Vn * C, 1), wpe = random_vector(Tn * C, 2), w = random_vector(B * Tn * C, 3);
    Vec out(B * Tn * C);
    auto loss = [&] {
      ops::embedding_forward(out.data(), tokens.data(), wte.data(), wpe.data(), B, Tn, C, v0, Vn);
      return weighted_sum(out, w);
    };
    Vec dwte(wte.size(), 0.0), dwpe(wpe.size(), 0.0);
    loss();
    ops::embedding_backward(dwte.data(), dwpe.data(), w.data(), tokens.data(), B, Tn, C, v0, Vn);
    expect_gradient("wte", wte, dwte, loss);
    expect_gradient("wpe", wpe, dwpe, loss);
  }
}

TEST(OpsGrad, ResidualWithBias) {
  const int N = 4, C = 6;
  Vec x = random_vector(N * C, 1), y = random_vector(N * C, 2), b = random_vector(C, 3), w = random_vector(N * C, 4);
  Vec out(N * C);
  auto loss = [&] {
    ops::residual_forward(out.data(), x.data(), y.data(), b.data(), N, C);
    return weighted_sum(out, w);
  };
  loss();
  for (int i = 0; i < N * C; ++i) EXPECT_DOUBLE_EQ(out[i], x[i] + (y[i] + b[i % C]));
  // d/dx = d/dy = dout, d/db = column sums of dout: what matmul_backward's dbias and the residual stream add
  Vec db(C, 0.0);
  for (int i = 0; i < N * C; ++i) db[i % C] += w[i];
  expect_gradient("x", x, w, loss);
  expect_gradient("y", y, w, loss);
  expect_gradient("bias", b, db, loss);
}

// Vocab-parallel cross-entropy, two "ranks" of a padded vocabulary combined by hand as the model's all-reduces
// combine them: the loss and dlogits of the one-rank op.
TEST(OpsGrad, VocabParallelCrossEntropyMatchesOneRank) {
  const int N = 5, V = 11, Vp = 16, Vl = Vp / 2;  // rank 1 holds 3 real rows and 5 of padding
  Vec logits = random_vector(N * Vp, 1, 3.0);
  const std::vector<int32_t> targets = {0, 7, 10, -1, 8};
  Vec losses(N), lse(N);
  double want = 0;
  ops::cross_entropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), N, V, Vp, &want);
  Vec dwant = logits;
  ops::cross_entropy_backward(dwant.data(), lse.data(), targets.data(), 0.5, N, V, Vp);

  Vec slice[2], mx[2], sums[2];
  for (int r = 0; r < 2; ++r) {
    slice[r].resize(N * Vl);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < Vl; ++j) slice[r][i * Vl + j] = logits[i * Vp + r * Vl + j];
    mx[r].resize(N);
    ops::vocab_parallel_max(mx[r].data(), slice[r].data(), N, std::clamp(V - r * Vl, 0, Vl), Vl);
  }
  Vec rowmax(N), plse(N);
  for (int i = 0; i < N; ++i) rowmax[i] = std::max(mx[0][i], mx[1][i]);
  double got = 0;
  for (int r = 0; r < 2; ++r) {
    sums[r].resize(2 * N);
    ops::vocab_parallel_sum_exp(sums[r].data(), slice[r].data(), rowmax.data(), targets.data(), N, r * Vl,
                                std::clamp(V - r * Vl, 0, Vl), Vl);
  }
  for (int i = 0; i < N; ++i) {
    plse[i] = rowmax[i] + std::log(sums[0][2 * i] + sums[1][2 * i]);
    if (targets[i] >= 0) got += plse[i] - (sums[0][2 * i + 1] + sums[1][2 * i + 1]);
  }
  EXPECT_NEAR(got, want, 1e-12);
  for (int r = 0; r < 2; ++r) {
    ops::vocab_parallel_backward(slice[r].data(), plse.data(), targets.data(), 0.5, N, r * Vl,
                                 std::clamp(V - r * Vl, 0, Vl), Vl);
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < Vl; ++j)
        EXPECT_NEAR(slice[r][i * Vl + j], dwant[i * Vp + r * Vl + j], 1e-14) << "rank " << r << " row " << i;
  }
}

// The fused residual + norm ops give the bits of the residual add and the norm in turn (float, as training runs).
TEST(Ops, ResidualNormsEqualTheTwoOpsInTurn) {
  const int N = 5, C = 37;
  auto floats = [](size_t n, uint64_t seed) {
    const Vec d = random_vector(n, seed);
    return std::vector<float>(d.begin(), d.end());
  };
  const std::vector<float> x = floats(N * C, 1), y = floats(N * C, 2), bias = floats(C, 3), w = floats(C, 4),
                           b = floats(C, 5);
  for (const bool with_bias : {true, false}) {
    const float* bs = with_bias ? bias.data() : nullptr;
    std::vector<float> res(N * C), out(N * C), mean(N), rstd(N), want_res(N * C), want_out(N * C), want_mean(N),
        want_rstd(N);
    ops::residual_forward(want_res.data(), x.data(), y.data(), bs, N, C);
    ops::layernorm_forward(want_out.data(), want_mean.data(), want_rstd.data(), want_res.data(), w.data(), b.data(), N,
                           C, 1e-5F);
    ops::residual_layernorm_forward(res.data(), out.data(), mean.data(), rstd.data(), x.data(), y.data(), bs, w.data(),
                                    b.data(), N, C, 1e-5F);
    EXPECT_EQ(res, want_res);
    EXPECT_EQ(out, want_out);
    EXPECT_EQ(mean, want_mean);
    EXPECT_EQ(rstd, want_rstd);
    ops::rmsnorm_forward(want_out.data(), want_rstd.data(), want_res.data(), w.data(), N, C, 1e-6F);
    ops::residual_rmsnorm_forward(res.data(), out.data(), rstd.data(), x.data(), y.data(), bs, w.data(), N, C, 1e-6F);
    EXPECT_EQ(res, want_res);
    EXPECT_EQ(out, want_out);
    EXPECT_EQ(rstd, want_rstd);
  }
}

TEST(OpsGrad, LayerNorm) {
  const int N = 6, C = 7;
  Vec inp = random_vector(N * C, 1, 2.0), w = random_vector(C, 2), b = random_vector(C, 3), r = random_vector(N * C, 4);
  Vec out(N * C), mean(N), rstd(N);
  auto loss = [&] {
    ops::layernorm_forward(out.data(), mean.data(), rstd.data(), inp.data(), w.data(), b.data(), N, C, 1e-5F);
    return weighted_sum(out, r);
  };
  loss();
  Vec dinp(N * C, 0.5), dw(C, 0.0), db(C, 0.0);  // dinp starts non-zero: backward must add to it
  ops::layernorm_backward(dinp.data(), dw.data(), db.data(), r.data(), inp.data(), w.data(), mean.data(), rstd.data(),
                          N, C);
  for (double& d : dinp) d -= 0.5;
  expect_gradient("inp", inp, dinp, loss);
  expect_gradient("w", w, dw, loss);
  expect_gradient("b", b, db, loss);
}

TEST(OpsGrad, RMSNorm) {
  const int N = 5, C = 8;
  Vec inp = random_vector(N * C, 5, 2.0), w = random_vector(C, 6), r = random_vector(N * C, 7);
  Vec out(N * C), rstd(N);
  auto loss = [&] {
    ops::rmsnorm_forward(out.data(), rstd.data(), inp.data(), w.data(), N, C, 1e-5F);
    return weighted_sum(out, r);
  };
  loss();
  Vec dinp(N * C, 0.0), dw(C, 0.0);
  ops::rmsnorm_backward(dinp.data(), dw.data(), r.data(), inp.data(), w.data(), rstd.data(), N, C);
  expect_gradient("inp", inp, dinp, loss);
  expect_gradient("w", w, dw, loss);
}

TEST(OpsGrad, Matmul) {
  const int N = 4, IC = 6, OC = 5;
  Vec inp = random_vector(N * IC, 1), w = random_vector(OC * IC, 2), bias = random_vector(OC, 3);
  Vec r = random_vector(N * OC, 4), base = random_vector(N * OC, 5);
  for (bool accumulate : {false, true}) {
    Vec out(N * OC);
    auto loss = [&] {
      out = base;
      ops::matmul_forward(out.data(), inp.data(), w.data(), bias.data(), N, IC, OC, accumulate);
      return weighted_sum(out, r);
    };
    loss();
    Vec dinp(N * IC, 0.0), dw(OC * IC, 0.0), db(OC, 0.0);
    ops::matmul_backward(dinp.data(), dw.data(), db.data(), r.data(), inp.data(), w.data(), N, IC, OC);
    expect_gradient("inp", inp, dinp, loss);
    expect_gradient("w", w, dw, loss);
    expect_gradient("bias", bias, db, loss);
  }
}

TEST(OpsGrad, MatmulAccumulatesWeightGradients) {
  const int N = 3, IC = 4, OC = 2;
  Vec inp = random_vector(N * IC, 1), w = random_vector(OC * IC, 2), d = random_vector(N * OC, 3);
  Vec dw1(OC * IC, 0.0), dw2(OC * IC, 0.0), db(OC, 0.0);
  ops::matmul_backward<double>(nullptr, dw1.data(), db.data(), d.data(), inp.data(), w.data(), N, IC, OC);
  dw2 = dw1;
  ops::matmul_backward<double>(nullptr, dw2.data(), db.data(), d.data(), inp.data(), w.data(), N, IC, OC);
  for (size_t i = 0; i < dw1.size(); ++i) EXPECT_NEAR(dw2[i], 2 * dw1[i], 1e-12);
}

TEST(OpsGrad, Gelu) {
  const int n = 40;
  Vec inp = random_vector(n, 1, 3.0), r = random_vector(n, 2), out(n);
  auto loss = [&] {
    ops::gelu_forward(out.data(), inp.data(), n);
    return weighted_sum(out, r);
  };
  Vec dinp(n);
  ops::gelu_backward(dinp.data(), inp.data(), r.data(), n);
  expect_gradient("inp", inp, dinp, loss);
  // reference values of the tanh approximation
  Vec x = {-2.0, 0.0, 1.0}, y(3);
  ops::gelu_forward(y.data(), x.data(), 3);
  EXPECT_NEAR(y[0], -0.04540230591222, 1e-9);
  EXPECT_NEAR(y[1], 0.0, 1e-12);
  EXPECT_NEAR(y[2], 0.84119199155163, 1e-9);
}

TEST(OpsGrad, SwiGLU) {
  const int N = 3, F = 5;
  Vec inp = random_vector(N * 2 * F, 1, 2.0), r = random_vector(N * F, 2), out(N * F);
  auto loss = [&] {
    ops::swiglu_forward(out.data(), inp.data(), N, F);
    return weighted_sum(out, r);
  };
  Vec dinp(N * 2 * F);
  ops::swiglu_backward(dinp.data(), inp.data(), r.data(), N, F);
  expect_gradient("inp", inp, dinp, loss);
}

TEST(OpsGrad, Rope) {
  const int B = 2, Tn = 4, NH = 4, NKV = 2, HS = 6, row = (NH + 2 * NKV) * HS;
  std::vector<float> cos(Tn * HS / 2), sin(Tn * HS / 2);
  ops::rope_tables(cos.data(), sin.data(), Tn, HS, 10000.0F);
  Vec qkv = random_vector(B * Tn * row, 1), r = random_vector(B * Tn * row, 2);
  auto loss = [&] {
    Vec x = qkv;
    ops::rope_forward(x.data(), cos.data(), sin.data(), B, Tn, NH, NKV, HS);
    return weighted_sum(x, r);
  };
  Vec d = r;
  ops::rope_backward(d.data(), cos.data(), sin.data(), B, Tn, NH, NKV, HS);
  expect_gradient("qkv", qkv, d, loss);
  // v is untouched, and position 0 is not rotated
  Vec x = qkv;
  ops::rope_forward(x.data(), cos.data(), sin.data(), B, Tn, NH, NKV, HS);
  for (int i = 0; i < row; ++i) EXPECT_DOUBLE_EQ(x[i], qkv[i]);
  for (int i = (NH + NKV) * HS; i < row; ++i) EXPECT_DOUBLE_EQ(x[row + i], qkv[row + i]);
}

void check_attention(int NH, int NKV, bool causal, int Tn = 5) {
  const int B = 2, HS = 3, C = NH * HS, QKV = (NH + 2 * NKV) * HS;
  Vec qkv = random_vector(B * Tn * QKV, 1), r = random_vector(B * Tn * C, 2);
  Vec out(B * Tn * C), probs(B * NH * Tn * Tn);
  auto loss = [&] {
    ops::attention_forward(out.data(), probs.data(), qkv.data(), B, Tn, NH, NKV, HS, causal);
    return weighted_sum(out, r);
  };
  loss();
  ops::Context<double> ctx;
  ctx.reserve_scratch(ops::attention_scratch_size(Tn));
  Vec dqkv(qkv.size(), 7.0);  // stale values must be overwritten
  ops::attention_backward(dqkv.data(), r.data(), qkv.data(), probs.data(), B, Tn, NH, NKV, HS, ctx);
  expect_gradient("qkv", qkv, dqkv, loss, 1e-6, Tn > 16 ? 400 : 0);
  if (causal) {  // no attention to the future
    for (int i = 0; i < Tn; ++i)
      for (int j = i + 1; j < Tn; ++j) EXPECT_EQ(probs[i * Tn + j], 0.0);
  }
}

TEST(OpsGrad, AttentionCausal) {
  check_attention(2, 2, true);
}
TEST(OpsGrad, AttentionBidirectional) {
  check_attention(2, 2, false);
}
TEST(OpsGrad, AttentionGroupedQuery) {
  check_attention(4, 2, true);
}
TEST(OpsGrad, AttentionMultiQuery) {
  check_attention(3, 1, false);
}
TEST(OpsGrad, AttentionLongerSequence) {
  check_attention(2, 1, true, 70);
}

// Tiled (flash) attention: its gradient against finite differences, and forward and backward against the
// materialised op (the same function, summed in another order), across tile edges (64) and for every head layout.
void check_flash_attention(int NH, int NKV, bool causal, int Tn) {
  const int B = 2, HS = 3, C = NH * HS, QKV = (NH + 2 * NKV) * HS;
  Vec qkv = random_vector(B * Tn * QKV, 1), r = random_vector(B * Tn * C, 2);
  Vec out(B * Tn * C), lse(B * NH * Tn);
  ops::Context<double> ctx;
  ctx.reserve_scratch(ops::flash_attention_scratch_size(HS));
  auto loss = [&] {
    ops::flash_attention_forward(out.data(), lse.data(), qkv.data(), B, Tn, NH, NKV, HS, causal, ctx);
    return weighted_sum(out, r);
  };
  loss();
  Vec dqkv(qkv.size(), 7.0);  // stale values must be overwritten
  ops::flash_attention_backward(dqkv.data(), r.data(), qkv.data(), out.data(), lse.data(), B, Tn, NH, NKV, HS, causal,
                                ctx);
  expect_gradient("qkv", qkv, dqkv, loss, 1e-6, Tn > 16 ? 300 : 0);

  Vec ref_out(out.size()), probs(B * NH * Tn * Tn), ref_dqkv(qkv.size());
  ops::attention_forward(ref_out.data(), probs.data(), qkv.data(), B, Tn, NH, NKV, HS, causal);
  ops::Context<double> ref_ctx;
  ref_ctx.reserve_scratch(ops::attention_scratch_size(Tn));
  ops::attention_backward(ref_dqkv.data(), r.data(), qkv.data(), probs.data(), B, Tn, NH, NKV, HS, ref_ctx);
  loss();
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref_out[i], 1e-12) << "out " << i;
  for (size_t i = 0; i < qkv.size(); ++i) ASSERT_NEAR(dqkv[i], ref_dqkv[i], 1e-12) << "dqkv " << i;
  // lse is the row's logsumexp: exp(score - lse) is the materialised probability
  const int b = B - 1, h = NH - 1, i = Tn - 1, g = h / (NH / NKV);
  const double* q = qkv.data() + (b * Tn + i) * QKV + h * HS;
  for (int j = 0; j < (causal ? i + 1 : Tn); ++j) {
    const double* k = qkv.data() + (b * Tn + j) * QKV + (NH + g) * HS;
    double score = 0;
    for (int d = 0; d < HS; ++d) score += q[d] * k[d] / std::sqrt(double(HS));
    EXPECT_NEAR(std::exp(score - lse[(b * NH + h) * Tn + i]), probs[((b * NH + h) * Tn + i) * Tn + j], 1e-12);
  }
}

TEST(OpsGrad, FlashAttentionCausal) {
  check_flash_attention(2, 2, true, 5);
}
TEST(OpsGrad, FlashAttentionBidirectionalGroupedQuery) {
  check_flash_attention(4, 2, false, 7);
}
TEST(OpsGrad, FlashAttentionAcrossTiles) {
  check_flash_attention(2, 1, true, 70);
  check_flash_attention(3, 1, false, 130);
  check_flash_attention(2, 2, true, 128);
}

// Attention with bf16 operands (train.attention = "cudnn"; the CPU's is the reference for cuDNN's): the flash op on
// q, k, v and dout rounded to bf16, its output and dqkv rounded; near the fp32 op (bf16's precision), not equal to it.
TEST(Ops, FlashAttentionBf16IsTheFlashOpBetweenRoundings) {
  const int B = 2, Tn = 70, NH = 4, NKV = 2, HS = 16;
  const int64_t n_qkv = int64_t{B} * Tn * (NH + 2 * NKV) * HS, n_out = int64_t{B} * Tn * NH * HS;
  auto floats = [](int64_t n, uint64_t seed) {
    const Vec d = random_vector(static_cast<size_t>(n), seed);
    return std::vector<float>(d.begin(), d.end());
  };
  auto rounded = [](std::vector<float> x) {  // to bf16 and back, through the op that rounds the bf16 products
    std::vector<uint16_t> bits(x.size());
    ops::round_to_bf16(bits.data(), x.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::bit_cast<float>(static_cast<uint32_t>(bits[i]) << 16);
    return x;
  };
  auto rel = [](const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0, largest = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
      largest = std::max(largest, std::abs(double(b[i])));
    }
    return worst / largest;
  };
  const std::vector<float> qkv = floats(n_qkv, 1), dout = floats(n_out, 2);
  ops::Context<float> ctx;
  ctx.reserve_scratch(ops::flash_attention_scratch_size(HS));
  std::vector<float> scratch(static_cast<size_t>(ops::flash_attention_bf16_scratch_size(int64_t{B} * Tn, NH, NKV, HS)));
  for (const bool causal : {true, false}) {
    const std::string what = causal ? "causal" : "bidirectional";
    std::vector<float> out(n_out), lse(B * NH * Tn), dqkv(n_qkv);
    ops::flash_attention_bf16_forward(out.data(), lse.data(), qkv.data(), B, Tn, NH, NKV, HS, causal, scratch.data(),
                                      ctx);
    ops::flash_attention_bf16_backward(dqkv.data(), dout.data(), qkv.data(), out.data(), lse.data(), B, Tn, NH, NKV, HS,
                                       causal, scratch.data(), ctx);
    const std::vector<float> qkv16 = rounded(qkv), dout16 = rounded(dout);
    std::vector<float> want_out(n_out), want_lse(lse.size()), want_dqkv(n_qkv);
    ops::flash_attention_forward(want_out.data(), want_lse.data(), qkv16.data(), B, Tn, NH, NKV, HS, causal, ctx);
    want_out = rounded(want_out);
    ops::flash_attention_backward(want_dqkv.data(), dout16.data(), qkv16.data(), want_out.data(), want_lse.data(), B,
                                  Tn, NH, NKV, HS, causal, ctx);
    EXPECT_EQ(out, want_out) << what;
    EXPECT_EQ(lse, want_lse) << what;
    EXPECT_EQ(dqkv, rounded(want_dqkv)) << what;
    std::vector<float> out32(n_out), lse32(lse.size()), dqkv32(n_qkv);
    ops::flash_attention_forward(out32.data(), lse32.data(), qkv.data(), B, Tn, NH, NKV, HS, causal, ctx);
    ops::flash_attention_backward(dqkv32.data(), dout.data(), qkv.data(), out32.data(), lse32.data(), B, Tn, NH, NKV,
                                  HS, causal, ctx);
    for (const auto& [name, got, fp32] : {std::tuple{"out", &out, &out32}, std::tuple{"dqkv", &dqkv, &dqkv32}}) {
      const double r = rel(*got, *fp32);
      EXPECT_LT(r, 1e-2) << what << " " << name;
      EXPECT_GT(r, 1e-5) << what << " " << name << ": no rounding?";
    }
  }
}

TEST(OpsGrad, CrossEntropy) {
  const int N = 4, V = 5, Vp = 8;
  Vec logits = random_vector(N * Vp, 1, 2.0);
  for (int i = 0; i < N; ++i)
    for (int j = V; j < Vp; ++j) logits[i * Vp + j] = 100.0;  // padding must never win
  std::vector<int32_t> targets = {0, 4, -1, 2};
  Vec losses(N), lse(N);
  const double dloss = 0.7;
  auto loss = [&] {
    double sum = 0;
    ops::cross_entropy_forward(losses.data(), lse.data(), logits.data(), targets.data(), N, V, Vp, &sum);
    return dloss * sum;
  };
  const double total = loss() / dloss;
  // reference: log-sum-exp over the real vocabulary only
  double expected = 0;
  for (int i = 0; i < N; ++i) {
    if (targets[i] < 0) continue;
    double s = 0;
    for (int j = 0; j < V; ++j) s += std::exp(logits[i * Vp + j]);
    expected += std::log(s) - logits[i * Vp + targets[i]];
  }
  EXPECT_NEAR(total, expected, 1e-12);
  EXPECT_EQ(losses[2], 0.0);
  Vec d = logits;
  ops::cross_entropy_backward(d.data(), lse.data(), targets.data(), dloss, N, V, Vp);
  for (int i = 0; i < N; ++i)
    for (int j = V; j < Vp; ++j) EXPECT_EQ(d[i * Vp + j], 0.0);
  expect_gradient("logits", logits, d, loss);
}

TEST(OpsGrad, CrossEntropyFusedEqualsForwardThenBackward) {
  const int N = 3, V = 5000, Vp = 5120;  // several chunks per row
  Vec logits = random_vector(N * Vp, 4, 3.0);
  std::vector<int32_t> targets = {17, -1, 4999};
  Vec losses(N), lse(N), separate = logits, fused = logits, fused_losses(N);
  double a = 1.5, b = 1.5;  // the sums add to what is there
  ops::cross_entropy_forward(losses.data(), lse.data(), separate.data(), targets.data(), N, V, Vp, &a);
  ops::cross_entropy_backward(separate.data(), lse.data(), targets.data(), 0.25, N, V, Vp);
  ops::cross_entropy_forward_backward(fused.data(), fused_losses.data(), targets.data(), 0.25, N, V, Vp, &b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, 1.5 + (losses[0] + losses[1] + losses[2]));
  EXPECT_EQ(separate, fused);
  EXPECT_EQ(losses, fused_losses);
}

// ---- bf16 operands

float bf16_float(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

// x rounded to bf16, as floats
std::vector<float> rounded(const std::vector<float>& x) {
  std::vector<uint16_t> bits(x.size());
  ops::round_to_bf16(bits.data(), x.data(), static_cast<int64_t>(x.size()));
  std::vector<float> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = bf16_float(bits[i]);
  return out;
}

TEST(Ops, RoundToBf16IsToNearestTiesToEven) {
  const float big = std::numeric_limits<float>::max(), inf = std::numeric_limits<float>::infinity();
  const std::vector<std::pair<float, uint16_t>> cases = {
      {1.0F, 0x3f80},
      {std::bit_cast<float>(0x3f808000U), 0x3f80},  // 1 + 2^-8: halfway, to the even 1
      {std::bit_cast<float>(0x3f818000U), 0x3f82},  // halfway above an odd significand: up to even
      {std::bit_cast<float>(0x3f808001U), 0x3f81},  // just above halfway: up
      {std::bit_cast<float>(0x3f807fffU), 0x3f80},  // just below: down
      {-2.5F, 0xc020},
      {-0.0F, 0x8000},
      {big, 0x7f80},  // rounds past the largest bf16: infinity
      {-inf, 0xff80},
      {std::bit_cast<float>(0x00000001U), 0x0000},  // the smallest subnormal: to zero
      {std::bit_cast<float>(0x00018000U), 0x0002},  // a subnormal halfway above an odd one: up to even
  };
  for (const auto& [x, want] : cases) {
    uint16_t got = 0;
    ops::round_to_bf16(&got, &x, 1);
    EXPECT_EQ(got, want) << "x = " << x << " (bits " << std::hex << std::bit_cast<uint32_t>(x) << ")";
  }
  const float nan = std::numeric_limits<float>::quiet_NaN(), snan = std::bit_cast<float>(0x7f800001U);
  for (const float x : {nan, -nan, snan}) {
    uint16_t got = 0;
    ops::round_to_bf16(&got, &x, 1);
    EXPECT_TRUE(std::isnan(bf16_float(got))) << std::hex << std::bit_cast<uint32_t>(x) << " became " << got;
  }
}

// The bf16 product is the fp32 product of the rounded operands: bit for bit in one block (the same sgemm calls),
// within fp32 rounding across blocks; and it differs from the fp32 product of the unrounded ones.
TEST(Ops, Bf16MatmulIsTheFp32MatmulOfRoundedOperands) {
  const int N = 37, IC = 24, OC = 50;
  auto random_floats = [](int64_t n, uint32_t seed) {
    const Vec d = random_vector(n, seed);
    return std::vector<float>(d.begin(), d.end());
  };
  const std::vector<float> inp = random_floats(N * IC, 1), w = random_floats(OC * IC, 2), bias = random_floats(OC, 3),
                           dout = random_floats(N * OC, 4), start = random_floats(N * OC, 5);
  std::vector<uint16_t> w16(w.size());
  ops::round_to_bf16(w16.data(), w.data(), static_cast<int64_t>(w.size()));
  const std::vector<float> inp_r = rounded(inp), w_r = rounded(w), dout_r = rounded(dout);
  auto worst = [](const std::vector<float>& want, const std::vector<float>& got) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      diff = std::max(diff, std::abs(static_cast<double>(want[i]) - got[i]));
      norm = std::max(norm, std::abs(static_cast<double>(want[i])));
    }
    return diff / norm;
  };
  // one block (the default for these sizes), and blocks of a few rows of inp and of the weight
  for (const int64_t block : {ops::kBf16BlockElements, int64_t{400}}) {
    const ops::Bf16Blocks blocks = ops::bf16_blocks(N, IC, OC, block);
    const bool one_block = blocks.cpu_rows >= N && blocks.weight_rows >= OC;
    EXPECT_EQ(one_block, block == ops::kBf16BlockElements);
    std::vector<float> scratch(static_cast<size_t>(blocks.scratch_size()));
    const std::string what =
        one_block ? "one block"
                  : "blocks of " + std::to_string(blocks.cpu_rows) + " x " + std::to_string(blocks.weight_rows);
    for (const bool with_bias : {false, true}) {
      for (const bool accumulate : {false, true}) {
        std::vector<float> want = start, got = start;
        const float* b = with_bias ? bias.data() : nullptr;
        ops::matmul_forward(want.data(), inp_r.data(), w_r.data(), b, N, IC, OC, accumulate);
        ops::matmul_forward_bf16(got.data(), inp.data(), w16.data(), b, N, IC, OC, accumulate, blocks, scratch.data());
        if (one_block) {
          EXPECT_EQ(got, want) << what << " bias " << with_bias << " accumulate " << accumulate;
        } else {
          EXPECT_LT(worst(want, got), 1e-6) << what << " bias " << with_bias << " accumulate " << accumulate;
        }
      }
    }
    std::vector<float> dinp_want(N * IC), dinp(N * IC, 7.0F), dw_want = start, dw = start, db_want(OC, 1.0F),
                                                              db(OC, 1.0F);
    dw_want.resize(OC * IC);
    dw.resize(OC * IC);
    ops::matmul_backward(dinp_want.data(), dw_want.data(), db_want.data(), dout_r.data(), inp_r.data(), w_r.data(), N,
                         IC, OC);
    ops::matmul_backward_bf16(dinp.data(), dw.data(), db.data(), dout.data(), inp.data(), w16.data(), N, IC, OC, blocks,
                              scratch.data());
    if (one_block) {
      EXPECT_EQ(dinp, dinp_want) << what;
      EXPECT_EQ(dw, dw_want) << what;
    } else {
      EXPECT_LT(worst(dinp_want, dinp), 1e-6) << what;
      EXPECT_LT(worst(dw_want, dw), 1e-6) << what;
    }
    // dbias: the column sums of the fp32 dout, not of its rounding
    std::vector<float> db_fp32(OC, 1.0F), unused(OC * IC, 0.0F);
    ops::matmul_backward(static_cast<float*>(nullptr), unused.data(), db_fp32.data(), dout.data(), inp.data(), w.data(),
                         N, IC, OC);
    EXPECT_EQ(db, db_fp32) << what;
    // no dinp: the weight gradient alone
    std::vector<float> dw_alone(OC * IC, 0.0F), dw_alone_want(OC * IC, 0.0F);
    ops::matmul_backward_bf16(nullptr, dw_alone.data(), nullptr, dout.data(), inp.data(), w16.data(), N, IC, OC, blocks,
                              scratch.data());
    ops::matmul_backward(static_cast<float*>(nullptr), dw_alone_want.data(), static_cast<float*>(nullptr),
                         dout_r.data(), inp_r.data(), w_r.data(), N, IC, OC);
    EXPECT_LT(worst(dw_alone_want, dw_alone), 1e-6) << what;
  }
  // the rounding is there: bf16 keeps 8 significant bits, so the product moves by far more than fp32's 1e-7
  std::vector<float> fp32(N * OC), bf16(N * OC);
  ops::matmul_forward(fp32.data(), inp.data(), w.data(), static_cast<const float*>(nullptr), N, IC, OC, false);
  const ops::Bf16Blocks blocks = ops::bf16_blocks(N, IC, OC);
  std::vector<float> scratch(static_cast<size_t>(blocks.scratch_size()));
  ops::matmul_forward_bf16(bf16.data(), inp.data(), w16.data(), nullptr, N, IC, OC, false, blocks, scratch.data());
  EXPECT_GT(worst(fp32, bf16), 1e-4);
  EXPECT_LT(worst(fp32, bf16), 2e-2);
}

TEST(OpsGrad, AdamWMatchesHandComputedStep) {
  // two steps by hand: g = 0.5 then -0.25, p0 = 1, lr 0.1, b1 0.9, b2 0.99, eps 1e-8, wd 0.1
  std::vector<double> p = {1.0}, m = {0.0}, v = {0.0};
  ops::AdamWParams a;
  a.lr = 0.1F;
  a.beta1 = 0.9F;
  a.beta2 = 0.99F;
  a.eps = 1e-8F;
  a.weight_decay = 0.1F;
  const double b1 = a.beta1, b2 = a.beta2, lr = a.lr, wd = a.weight_decay, eps = a.eps;
  double pe = 1.0, me = 0.0, ve = 0.0;
  for (int t = 1; t <= 2; ++t) {
    const double g = t == 1 ? 0.5 : -0.25;
    a.t = t;
    std::vector<double> grad = {g};
    ops::adamw_update(p.data(), grad.data(), m.data(), v.data(), 1, a);
    me = b1 * me + (1 - b1) * g;
    ve = b2 * ve + (1 - b2) * g * g;
    const double mhat = me / (1 - std::pow(b1, t)), vhat = ve / (1 - std::pow(b2, t));
    pe -= lr * (mhat / (std::sqrt(vhat) + eps) + wd * pe);
  }
  EXPECT_NEAR(p[0], pe, 1e-12);
  // first step: mhat / sqrt(vhat) = sign(g), so p = 1 - 0.1 * (1 + 0.1 * 1) = 0.89
  std::vector<double> q = {1.0}, mq = {0.0}, vq = {0.0}, gq = {3.0};
  a.t = 1;
  ops::adamw_update(q.data(), gq.data(), mq.data(), vq.data(), 1, a);
  EXPECT_NEAR(q[0], 0.89, 1e-8);
}

TEST(OpsReductions, SumSquaresIsDeterministicAndExact) {
  std::vector<float> x(100003);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i % 7) - 3) * 0.5F;
  double expected = 0;
  for (float f : x) expected += static_cast<double>(f) * f;
  EXPECT_DOUBLE_EQ(ops::sum_squares(x.data(), static_cast<int64_t>(x.size())), expected);
  EXPECT_FALSE(ops::has_nonfinite(x.data(), static_cast<int64_t>(x.size())));
  x[5000] = std::nanf("");
  EXPECT_TRUE(ops::has_nonfinite(x.data(), static_cast<int64_t>(x.size())));
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// The BLAS kernel OpenBLAS picked for this CPU (possibly forced by OPENBLAS_CORETYPE) against plain loops, for
// every transpose combination and odd sizes.
template <typename T>
void check_gemm(double tol) {
  const int M = 37, N = 29, K = 53;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const auto a = testing::random_vector(M * K, 1), b = testing::random_vector(K * N, 2),
                 c0 = testing::random_vector(M * N, 3);
      std::vector<T> A(a.begin(), a.end()), Bm(b.begin(), b.end()), C(c0.begin(), c0.end());
      const int lda = ta ? M : K, ldb = tb ? K : N;
      gemm<T>(ta, tb, M, N, K, T(0.5), A.data(), lda, Bm.data(), ldb, T(2), C.data(), N);
      for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
          double s = 0;
          for (int k = 0; k < K; ++k) s += a[ta ? k * M + i : i * K + k] * b[tb ? j * K + k : k * N + j];
          const double expected = 0.5 * s + 2 * c0[i * N + j];
          ASSERT_NEAR(C[i * N + j], expected, tol) << "ta=" << ta << " tb=" << tb << " (" << i << "," << j << ")";
        }
    }
}

TEST(Blas, SgemmMatchesPlainLoops) {
  check_gemm<float>(1e-4);
}
TEST(Blas, DgemmMatchesPlainLoops) {
  check_gemm<double>(1e-12);
}

TEST(FastMath, ExpAndTanhAreAccurate) {
  for (float x = -80.0F; x <= 80.0F; x += 0.37F) {
    EXPECT_NEAR(ops::cpu::exp(x) / std::exp(x), 1.0F, 1e-6F) << x;
    EXPECT_NEAR(ops::cpu::tanh(x / 16), std::tanh(x / 16), 2e-7F) << x;
  }
  EXPECT_EQ(ops::cpu::exp(-1000.0F) < 1e-37F, true);
}

}  // namespace
}  // namespace tessera
