// A CUDA build without the cuDNN frontend's headers: no cuDNN attention, and asking for it says why.
#include <stdexcept>
#include <string>

#include "ops/cuda/ops_cuda.hpp"

namespace tessera::ops::cuda {
namespace {

const char* const kWhy =
    "this build has no cuDNN attention: the cuDNN frontend's headers were not found when it was configured "
    "(bash jobs/setup-python.sh installs them; then configure again)";

}  // namespace

void flash_attention_bf16_forward(float* /*out*/, float* /*lse*/, const float* /*qkv*/, int /*B*/, int /*Tn*/,
                                  int /*NH*/, int /*NKV*/, int /*HS*/, bool /*causal*/, float* /*scratch*/,
                                  Context<float>& /*ctx*/) {
  throw std::runtime_error(kWhy);
}

void flash_attention_bf16_backward(float* /*dqkv*/, const float* /*dout*/, const float* /*qkv*/, const float* /*out*/,
                                   const float* /*lse*/, int /*B*/, int /*Tn*/, int /*NH*/, int /*NKV*/, int /*HS*/,
                                   bool /*causal*/, float* /*scratch*/, Context<float>& /*ctx*/) {
  throw std::runtime_error(kWhy);
}

std::string flash_attention_bf16_check(int /*B*/, int /*Tn*/, int /*NH*/, int /*NKV*/, int /*HS*/, bool /*causal*/,
                                       int64_t* workspace_bytes) {
  *workspace_bytes = 0;
  return kWhy;
}

}  // namespace tessera::ops::cuda
