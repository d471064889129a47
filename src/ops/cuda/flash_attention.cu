// Attention in tiles on CUDA (FlashAttention-2's algorithm, fp32): (B, NH, T, T) never exists in GPU memory.
// A warp owns one row (a query in forward and dq, a key in dk/dv); its lanes hold the row's head dimensions
// (d = lane + 32 t). The block's warps share tiles of keys and values (or queries and output gradients) staged in
// shared memory. Forward keeps each query's running maximum and sum (the online softmax) and writes
// lse = m + log(l); backward recomputes P = exp(q.k * scale - lse) and, with D_i = dO_i . O_i,
//   dS = P * (dO_i . v_j - D_i);  dq_i = scale * sum_j dS k_j;  dk_j = scale * sum_i dS q_i;  dv_j = sum_i P dO_i,
// the query side and the key side by two kernels, each summing in a fixed order (no atomics: the same bits on
// every run). The CPU op of the same name (src/ops/cpu/flash_attention.cpp) is the reference it is tested against.
// (A bf16 tensor-core version, or cuDNN's fused attention, is the next step for speed: see docs/gpu.md.)
#include <cmath>
#include <stdexcept>
#include <string>

#include "ops/cuda/common.cuh"
#include "ops/cuda/ops_cuda.hpp"

namespace tessera::ops::cuda {
namespace {

constexpr int kWarps = 8;          // rows per block
constexpr int kTileRows = 16;      // keys (forward, dq) or queries (dk, dv) staged per tile
constexpr int kMaxHeadSize = 256;  // head sizes up to this
constexpr int kPerLane = kMaxHeadSize / 32;

struct Shape {
  int Tn, NH, NKV, HS;
  __host__ __device__ int64_t qkv() const { return static_cast<int64_t>(NH + 2 * NKV) * HS; }
  __host__ __device__ int64_t c() const { return static_cast<int64_t>(NH) * HS; }
  __host__ __device__ int group() const { return NH / NKV; }
};

// Loads kPerLane elements of a row (d = lane + 32 t) into registers, zero beyond HS.
__device__ inline void load_row(float (&r)[kPerLane], const float* row, int HS, int lane) {
#pragma unroll
  for (int t = 0; t < kPerLane; ++t) {
    const int d = lane + 32 * t;
    r[t] = d < HS ? row[d] : 0.0F;
  }
}

// The dot product of a row in registers with a row in memory, summed over the warp (every lane gets it).
__device__ inline float warp_dot(const float (&r)[kPerLane], const float* row, int HS, int lane) {
  float acc = 0;
#pragma unroll
  for (int t = 0; t < kPerLane; ++t) {
    const int d = lane + 32 * t;
    if (d < HS) acc += r[t] * row[d];
  }
  return warp_sum(acc);
}

// Copies rows [r0, r0 + n) of a strided matrix (row stride ld, HS wide) into shared memory (kTileRows, HS).
__device__ inline void stage(float* tile, const float* src, int64_t ld, int r0, int n, int HS) {
  for (int e = static_cast<int>(threadIdx.x); e < kTileRows * HS; e += blockDim.x) {
    const int r = e / HS;
    tile[e] = r < n ? src[(static_cast<int64_t>(r0) + r) * ld + e % HS] : 0.0F;
  }
}

// A block of the query-side kernels: query rows i0 .. i0 + kWarps - 1 (a warp each) of query head h of batch b.
struct QueryRows {
  int lane, i0, i, h, b, g;
  const float* base;  // the batch's qkv (T, QKV)
  __device__ QueryRows(const float* qkv, const Shape& s)
      : lane(static_cast<int>(threadIdx.x % 32)),
        i0(static_cast<int>(blockIdx.x) * kWarps),
        i(i0 + static_cast<int>(threadIdx.x / 32)),
        h(static_cast<int>(blockIdx.y)),
        b(static_cast<int>(blockIdx.z)),
        g(h / s.group()),
        base(qkv + static_cast<int64_t>(b) * s.Tn * s.qkv()) {}
};

// Walks the keys (and values) the block's queries see, a tile at a time through shared memory (tiles: 2 kTileRows
// HS floats); body(k, v) for each key the warp's query sees, in order. Every thread of the block must call it.
template <typename Body>
__device__ void for_each_visible_key(const QueryRows& r, const Shape& s, bool causal, float* tiles, Body&& body) {
  float* ktile = tiles;
  float* vtile = tiles + kTileRows * s.HS;
  const int end = causal ? min(r.i0 + kWarps, s.Tn) : s.Tn;
  for (int k0 = 0; k0 < end; k0 += kTileRows) {
    const int n = min(kTileRows, s.Tn - k0);
    __syncthreads();  // the previous tile is no longer read
    stage(ktile, r.base + static_cast<int64_t>(s.NH + r.g) * s.HS, s.qkv(), k0, n, s.HS);
    stage(vtile, r.base + static_cast<int64_t>(s.NH + s.NKV + r.g) * s.HS, s.qkv(), k0, n, s.HS);
    __syncthreads();
    if (r.i >= s.Tn) continue;
    const int visible = causal ? min(n, r.i - k0 + 1) : n;
    for (int j = 0; j < visible; ++j) body(ktile + j * s.HS, vtile + j * s.HS);
  }
}

__global__ void flash_forward_kernel(float* out, float* lse, const float* qkv, Shape s, float scale, bool causal) {
  extern __shared__ float tiles[];  // k (kTileRows, HS), v (kTileRows, HS)
  const QueryRows r(qkv, s);
  const int lane = r.lane, i = r.i, h = r.h, b = r.b;
  float q[kPerLane];
  float o[kPerLane] = {};
  if (i < s.Tn) load_row(q, r.base + i * s.qkv() + static_cast<int64_t>(h) * s.HS, s.HS, lane);
  float m = -INFINITY;
  float l = 0;
  for_each_visible_key(r, s, causal, tiles, [&](const float* k, const float* v) {
    const float score = warp_dot(q, k, s.HS, lane) * scale;
    const float m_new = fmaxf(m, score);
    const float alpha = expf(m - m_new);  // 0 while m is -inf
    const float p = expf(score - m_new);
    l = l * alpha + p;
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) {
      const int d = lane + 32 * t;
      o[t] = o[t] * alpha + (d < s.HS ? p * v[d] : 0.0F);
    }
    m = m_new;
  });
  if (i >= s.Tn) return;
  float* y = out + (static_cast<int64_t>(b) * s.Tn + i) * s.c() + static_cast<int64_t>(h) * s.HS;
  const float inv = 1.0F / l;
#pragma unroll
  for (int t = 0; t < kPerLane; ++t) {
    const int d = lane + 32 * t;
    if (d < s.HS) y[d] = o[t] * inv;
  }
  if (lane == 0) lse[(static_cast<int64_t>(b) * s.NH + h) * s.Tn + i] = m + logf(l);
}

// The query side: dq_i, and D_i = dO_i . O_i for the key side (written to drow, (B, NH, T)).
__global__ void flash_backward_query_kernel(float* dqkv, float* drow, const float* dout, const float* qkv,
                                            const float* out, const float* lse, Shape s, float scale, bool causal) {
  extern __shared__ float tiles[];  // k, v tiles as in forward
  const QueryRows r(qkv, s);
  const int lane = r.lane, i = r.i, h = r.h, b = r.b;
  const int64_t QKV = s.qkv();
  const int64_t row = (static_cast<int64_t>(b) * s.NH + h) * s.Tn + i;
  float q[kPerLane];
  float dy[kPerLane];
  float dq[kPerLane] = {};
  float D = 0;
  float row_lse = 0;
  if (i < s.Tn) {
    const int64_t at = (static_cast<int64_t>(b) * s.Tn + i) * s.c() + static_cast<int64_t>(h) * s.HS;
    load_row(q, r.base + i * QKV + static_cast<int64_t>(h) * s.HS, s.HS, lane);
    load_row(dy, dout + at, s.HS, lane);
    D = warp_dot(dy, out + at, s.HS, lane);
    row_lse = lse[row];
    if (lane == 0) drow[row] = D;
  }
  for_each_visible_key(r, s, causal, tiles, [&](const float* k, const float* v) {
    const float p = expf(warp_dot(q, k, s.HS, lane) * scale - row_lse);
    const float ds = p * (warp_dot(dy, v, s.HS, lane) - D);
#pragma unroll
    for (int t = 0; t < kPerLane; ++t) {
      const int d = lane + 32 * t;
      if (d < s.HS) dq[t] += ds * k[d];
    }
  });
  if (i >= s.Tn) return;
  float* dst = dqkv + (static_cast<int64_t>(b) * s.Tn + i) * QKV + static_cast<int64_t>(h) * s.HS;
#pragma unroll
  for (int t = 0; t < kPerLane; ++t) {
    const int d = lane + 32 * t;
    if (d < s.HS) dst[d] = scale * dq[t];
  }
}

// The key side: dk_j and dv_j of kv head g, over the group's query heads and their queries, in order.
__global__ void flash_backward_key_kernel(float* dqkv, const float* drow, const float* dout, const float* qkv,
                                          const float* lse, Shape s, float scale, bool causal) {
  extern __shared__ float tiles[];  // q (kTileRows, HS), dO (kTileRows, HS), lse (kTileRows), D (kTileRows)
  float* qtile = tiles;
  float* dytile = tiles + kTileRows * s.HS;
  float* lse_tile = dytile + kTileRows * s.HS;
  float* d_tile = lse_tile + kTileRows;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int j0 = static_cast<int>(blockIdx.x) * kWarps;
  const int j = j0 + static_cast<int>(threadIdx.x / 32);
  const int g = static_cast<int>(blockIdx.y);
  const int b = static_cast<int>(blockIdx.z);
  const int64_t QKV = s.qkv();
  const float* base = qkv + static_cast<int64_t>(b) * s.Tn * QKV;
  float k[kPerLane];
  float v[kPerLane];
  float dk[kPerLane] = {};
  float dv[kPerLane] = {};
  if (j < s.Tn) {
    load_row(k, base + j * QKV + static_cast<int64_t>(s.NH + g) * s.HS, s.HS, lane);
    load_row(v, base + j * QKV + static_cast<int64_t>(s.NH + s.NKV + g) * s.HS, s.HS, lane);
  }
  const int start = causal ? j0 / kTileRows * kTileRows : 0;  // queries before the block's first key see none of it
  for (int hg = 0; hg < s.group(); ++hg) {
    const int h = g * s.group() + hg;
    const int64_t head = (static_cast<int64_t>(b) * s.NH + h) * s.Tn;
    for (int q0 = start; q0 < s.Tn; q0 += kTileRows) {
      const int n = min(kTileRows, s.Tn - q0);
      __syncthreads();
      stage(qtile, base + static_cast<int64_t>(h) * s.HS, QKV, q0, n, s.HS);
      stage(dytile, dout + static_cast<int64_t>(b) * s.Tn * s.c() + static_cast<int64_t>(h) * s.HS, s.c(), q0, n, s.HS);
      for (int r = static_cast<int>(threadIdx.x); r < kTileRows; r += blockDim.x) {
        lse_tile[r] = r < n ? lse[head + q0 + r] : 0.0F;
        d_tile[r] = r < n ? drow[head + q0 + r] : 0.0F;
      }
      __syncthreads();
      if (j >= s.Tn) continue;
      for (int r = causal ? max(0, j - q0) : 0; r < n; ++r) {
        const float p = expf(warp_dot(k, qtile + r * s.HS, s.HS, lane) * scale - lse_tile[r]);
        const float ds = p * (warp_dot(v, dytile + r * s.HS, s.HS, lane) - d_tile[r]);
#pragma unroll
        for (int t = 0; t < kPerLane; ++t) {
          const int d = lane + 32 * t;
          if (d < s.HS) {
            dv[t] += p * dytile[r * s.HS + d];
            dk[t] += ds * qtile[r * s.HS + d];
          }
        }
      }
    }
  }
  if (j >= s.Tn) return;
  float* dst = dqkv + (static_cast<int64_t>(b) * s.Tn + j) * QKV;
#pragma unroll
  for (int t = 0; t < kPerLane; ++t) {
    const int d = lane + 32 * t;
    if (d < s.HS) {
      dst[static_cast<int64_t>(s.NH + g) * s.HS + d] = scale * dk[t];
      dst[static_cast<int64_t>(s.NH + s.NKV + g) * s.HS + d] = dv[t];
    }
  }
}

void check_head_size(int HS, const char* op) {
  if (HS > kMaxHeadSize) throw std::runtime_error(std::string(op) + ": head sizes above 256 are not supported on CUDA");
}

unsigned row_blocks(int Tn) {
  return static_cast<unsigned>((Tn + kWarps - 1) / kWarps);
}

}  // namespace

