// Attention in tiles (FlashAttention-2's algorithm, Dao 2023), per (batch, head) through BLAS on Br x Bc tiles.
//
// Forward, for a block of queries: walk the key blocks, keeping each row's running maximum m and sum l of
// exponentials (the online softmax); the output block is rescaled by exp(m_old - m_new) as m grows. At the end
// out = O / l and lse = m + log(l). The (T, T) scores never exist: a thread holds one Br x Bc tile.
// Backward recomputes each tile's probabilities from lse: P = exp(S - lse), and with D_i = dO_i . O_i
//   dS = P * (dO v^T - D);  dq = dS k / sqrt(HS);  dk += dS^T q / sqrt(HS);  dv += P^T dO.
// A task owns a (batch, kv head) and walks its query heads and blocks in a fixed order: deterministic.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/blas.hpp"
#include "ops/cpu/fast_math.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {
namespace {

constexpr int kTile = 64;  // Br = Bc: the diagonal tile of a causal row always holds the row's own key

struct Heads {
  int Tn, NH, NKV, HS;
  int qkv() const { return (NH + 2 * NKV) * HS; }
  int c() const { return NH * HS; }
  int group() const { return NH / NKV; }
};

// Keys of the tile starting at k0 (bc of them) that query q may see.
int visible_keys(int q, int k0, int bc, bool causal) {
  return causal ? std::clamp(q - k0 + 1, 0, bc) : bc;
}

// Key blocks a query block starting at q0 (br rows) looks at: [0, end).
int key_end(int q0, int br, int Tn, bool causal) {
  return causal ? std::min(q0 + br, Tn) : Tn;
}

}  // namespace

int64_t flash_attention_scratch_size(int HS) {
  const int64_t forward = static_cast<int64_t>(kTile) * kTile + static_cast<int64_t>(kTile) * HS + 2 * kTile;
  const int64_t backward = 2 * static_cast<int64_t>(kTile) * kTile + kTile;
  return std::max(forward, backward);
}

template <typename T>
void flash_attention_forward(T* out, T* lse, const T* qkv, int B, int Tn, int NH, int NKV, int HS, bool causal,
                             Context<T>& ctx) {
  const Heads s{Tn, NH, NKV, HS};
  const int QKV = s.qkv();
  const T scale = T(1) / std::sqrt(static_cast<T>(HS));
  const int blocks = (Tn + kTile - 1) / kTile;
#pragma omp parallel for schedule(dynamic)
  for (int task = 0; task < B * NH * blocks; ++task) {
    const int bh = task / blocks;
    const int b = bh / NH;
    const int h = bh % NH;
    const int g = h / s.group();
    const int q0 = (task % blocks) * kTile;
    const int br = std::min(kTile, Tn - q0);
    const T* base = qkv + static_cast<int64_t>(b) * Tn * QKV;
    const T* q = base + static_cast<int64_t>(q0) * QKV + static_cast<int64_t>(h) * HS;
    const T* k = base + static_cast<int64_t>(NH + g) * HS;
    const T* v = base + static_cast<int64_t>(NH + NKV + g) * HS;
    T* p = ctx.thread_scratch();  // (Br, Bc) scores, then probabilities
    T* o = p + kTile * kTile;     // (Br, HS) unnormalised output
    T* m = o + static_cast<int64_t>(kTile) * HS;
    T* l = m + kTile;
    std::fill(m, m + br, -std::numeric_limits<T>::infinity());
    std::fill(l, l + br, T(0));
    std::fill(o, o + static_cast<int64_t>(br) * HS, T(0));
    for (int k0 = 0; k0 < key_end(q0, br, Tn, causal); k0 += kTile) {
      const int bc = std::min(kTile, Tn - k0);
      gemm<T>(false, true, br, bc, HS, scale, q, QKV, k + static_cast<int64_t>(k0) * QKV, QKV, T(0), p, kTile);
      for (int r = 0; r < br; ++r) {
        T* row = p + static_cast<int64_t>(r) * kTile;
        const int n = visible_keys(q0 + r, k0, bc, causal);
        T mx = m[r];
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < n; ++j) mx = std::max(mx, row[j]);
        T sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < n; ++j) {
          row[j] = cpu::exp(row[j] - mx);
          sum += row[j];
        }
        std::fill(row + n, row + bc, T(0));
        const T alpha = m[r] == -std::numeric_limits<T>::infinity() ? T(0) : cpu::exp(m[r] - mx);
        T* orow = o + static_cast<int64_t>(r) * HS;
#pragma omp simd
        for (int d = 0; d < HS; ++d) orow[d] *= alpha;
        l[r] = l[r] * alpha + sum;
        m[r] = mx;
      }
      gemm<T>(false, false, br, HS, bc, T(1), p, kTile, v + static_cast<int64_t>(k0) * QKV, QKV, T(1), o, HS);
    }
    T* y = out + (static_cast<int64_t>(b) * Tn + q0) * s.c() + static_cast<int64_t>(h) * HS;
    T* lrow = lse + (static_cast<int64_t>(b) * NH + h) * Tn + q0;
    for (int r = 0; r < br; ++r) {
      const T inv = T(1) / l[r];
      for (int d = 0; d < HS; ++d) y[static_cast<int64_t>(r) * s.c() + d] = o[static_cast<int64_t>(r) * HS + d] * inv;
      lrow[r] = m[r] + std::log(l[r]);
    }
  }
}

