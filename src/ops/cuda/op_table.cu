// The CUDA backend's op table: the ops of this folder.
#include "ops/cuda/ops_cuda.hpp"

namespace tessera::ops::cuda {
namespace {

OpTable<float> make_table() {
  OpTable<float> t;
  t.backend = "cuda";
  t.embedding_forward = &cuda::embedding_forward;
  t.embedding_backward = &cuda::embedding_backward;
  t.residual_forward = &cuda::residual_forward;
  t.layernorm_forward = &cuda::layernorm_forward;
  t.layernorm_backward = &cuda::layernorm_backward;
  t.rmsnorm_forward = &cuda::rmsnorm_forward;
  t.rmsnorm_backward = &cuda::rmsnorm_backward;
  t.residual_layernorm_forward = &cuda::residual_layernorm_forward;
  t.residual_rmsnorm_forward = &cuda::residual_rmsnorm_forward;
  t.matmul_forward = &cuda::matmul_forward;
  t.matmul_backward = &cuda::matmul_backward;
  t.round_to_bf16 = &cuda::round_to_bf16;
  t.matmul_forward_bf16 = &cuda::matmul_forward_bf16;
  t.matmul_backward_bf16 = &cuda::matmul_backward_bf16;
  t.gelu_forward = &cuda::gelu_forward;
  t.gelu_backward = &cuda::gelu_backward;
  t.swiglu_forward = &cuda::swiglu_forward;
  t.swiglu_backward = &cuda::swiglu_backward;
  t.rope_forward = &cuda::rope_forward;
  t.rope_backward = &cuda::rope_backward;
  t.attention_forward = &cuda::attention_forward;
  t.attention_backward = &cuda::attention_backward;
  t.flash_attention_forward = &cuda::flash_attention_forward;
  t.flash_attention_backward = &cuda::flash_attention_backward;
  t.flash_attention_bf16_forward = &cuda::flash_attention_bf16_forward;
  t.flash_attention_bf16_backward = &cuda::flash_attention_bf16_backward;
  t.flash_attention_bf16_check = &cuda::flash_attention_bf16_check;
  t.cross_entropy_forward = &cuda::cross_entropy_forward;
  t.cross_entropy_backward = &cuda::cross_entropy_backward;
  t.cross_entropy_forward_backward = &cuda::cross_entropy_forward_backward;
  t.vocab_parallel_max = &cuda::vocab_parallel_max;
  t.vocab_parallel_sum_exp = &cuda::vocab_parallel_sum_exp;
  t.vocab_parallel_loss = &cuda::vocab_parallel_loss;
  t.vocab_parallel_backward = &cuda::vocab_parallel_backward;
  t.sum_squares = &cuda::sum_squares;
  t.sum_squares_to = &cuda::sum_squares_to;
  t.scale = &cuda::scale;
  t.has_nonfinite = &cuda::has_nonfinite;
  t.adamw_update = &cuda::adamw_update;
  return t;
}

}  // namespace

const OpTable<float>& table() {
  static const OpTable<float> t = make_table();
  return t;
}

}  // namespace tessera::ops::cuda
