// The CPU backend's op table: the ops of this folder.
#include "ops/op_table.hpp"

#include <type_traits>

namespace tessera::ops::cpu {
namespace {

template <typename T>
OpTable<T> make_table() {
  OpTable<T> t;
  t.backend = "cpu";
  t.embedding_forward = &ops::embedding_forward<T>;
  t.embedding_backward = &ops::embedding_backward<T>;
  t.residual_forward = &ops::residual_forward<T>;
  t.layernorm_forward = &ops::layernorm_forward<T>;
  t.layernorm_backward = &ops::layernorm_backward<T>;
  t.rmsnorm_forward = &ops::rmsnorm_forward<T>;
  t.rmsnorm_backward = &ops::rmsnorm_backward<T>;
  t.residual_layernorm_forward = &ops::residual_layernorm_forward<T>;
  t.residual_rmsnorm_forward = &ops::residual_rmsnorm_forward<T>;
  t.matmul_forward = &ops::matmul_forward<T>;
  t.matmul_backward = &ops::matmul_backward<T>;
  if constexpr (std::is_same_v<T, float>) {
    t.round_to_bf16 = &ops::round_to_bf16;
    t.matmul_forward_bf16 = &ops::matmul_forward_bf16;
    t.matmul_backward_bf16 = &ops::matmul_backward_bf16;
  }
  t.gelu_forward = &ops::gelu_forward<T>;
  t.gelu_backward = &ops::gelu_backward<T>;
  t.swiglu_forward = &ops::swiglu_forward<T>;
  t.swiglu_backward = &ops::swiglu_backward<T>;
  t.rope_forward = &ops::rope_forward<T>;
  t.rope_backward = &ops::rope_backward<T>;
  t.attention_forward = &ops::attention_forward<T>;
  t.attention_backward = &ops::attention_backward<T>;
  t.flash_attention_forward = &ops::flash_attention_forward<T>;
  t.flash_attention_backward = &ops::flash_attention_backward<T>;
  if constexpr (std::is_same_v<T, float>) {
    t.flash_attention_bf16_forward = &ops::flash_attention_bf16_forward;
    t.flash_attention_bf16_backward = &ops::flash_attention_bf16_backward;
    t.flash_attention_bf16_check = &ops::flash_attention_bf16_check;
  }
  t.cross_entropy_forward = &ops::cross_entropy_forward<T>;
  t.cross_entropy_backward = &ops::cross_entropy_backward<T>;
  t.cross_entropy_forward_backward = &ops::cross_entropy_forward_backward<T>;
  t.vocab_parallel_max = &ops::vocab_parallel_max<T>;
  t.vocab_parallel_sum_exp = &ops::vocab_parallel_sum_exp<T>;
  t.vocab_parallel_loss = &ops::vocab_parallel_loss<T>;
  t.vocab_parallel_backward = &ops::vocab_parallel_backward<T>;
  t.sum_squares = &ops::sum_squares<T>;
  t.sum_squares_to = &ops::sum_squares_to<T>;
  t.scale = &ops::scale<T>;
  t.has_nonfinite = &ops::has_nonfinite<T>;
  t.adamw_update = &ops::adamw_update<T>;
  return t;
}

}  // namespace

template <typename T>
const OpTable<T>& table() {
  static const OpTable<T> t = make_table<T>();
  return t;
}

template const OpTable<float>& table<float>();
template const OpTable<double>& table<double>();

}  // namespace tessera::ops::cpu
