// Element-wise CUDA ops: embedding, residual add, GELU, SwiGLU, RoPE, scale, AdamW (the math of src/ops/cpu/).
#include <cmath>

#include "ops/cuda/common.cuh"
#include "ops/cuda/ops_cuda.hpp"

namespace tessera::ops::cuda {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654F;
constexpr float kCubic = 0.044715F;

__global__ void embedding_forward_kernel(float* out, const int32_t* tokens, const float* wte, const float* wpe, int Tn,
                                         int C, int v0, int Vn, int64_t n) {
  TESSERA_GRID_STRIDE(i, n) {
    const int64_t bt = i / C;
    const int c = static_cast<int>(i % C);
    const int t = static_cast<int>(bt % Tn);
    const int64_t row = static_cast<int64_t>(tokens[bt]) - v0;
    const float e = row >= 0 && row < Vn ? wte[row * C + c] : 0.0F;
    out[i] = wpe != nullptr ? e + wpe[static_cast<int64_t>(t) * C + c] : e;
  }
}

// One thread per channel walks the tokens in order: a fixed order of addition for rows that repeat.
__global__ void embedding_backward_wte_kernel(float* dwte, const float* dout, const int32_t* tokens, int64_t N, int C,
                                              int v0, int Vn) {
  const int c = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= C) return;
  for (int64_t bt = 0; bt < N; ++bt) {
    const int64_t row = static_cast<int64_t>(tokens[bt]) - v0;
    if (row >= 0 && row < Vn) dwte[row * C + c] += dout[bt * C + c];
  }
}

__global__ void embedding_backward_wpe_kernel(float* dwpe, const float* dout, int B, int Tn, int C) {
  TESSERA_GRID_STRIDE(i, static_cast<int64_t>(Tn) * C) {
    float s = dwpe[i];
    for (int b = 0; b < B; ++b) s += dout[static_cast<int64_t>(b) * Tn * C + i];
    dwpe[i] = s;
  }
}

__global__ void residual_kernel(float* out, const float* x, const float* y, const float* bias, int C, int64_t n) {
  TESSERA_GRID_STRIDE(i, n) {
    out[i] = bias != nullptr ? x[i] + (y[i] + bias[i % C]) : x[i] + y[i];
  }
}

__global__ void gelu_forward_kernel(float* out, const float* inp, int64_t n) {
  TESSERA_GRID_STRIDE(i, n) {
    const float x = inp[i];
    out[i] = 0.5F * x * (1.0F + tanhf(kSqrt2OverPi * (x + kCubic * x * x * x)));
  }
}

__global__ void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, int64_t n) {
  TESSERA_GRID_STRIDE(i, n) {
    const float x = inp[i];
    const float th = tanhf(kSqrt2OverPi * (x + kCubic * x * x * x));
    const float sech2 = 1.0F - th * th;
    const float grad = 0.5F * (1.0F + th) + 0.5F * x * sech2 * kSqrt2OverPi * (1.0F + 3.0F * kCubic * x * x);
    dinp[i] = grad * dout[i];
  }
}

__global__ void swiglu_forward_kernel(float* out, const float* inp, int F, int64_t n) {
  TESSERA_GRID_STRIDE(i, n) {
    const int64_t row = i / F;
    const int f = static_cast<int>(i % F);
    const float g = inp[row * 2 * F + f];
    out[i] = g / (1.0F + expf(-g)) * inp[row * 2 * F + F + f];
  }
}

__global__ void swiglu_backward_kernel(float* dinp, const float* inp, const float* dout, int F, int64_t n) {
  TESSERA_GRID_STRIDE(i, n) {
    const int64_t row = i / F;
    const int f = static_cast<int>(i % F);
    const float g = inp[row * 2 * F + f];
    const float up = inp[row * 2 * F + F + f];
    const float sig = 1.0F / (1.0F + expf(-g));
    dinp[row * 2 * F + f] = dout[i] * up * sig * (1.0F + g * (1.0F - sig));
    dinp[row * 2 * F + F + f] = dout[i] * g * sig;
  }
}

// One thread per (token, q or k head, pair i): rotates (x[i], x[i + HS/2]) by direction * angle(t, i).
__global__ void rope_kernel(float* qkv, const float* cos, const float* sin, int Tn, int NH, int NKV, int HS,
                            float direction, int64_t n) {
  const int half = HS / 2;
  const int heads = NH + NKV;
  const int64_t row = static_cast<int64_t>(NH + 2 * NKV) * HS;
  TESSERA_GRID_STRIDE(idx, n) {
    const int i = static_cast<int>(idx % half);
    const int h = static_cast<int>((idx / half) % heads);
    const int64_t bt = idx / (static_cast<int64_t>(half) * heads);
    const int t = static_cast<int>(bt % Tn);
    float* x = qkv + bt * row + static_cast<int64_t>(h) * HS;
    const float c = cos[static_cast<int64_t>(t) * half + i];
    const float s = direction * sin[static_cast<int64_t>(t) * half + i];
    const float x1 = x[i];
    const float x2 = x[i + half];
    x[i] = x1 * c - x2 * s;
    x[i + half] = x2 * c + x1 * s;
  }
}