void flash_attention_forward(float* out, float* lse, const float* qkv, int B, int Tn, int NH, int NKV, int HS,
                             bool causal, Context<float>& /*ctx*/) {
  if (B == 0 || Tn == 0) return;
  check_head_size(HS, "flash_attention_forward");
  const Shape s{Tn, NH, NKV, HS};
  const float scale = 1.0F / sqrtf(static_cast<float>(HS));
  const dim3 grid(row_blocks(Tn), static_cast<unsigned>(NH), static_cast<unsigned>(B));
  const size_t shared = 2 * static_cast<size_t>(kTileRows) * HS * sizeof(float);
  flash_forward_kernel<<<grid, kWarps * 32, shared, stream()>>>(out, lse, qkv, s, scale, causal);
  check_launch("flash_attention_forward");
}

void flash_attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                              int B, int Tn, int NH, int NKV, int HS, bool causal, Context<float>& /*ctx*/) {
  if (B == 0 || Tn == 0) return;
  check_head_size(HS, "flash_attention_backward");
  const Shape s{Tn, NH, NKV, HS};
  const float scale = 1.0F / sqrtf(static_cast<float>(HS));
  auto* drow = static_cast<float*>(scratch(static_cast<size_t>(attention_scratch_bytes(B, NH, Tn, true))));
  const size_t kv_tiles = 2 * static_cast<size_t>(kTileRows) * HS * sizeof(float);
  const dim3 queries(row_blocks(Tn), static_cast<unsigned>(NH), static_cast<unsigned>(B));
  flash_backward_query_kernel<<<queries, kWarps * 32, kv_tiles, stream()>>>(dqkv, drow, dout, qkv, out, lse, s, scale,
                                                                            causal);
  check_launch("flash_attention_backward (queries)");
  const size_t q_tiles = kv_tiles + 2 * static_cast<size_t>(kTileRows) * sizeof(float);
  const dim3 keys(row_blocks(Tn), static_cast<unsigned>(NKV), static_cast<unsigned>(B));
  flash_backward_key_kernel<<<keys, kWarps * 32, q_tiles, stream()>>>(dqkv, drow, dout, qkv, lse, s, scale, causal);
  check_launch("flash_attention_backward (keys and values)");
}

}  // namespace tessera::ops::cuda
