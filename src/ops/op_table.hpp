// One backend's ops as a table of function pointers with the signatures of ops.hpp (ggml's backend interface in
// small): the CPU table points at the ops of src/ops/cpu/ (float and double), the CUDA table at those of
// src/ops/cuda/ (float). Code that runs on either backend calls through the table its Backend hands out; the
// parity tests call the same entry of two tables on the same inputs.
//
// Pointers passed to a table's ops are that backend's memory (Backend::allocate), the loss sums' doubles included;
// the host scalars that sum_squares and has_nonfinite return come back to the host, which on a GPU waits for the
// device (training uses sum_squares_to and the loss sums instead, read once per step).
#pragma once

#include "ops/ops.hpp"

namespace tessera::ops {

template <typename T>
struct OpTable {
  const char* backend = "";
  decltype(&embedding_forward<T>) embedding_forward = nullptr;
  decltype(&embedding_backward<T>) embedding_backward = nullptr;
  decltype(&residual_forward<T>) residual_forward = nullptr;
  decltype(&layernorm_forward<T>) layernorm_forward = nullptr;
  decltype(&layernorm_backward<T>) layernorm_backward = nullptr;
  decltype(&rmsnorm_forward<T>) rmsnorm_forward = nullptr;
  decltype(&rmsnorm_backward<T>) rmsnorm_backward = nullptr;
  decltype(&residual_layernorm_forward<T>) residual_layernorm_forward = nullptr;
  decltype(&residual_rmsnorm_forward<T>) residual_rmsnorm_forward = nullptr;
  decltype(&matmul_forward<T>) matmul_forward = nullptr;
  decltype(&matmul_backward<T>) matmul_backward = nullptr;
  // bf16 operands: float tables only (null in the double one)
  decltype(&ops::round_to_bf16) round_to_bf16 = nullptr;
  decltype(&ops::matmul_forward_bf16) matmul_forward_bf16 = nullptr;
  decltype(&ops::matmul_backward_bf16) matmul_backward_bf16 = nullptr;
  decltype(&gelu_forward<T>) gelu_forward = nullptr;
  decltype(&gelu_backward<T>) gelu_backward = nullptr;
  decltype(&swiglu_forward<T>) swiglu_forward = nullptr;
  decltype(&swiglu_backward<T>) swiglu_backward = nullptr;
  decltype(&rope_forward<T>) rope_forward = nullptr;
  decltype(&rope_backward<T>) rope_backward = nullptr;
  decltype(&attention_forward<T>) attention_forward = nullptr;
  decltype(&attention_backward<T>) attention_backward = nullptr;
  decltype(&flash_attention_forward<T>) flash_attention_forward = nullptr;
  decltype(&flash_attention_backward<T>) flash_attention_backward = nullptr;
  // bf16 operands (cuDNN's on CUDA): float tables only
  decltype(&ops::flash_attention_bf16_forward) flash_attention_bf16_forward = nullptr;
  decltype(&ops::flash_attention_bf16_backward) flash_attention_bf16_backward = nullptr;
  decltype(&ops::flash_attention_bf16_check) flash_attention_bf16_check = nullptr;
  decltype(&cross_entropy_forward<T>) cross_entropy_forward = nullptr;
  decltype(&cross_entropy_backward<T>) cross_entropy_backward = nullptr;
  decltype(&cross_entropy_forward_backward<T>) cross_entropy_forward_backward = nullptr;
  decltype(&vocab_parallel_max<T>) vocab_parallel_max = nullptr;
  decltype(&vocab_parallel_sum_exp<T>) vocab_parallel_sum_exp = nullptr;
  decltype(&vocab_parallel_loss<T>) vocab_parallel_loss = nullptr;
  decltype(&vocab_parallel_backward<T>) vocab_parallel_backward = nullptr;
  decltype(&sum_squares<T>) sum_squares = nullptr;
  decltype(&sum_squares_to<T>) sum_squares_to = nullptr;
  decltype(&scale<T>) scale = nullptr;
  decltype(&has_nonfinite<T>) has_nonfinite = nullptr;
  decltype(&adamw_update<T>) adamw_update = nullptr;
};

namespace cpu {
// The CPU backend's ops (src/ops/cpu/), float and double.
template <typename T>
const OpTable<T>& table();
}  // namespace cpu

}  // namespace tessera::ops
