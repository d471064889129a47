// Tensor-parallel communication, written as forward/backward pairs (Megatron's mappings.py). Where a layer's input
// enters a column-parallel linear and where a row-parallel linear's output leaves, one pair applies, with or without
// sequence parallelism (sp):
//
//   entering   tp_enter_forward / tp_enter_backward
//              no sp (Megatron's tp_copy):   forward identity,           backward all-reduce
//              sp    (Megatron's tp_gather): forward all-gather of rows, backward reduce-scatter
//   leaving    tp_leave_forward / tp_leave_backward
//              no sp (Megatron's tp_reduce):  forward all-reduce,        backward identity
//              sp    (Megatron's tp_scatter): forward reduce-scatter,    backward all-gather of rows
//
// Buffers: `full` holds all N rows (N, C); `local` holds this rank's N / tp rows, which are rows
// [rank * N / tp, (rank + 1) * N / tp) of the full one; n_local is its element count. Without sequence
// parallelism local and full are the same N rows. A group of one returns at once.
#pragma once

#include <cstdint>

#include "core/communicator.hpp"

namespace tessera {

namespace tp_detail {
// The sum over tp of every rank's partial `full`: in place (all-reduce), or only this rank's rows into `local`
// (reduce-scatter, sequence parallelism). Returns where the sum is.
template <typename T>
T* sum_rows(const Communicator& tp, bool sp, T* full, T* local, int64_t n_local) {
  if (!sp) {
    tp.all_reduce_sum(full, n_local);
    return full;
  }
  tp.reduce_scatter(full, local, n_local);
  return local;
}
}  // namespace tp_detail

// forward of entering (tp_copy / tp_gather): full's own rows were written in place; gathers the others' (sp).
template <typename T>
void tp_enter_forward(const Communicator& tp, bool sp, T* full, int64_t n_local) {
  if (sp) tp.all_gather(full + tp.rank() * n_local, full, n_local);
}

// backward of entering (tp_copy / tp_gather): d(full) holds this rank's partial sums over its columns; returns d(local
// rows).
template <typename T>
T* tp_enter_backward(const Communicator& tp, bool sp, T* dfull, T* dlocal, int64_t n_local) {
  return tp_detail::sum_rows(tp, sp, dfull, dlocal, n_local);
}

// forward of leaving (tp_reduce / tp_scatter): full holds this rank's partial output; returns the summed local rows.
template <typename T>
const T* tp_leave_forward(const Communicator& tp, bool sp, T* full, T* local, int64_t n_local) {
  return tp_detail::sum_rows(tp, sp, full, local, n_local);
}

// backward of leaving (tp_reduce / tp_scatter): d(local rows) -> d(full) (every rank's rows).
template <typename T>
const T* tp_leave_backward(const Communicator& tp, bool sp, const T* dlocal, T* dfull, int64_t n_local) {
  if (!sp) return dlocal;
  tp.all_gather(dlocal, dfull, n_local);
  return dfull;
}

}  // namespace tessera
