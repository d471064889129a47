// The linear layer with bf16 operands on the CPU: the reference for the CUDA backend's tensor-core products.
//
// OpenBLAS (Debian's 0.3.21) has no bf16 GEMM, so the operands are rounded to bf16 and widened back to fp32 in
// scratch, and sgemm multiplies them: a product of two bf16 values (8-bit significands) is exact in fp32, so this
// is a bf16 product with fp32 accumulation, what a GPU's tensor cores compute, up to the order of the sums.
#include <algorithm>

#include "core/blas.hpp"
#include "core/check.hpp"
#include "ops/cpu/bf16.hpp"
#include "ops/cpu/column_sums.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {
namespace {

// x rounded to bf16, as fp32, for one row inside a parallel loop.
void widen_rounded_row(float* out, const float* x, int n) {
  for (int i = 0; i < n; ++i) out[i] = bf16_value(bf16_bits(x[i]));
}

// out (n) = the bf16 values w, as fp32
void widen(float* out, const uint16_t* w, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_value(w[i]);
}

void check_blocks(const Bf16Blocks& b, int IC, int OC) {
  TESSERA_CHECK(b.IC == IC && b.OC == OC && b.rows >= 1 && b.weight_rows >= 1 && b.cpu_rows >= 1,
                "bf16 blocks planned for ({}, {}) used for ({}, {})", b.IC, b.OC, IC, OC);
}

}  // namespace

void round_to_bf16(uint16_t* out, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_bits(x[i]);
}

Bf16Blocks bf16_blocks(int N, int IC, int OC, int64_t block_elements) {
  TESSERA_CHECK(N >= 0 && IC > 0 && OC > 0 && block_elements > 0, "bf16 blocks of ({}, {}) x ({}, {})^T", N, IC, OC,
                IC);
  Bf16Blocks b;
  b.IC = IC;
  b.OC = OC;
  const int64_t rows = std::max(N, 1), cpu_elements = std::max<int64_t>(block_elements / 8, 1);
  b.rows = static_cast<int>(std::clamp<int64_t>(block_elements / (IC + OC), 1, rows));
  b.weight_rows = static_cast<int>(std::clamp<int64_t>(cpu_elements / IC, 1, OC));
  b.cpu_rows = static_cast<int>(std::clamp<int64_t>(cpu_elements / (IC + b.weight_rows), 1, rows));
  return b;
}

// The weight's blocks outside, the rows' inside: each block of the weight is widened once per call.
void matmul_forward_bf16(float* out, const float* inp, const uint16_t* w, const float* bias, int N, int IC, int OC,
                         bool accumulate, const Bf16Blocks& blocks, float* scratch) {
  check_blocks(blocks, IC, OC);
  float beta = accumulate ? 1.0F : 0.0F;
  if (bias != nullptr) {  // the bias goes into out first, so the products add onto it
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; ++i) {
      float* o = out + static_cast<int64_t>(i) * OC;
      if (accumulate) {
        for (int c = 0; c < OC; ++c) o[c] += bias[c];
      } else {
        std::copy(bias, bias + OC, o);
      }
    }
    beta = 1.0F;
  }
  const int R = blocks.cpu_rows, Ob = blocks.weight_rows;
  float* ws = scratch;                             // (Ob, IC)
  float* xs = ws + static_cast<int64_t>(Ob) * IC;  // (R, IC)
  for (int o0 = 0; o0 < OC; o0 += Ob) {
    const int no = std::min(Ob, OC - o0);
    widen(ws, w + static_cast<int64_t>(o0) * IC, static_cast<int64_t>(no) * IC);
    for (int r0 = 0; r0 < N; r0 += R) {
      const int nr = std::min(R, N - r0);
      widen_rounded(xs, inp + static_cast<int64_t>(r0) * IC, static_cast<int64_t>(nr) * IC);
      // out[r0:, o0:] (nr, no) = xs (nr, IC) @ ws (no, IC)^T
      gemm<float>(false, true, nr, no, IC, 1.0F, xs, IC, ws, IC, beta, out + static_cast<int64_t>(r0) * OC + o0, OC);
    }
  }
}

void matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const uint16_t* w,
                          int N, int IC, int OC, const Bf16Blocks& blocks, float* scratch) {
  check_blocks(blocks, IC, OC);
  const int R = blocks.cpu_rows, Ob = blocks.weight_rows;
  float* ws = scratch;                             // (Ob, IC)
  float* xs = ws + static_cast<int64_t>(Ob) * IC;  // (R, IC)
  float* ds = xs + static_cast<int64_t>(R) * IC;   // (R, Ob): the block's columns of dout
  for (int o0 = 0; o0 < OC; o0 += Ob) {
    const int no = std::min(Ob, OC - o0);
    if (dinp != nullptr) widen(ws, w + static_cast<int64_t>(o0) * IC, static_cast<int64_t>(no) * IC);
    for (int r0 = 0; r0 < N; r0 += R) {
      const int nr = std::min(R, N - r0);
      widen_rounded(xs, inp + static_cast<int64_t>(r0) * IC, static_cast<int64_t>(nr) * IC);
#pragma omp parallel for schedule(static)
      for (int i = 0; i < nr; ++i)
        widen_rounded_row(ds + static_cast<int64_t>(i) * no, dout + static_cast<int64_t>(r0 + i) * OC + o0, no);
      if (dinp != nullptr)  // dinp[r0:] (nr, IC) (+)= ds (nr, no) @ w[o0:] (no, IC)
        gemm<float>(false, false, nr, IC, no, 1.0F, ds, no, ws, IC, o0 == 0 ? 0.0F : 1.0F,
                    dinp + static_cast<int64_t>(r0) * IC, IC);
      // dw[o0:] (no, IC) += ds^T (no, nr) @ xs (nr, IC)
      gemm<float>(true, false, no, IC, nr, 1.0F, ds, no, xs, IC, 1.0F, dw + static_cast<int64_t>(o0) * IC, IC);
    }
  }
  if (dbias != nullptr) {
    cpu::for_column_blocks(N, OC, [&](int i, int c0, int c1) {
      const float* d = dout + static_cast<int64_t>(i) * OC;
      for (int c = c0; c < c1; ++c) dbias[c] += d[c];
    });
  }
}

}  // namespace tessera::ops
