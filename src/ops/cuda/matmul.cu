// The linear layer on CUDA through cuBLASLt, fp32 in and out with fp32 accumulation (CUBLAS_COMPUTE_32F: no TF32,
// so the parity tests hold at 1e-5), the bias added by the GEMM's epilogue. Under train.dtype = "bf16" the operands
// are bf16 (the weight's copy, the activations and gradients rounded in blocks of rows into scratch) and the
// products accumulate in fp32 on the tensor cores, into fp32 outputs.
//
// Row-major (N, OC) = (N, IC) @ w^T is, read column-major, out^T (OC x N) = w (OC x IC) @ inp^T (IC x N), where w as
// stored row-major (OC, IC) is the column-major IC x OC matrix used transposed.
#include <cuda_bf16.h>

#include <algorithm>

#include "ops/cuda/common.cuh"
#include "ops/cuda/ops_cuda.hpp"

namespace tessera::ops::cuda {
namespace {

struct Gemm {
  bool trans_a = false, trans_b = false;
  int m = 0, n = 0, k = 0;              // D (m x n) = op(A) (m x k) op(B) (k x n), column-major
  cudaDataType_t ab_type = CUDA_R_32F;  // of A and B (CUDA_R_16BF: bf16 operands); D is fp32
  const void* a = nullptr;
  int lda = 0;
  const void* b = nullptr;
  int ldb = 0;
  float* d = nullptr;
  int ldd = 0;
  float beta = 0;
  const float* bias = nullptr;  // (m), added to every column of D
};

// Owns the cuBLASLt descriptors of one call.
class LtCall {
 public:
  explicit LtCall(const Gemm& g) {
    check(cublasLtMatmulDescCreate(&op_, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate");
    const cublasOperation_t ta = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t tb = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    check(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)), "TRANSA");
    check(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)), "TRANSB");
    if (g.bias != nullptr) {
      const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      check(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
            "EPILOGUE");
      check(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g.bias, sizeof(g.bias)),
            "BIAS_POINTER");
    }
    // stored shapes (rows x cols, column-major) of A and B before their op
    check(cublasLtMatrixLayoutCreate(&a_, g.ab_type, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k, g.lda), "layout A");
    check(cublasLtMatrixLayoutCreate(&b_, g.ab_type, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n, g.ldb), "layout B");
    check(cublasLtMatrixLayoutCreate(&d_, CUDA_R_32F, g.m, g.n, g.ldd), "layout D");
  }
  LtCall(const LtCall&) = delete;
  LtCall& operator=(const LtCall&) = delete;
  ~LtCall() {
    cublasLtMatrixLayoutDestroy(d_);
    cublasLtMatrixLayoutDestroy(b_);
    cublasLtMatrixLayoutDestroy(a_);
    cublasLtMatmulDescDestroy(op_);
  }
  cublasStatus_t run(const Gemm& g) const {
    Runtime& r = runtime();
    const float alpha = 1.0F;
    // algo = nullptr: cuBLASLt picks one by its heuristics
    return cublasLtMatmul(r.lt, op_, &alpha, g.a, a_, g.b, b_, &g.beta, g.d, d_, g.d, d_, nullptr, r.lt_workspace,
                          r.lt_workspace_bytes, r.stream);
  }

 private:
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_ = nullptr, b_ = nullptr, d_ = nullptr;
};

// D (m x n, column-major, ld ldd) += bias (m) on every column.
__global__ void add_bias_kernel(float* d, const float* bias, int m, int64_t n, int ldd) {
  TESSERA_GRID_STRIDE(i, m * n) {
    d[(i / m) * ldd + i % m] += bias[i % m];
  }
}

void gemm(const Gemm& g) {
  if (g.m == 0 || g.n == 0 || (g.k == 0 && g.beta == 1.0F && g.bias == nullptr)) return;  // nothing to add
  const cublasStatus_t status = LtCall(g).run(g);
  if (status == CUBLAS_STATUS_NOT_SUPPORTED && g.bias != nullptr) {  // no algorithm with the bias epilogue here
    Gemm plain = g;
    plain.bias = nullptr;
    check(LtCall(plain).run(plain), "cublasLtMatmul");
    add_bias_kernel<<<grid_for(int64_t{g.m} * g.n), kThreads, 0, stream()>>>(g.d, g.bias, g.m, g.n, g.ldd);
    check_launch("matmul_forward (bias)");
    return;
  }
  check(status, "cublasLtMatmul");
}

// dbias[c] += sum_i dout[i, c], the rows in order.
__global__ void column_sum_kernel(float* dbias, const float* dout, int N, int OC) {
  const int c = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= OC) return;
  float s = dbias[c];
  for (int64_t i = 0; i < N; ++i) s += dout[i * OC + c];
  dbias[c] = s;
}

// out (n) = x rounded to bf16 (to nearest, ties to even), as its bits
__global__ void round_to_bf16_kernel(uint16_t* out, const float* x, int64_t n) {
  TESSERA_GRID_STRIDE(i, n) {
    out[i] = __bfloat16_as_ushort(__float2bfloat16_rn(x[i]));
  }
}

// out (n) = the bf16 values x, as fp32
__global__ void widen_bf16_kernel(float* out, const uint16_t* x, int64_t n) {
  TESSERA_GRID_STRIDE(i, n) {
    out[i] = __bfloat162float(__ushort_as_bfloat16(x[i]));
  }
}

