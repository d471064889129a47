// Tensor-parallel communication, written as forward/backward pairs (Megatron's mappings.py):
//   tp_copy   — forward identity, backward all-reduce: enters a column-parallel layer (each rank's input gradient is
//               a partial sum over its output columns);
//   tp_reduce — forward all-reduce, backward identity: leaves a row-parallel layer (each rank's output is a partial
//               sum over its input columns), and gathers the vocab-parallel embedding.
// Each function is the half of its pair that communicates; the other half is the identity and has no code.
// A group of one returns at once.
#pragma once

#include <cstdint>

#include "core/communicator.hpp"

namespace tessera {

// backward of tp_copy: d(input) summed over the tensor-parallel ranks, in place. x: (n)
template <typename T>
void tp_copy_backward(const Communicator& tp, T* dx, int64_t n) {
  tp.all_reduce_sum(dx, n);
}

// forward of tp_reduce: the layer's output summed over the tensor-parallel ranks, in place. y: (n)
template <typename T>
void tp_reduce_forward(const Communicator& tp, T* y, int64_t n) {
  tp.all_reduce_sum(y, n);
}

}  // namespace tessera