template <typename T>
void flash_attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse, int B, int Tn, int NH,
                              int NKV, int HS, bool causal, Context<T>& ctx) {
  const Heads s{Tn, NH, NKV, HS};
  const int QKV = s.qkv();
  const int C = s.c();
  const T scale = T(1) / std::sqrt(static_cast<T>(HS));
#pragma omp parallel for schedule(static)
  for (int bg = 0; bg < B * NKV; ++bg) {
    const int b = bg / NKV;
    const int g = bg % NKV;
    const int64_t base = static_cast<int64_t>(b) * Tn * QKV;
    const T* k = qkv + base + static_cast<int64_t>(NH + g) * HS;
    const T* v = qkv + base + static_cast<int64_t>(NH + NKV + g) * HS;
    T* dk = dqkv + base + static_cast<int64_t>(NH + g) * HS;
    T* dv = dqkv + base + static_cast<int64_t>(NH + NKV + g) * HS;
    for (int t = 0; t < Tn; ++t) {
      std::fill(dk + static_cast<int64_t>(t) * QKV, dk + static_cast<int64_t>(t) * QKV + HS, T(0));
      std::fill(dv + static_cast<int64_t>(t) * QKV, dv + static_cast<int64_t>(t) * QKV + HS, T(0));
    }
    T* p = ctx.thread_scratch();   // (Br, Bc) probabilities
    T* ds = p + kTile * kTile;     // (Br, Bc) dP, then dS in place
    T* drow = ds + kTile * kTile;  // (Br) D = rowsum(dO * O)
    for (int hg = 0; hg < s.group(); ++hg) {
      const int h = g * s.group() + hg;
      for (int q0 = 0; q0 < Tn; q0 += kTile) {
        const int br = std::min(kTile, Tn - q0);
        const T* q = qkv + base + static_cast<int64_t>(q0) * QKV + static_cast<int64_t>(h) * HS;
        T* dq = dqkv + base + static_cast<int64_t>(q0) * QKV + static_cast<int64_t>(h) * HS;
        const int64_t orow0 = (static_cast<int64_t>(b) * Tn + q0) * C + static_cast<int64_t>(h) * HS;
        const T* dy = dout + orow0;
        const T* y = out + orow0;
        const T* lrow = lse + (static_cast<int64_t>(b) * NH + h) * Tn + q0;
        for (int r = 0; r < br; ++r) {
          T dot = 0;
          for (int d = 0; d < HS; ++d) dot += dy[static_cast<int64_t>(r) * C + d] * y[static_cast<int64_t>(r) * C + d];
          drow[r] = dot;
        }
        for (int k0 = 0; k0 < key_end(q0, br, Tn, causal); k0 += kTile) {
          const int bc = std::min(kTile, Tn - k0);
          const T* kb = k + static_cast<int64_t>(k0) * QKV;
          const T* vb = v + static_cast<int64_t>(k0) * QKV;
          gemm<T>(false, true, br, bc, HS, scale, q, QKV, kb, QKV, T(0), p, kTile);  // S
          gemm<T>(false, true, br, bc, HS, T(1), dy, C, vb, QKV, T(0), ds, kTile);   // dP = dO v^T
          for (int r = 0; r < br; ++r) {
            T* prow = p + static_cast<int64_t>(r) * kTile;
            T* dsrow = ds + static_cast<int64_t>(r) * kTile;
            const int n = visible_keys(q0 + r, k0, bc, causal);
#pragma omp simd
            for (int j = 0; j < n; ++j) {
              prow[j] = cpu::exp(prow[j] - lrow[r]);
              dsrow[j] = prow[j] * (dsrow[j] - drow[r]);
            }
            std::fill(prow + n, prow + bc, T(0));
            std::fill(dsrow + n, dsrow + bc, T(0));
          }
          const T first = k0 == 0 ? T(0) : T(1);
          gemm<T>(false, false, br, HS, bc, scale, ds, kTile, kb, QKV, first, dq, QKV);  // dq (+)= dS k
          gemm<T>(true, false, bc, HS, br, scale, ds, kTile, q, QKV, T(1), dk + static_cast<int64_t>(k0) * QKV, QKV);
          gemm<T>(true, false, bc, HS, br, T(1), p, kTile, dy, C, T(1), dv + static_cast<int64_t>(k0) * QKV, QKV);
        }
      }
    }
  }
}

template void flash_attention_forward<float>(float*, float*, const float*, int, int, int, int, int, bool,
                                             Context<float>&);
template void flash_attention_forward<double>(double*, double*, const double*, int, int, int, int, int, bool,
                                              Context<double>&);
template void flash_attention_backward<float>(float*, const float*, const float*, const float*, const float*, int, int,
                                              int, int, int, bool, Context<float>&);
template void flash_attention_backward<double>(double*, const double*, const double*, const double*, const double*, int,
                                               int, int, int, int, bool, Context<double>&);

}  // namespace tessera::ops
