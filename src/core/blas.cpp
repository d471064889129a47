#include "core/blas.hpp"

#include <cblas.h>

namespace tessera {

template <>
void gemm<float>(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                 int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha,
              A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int M, int N, int K, double alpha, const double* A, int lda,
                  const double* B, int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha,
              A, lda, B, ldb, beta, C, ldc);
}

int blas_threads() {
  return openblas_get_num_threads();
}

void set_blas_threads(int threads) {
  openblas_set_num_threads(threads);
}

const char* blas_core_name() {
  return openblas_get_corename();
}

std::string blas_config() {
  return openblas_get_config();
}

std::string blas_kernel_warning() {
  const std::string core = blas_core_name();
  const bool generic = core == "Prescott" || core == "Core2" || core == "Nehalem" || core == "Penryn";
  if (!generic) return "";
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
    return "OpenBLAS runs its generic " + core +
           " kernel on this AVX-512 CPU: export OPENBLAS_CORETYPE=SkylakeX "
           "(or source jobs/blas-env.sh) for 4-5x faster matrix products";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return "OpenBLAS runs its generic " + core +
           " kernel on this AVX2 CPU: export OPENBLAS_CORETYPE=Haswell "
           "(or source jobs/blas-env.sh) for faster matrix products";
  return "";
}

}  // namespace tessera
