// Deterministic column reductions shared by the CPU ops: each thread owns a block of columns and adds the rows in
// order, so a sum never depends on the thread count.
#pragma once

#include <algorithm>
#include <cstdint>

namespace tessera::ops::cpu {

constexpr int kColumnBlock = 64;

// For each column c of an (N, C) problem: f(i, c0, c1) is called for every row i in order, for the column block
// [c0, c1) of one thread.
template <typename F>
void for_column_blocks(int N, int C, F&& f) {
#pragma omp parallel for schedule(static)
  for (int c0 = 0; c0 < C; c0 += kColumnBlock) {
    const int c1 = std::min(C, c0 + kColumnBlock);
    for (int i = 0; i < N; ++i) f(i, c0, c1);
  }
}

}  // namespace tessera::ops::cpu