__global__ void scale_kernel(float* x, float factor, int64_t n) {
  TESSERA_GRID_STRIDE(i, n) {
    x[i] *= factor;
  }
}

__global__ void adamw_kernel(float* param, const float* grad, float* m, float* v, int64_t n, float lr, float b1,
                             float b2, float c1, float c2, float eps, float wd) {
  TESSERA_GRID_STRIDE(i, n) {
    const float g = grad[i];
    const float mi = b1 * m[i] + (1.0F - b1) * g;
    const float vi = b2 * v[i] + (1.0F - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] -= lr * ((mi * c1) / (sqrtf(vi * c2) + eps) + wd * param[i]);
  }
}

}  // namespace

void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B, int Tn, int C,
                       int v0, int Vn) {
  const int64_t n = static_cast<int64_t>(B) * Tn * C;
  embedding_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, tokens, wte, wpe, Tn, C, v0, Vn, n);
  check_launch("embedding_forward");
}

void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B, int Tn, int C,
                        int v0, int Vn) {
  embedding_backward_wte_kernel<<<grid_for(C), kThreads, 0, stream()>>>(dwte, dout, tokens,
                                                                        static_cast<int64_t>(B) * Tn, C, v0, Vn);
  check_launch("embedding_backward (wte)");
  if (dwpe == nullptr) return;
  embedding_backward_wpe_kernel<<<grid_for(static_cast<int64_t>(Tn) * C), kThreads, 0, stream()>>>(dwpe, dout, B, Tn,
                                                                                                   C);
  check_launch("embedding_backward (wpe)");
}

void residual_forward(float* out, const float* x, const float* y, const float* bias, int N, int C) {
  const int64_t n = static_cast<int64_t>(N) * C;
  residual_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, x, y, bias, C, n);
  check_launch("residual_forward");
}

void gelu_forward(float* out, const float* inp, int64_t n) {
  gelu_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, inp, n);
  check_launch("gelu_forward");
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
  gelu_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dinp, inp, dout, n);
  check_launch("gelu_backward");
}

void swiglu_forward(float* out, const float* inp, int N, int F) {
  const int64_t n = static_cast<int64_t>(N) * F;
  swiglu_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, inp, F, n);
  check_launch("swiglu_forward");
}

void swiglu_backward(float* dinp, const float* inp, const float* dout, int N, int F) {
  const int64_t n = static_cast<int64_t>(N) * F;
  swiglu_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dinp, inp, dout, F, n);
  check_launch("swiglu_backward");
}

void rope_forward(float* qkv, const float* cos, const float* sin, int B, int Tn, int NH, int NKV, int HS) {
  const int64_t n = static_cast<int64_t>(B) * Tn * (NH + NKV) * (HS / 2);
  rope_kernel<<<grid_for(n), kThreads, 0, stream()>>>(qkv, cos, sin, Tn, NH, NKV, HS, 1.0F, n);
  check_launch("rope_forward");
}

void rope_backward(float* dqkv, const float* cos, const float* sin, int B, int Tn, int NH, int NKV, int HS) {
  const int64_t n = static_cast<int64_t>(B) * Tn * (NH + NKV) * (HS / 2);
  rope_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dqkv, cos, sin, Tn, NH, NKV, HS, -1.0F, n);
  check_launch("rope_backward");
}

void scale(float* x, float factor, int64_t n) {
  scale_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, factor, n);
  check_launch("scale");
}

void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWParams& p) {
  // the bias corrections as the CPU op computes them (float)
  const float c1 = 1.0F / (1.0F - static_cast<float>(std::pow(static_cast<double>(p.beta1), static_cast<double>(p.t))));
  const float c2 = 1.0F / (1.0F - static_cast<float>(std::pow(static_cast<double>(p.beta2), static_cast<double>(p.t))));
  adamw_kernel<<<grid_for(n), kThreads, 0, stream()>>>(param, grad, m, v, n, p.lr, p.beta1, p.beta2, c1, c2, p.eps,
                                                       p.weight_decay);
  check_launch("adamw_update");
}

}  // namespace tessera::ops::cuda