void round_rows(uint16_t* out, const float* x, int64_t n) {
  if (n == 0) return;
  round_to_bf16_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, x, n);
  check_launch("round_to_bf16");
}

// The three products of a linear layer, row-major, operands of type t (fp32 or bf16), fp32 results.
// out (N x OC) (+)= inp (N x IC) @ w^T + bias: out^T (OC x N) = w^T as stored @ inp^T.
Gemm forward_product(cudaDataType_t t, float* out, const void* inp, const void* w, const float* bias, int N, int IC,
                     int OC, bool accumulate) {
  Gemm g;
  g.ab_type = t;
  g.trans_a = true;
  g.m = OC;
  g.n = N;
  g.k = IC;
  g.a = w;
  g.lda = IC;
  g.b = inp;
  g.ldb = IC;
  g.d = out;
  g.ldd = OC;
  g.beta = accumulate ? 1.0F : 0.0F;
  g.bias = bias;
  return g;
}
// dinp (N x IC) = dout (N x OC) @ w: dinp^T (IC x N) = w (IC x OC, stored) @ dout^T.
Gemm input_grad_product(cudaDataType_t t, float* dinp, const void* dout, const void* w, int N, int IC, int OC) {
  Gemm g;
  g.ab_type = t;
  g.m = IC;
  g.n = N;
  g.k = OC;
  g.a = w;
  g.lda = IC;
  g.b = dout;
  g.ldb = OC;
  g.d = dinp;
  g.ldd = IC;
  return g;
}
// dw (OC x IC) += dout^T (OC x N) @ inp (N x IC): dw^T (IC x OC) += inp^T @ dout.
Gemm weight_grad_product(cudaDataType_t t, float* dw, const void* dout, const void* inp, int N, int IC, int OC) {
  Gemm g;
  g.ab_type = t;
  g.trans_b = true;
  g.m = IC;
  g.n = OC;
  g.k = N;
  g.a = inp;
  g.lda = IC;
  g.b = dout;
  g.ldb = OC;
  g.d = dw;
  g.ldd = IC;
  g.beta = 1.0F;
  return g;
}

void bias_grad(float* dbias, const float* dout, int N, int OC) {
  if (dbias == nullptr) return;
  column_sum_kernel<<<grid_for(OC), kThreads, 0, stream()>>>(dbias, dout, N, OC);
  check_launch("matmul_backward (bias)");
}

}  // namespace

void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int IC, int OC,
                    bool accumulate) {
  gemm(forward_product(CUDA_R_32F, out, inp, w, bias, N, IC, OC, accumulate));
}

void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w, int N,
                     int IC, int OC) {
  if (dinp != nullptr) gemm(input_grad_product(CUDA_R_32F, dinp, dout, w, N, IC, OC));
  gemm(weight_grad_product(CUDA_R_32F, dw, dout, inp, N, IC, OC));
  bias_grad(dbias, dout, N, OC);
}

void round_to_bf16(uint16_t* out, const float* x, int64_t n) {
  round_rows(out, x, n);
}

void widen_bf16(float* out, const uint16_t* x, int64_t n) {
  if (n == 0) return;
  widen_bf16_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, x, n);
  check_launch("widen_bf16");
}

// In blocks of rows: each block's activations (and output gradients) rounded into scratch, then multiplied.
void matmul_forward_bf16(float* out, const float* inp, const uint16_t* w, const float* bias, int N, int IC, int OC,
                         bool accumulate, const Bf16Blocks& blocks, float* scratch) {
  auto* xs = reinterpret_cast<uint16_t*>(scratch);  // (rows, IC) bf16
  for (int r0 = 0; r0 < N; r0 += blocks.rows) {
    const int nr = std::min(blocks.rows, N - r0);
    round_rows(xs, inp + static_cast<int64_t>(r0) * IC, static_cast<int64_t>(nr) * IC);
    gemm(forward_product(CUDA_R_16BF, out + static_cast<int64_t>(r0) * OC, xs, w, bias, nr, IC, OC, accumulate));
  }
}

void matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const uint16_t* w,
                          int N, int IC, int OC, const Bf16Blocks& blocks, float* scratch) {
  auto* xs = reinterpret_cast<uint16_t*>(scratch);             // (rows, IC) bf16
  uint16_t* ds = xs + static_cast<int64_t>(blocks.rows) * IC;  // (rows, OC) bf16
  for (int r0 = 0; r0 < N; r0 += blocks.rows) {
    const int nr = std::min(blocks.rows, N - r0);
    round_rows(ds, dout + static_cast<int64_t>(r0) * OC, static_cast<int64_t>(nr) * OC);
    round_rows(xs, inp + static_cast<int64_t>(r0) * IC, static_cast<int64_t>(nr) * IC);
    if (dinp != nullptr) gemm(input_grad_product(CUDA_R_16BF, dinp + static_cast<int64_t>(r0) * IC, ds, w, nr, IC, OC));
    gemm(weight_grad_product(CUDA_R_16BF, dw, ds, xs, nr, IC, OC));  // the blocks' sums added in row order
  }
  bias_grad(dbias, dout, N, OC);
}

}  // namespace tessera::ops::cuda
