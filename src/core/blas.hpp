// Row-major GEMM for float and double through CBLAS (OpenBLAS).
//
// C (M, N) = alpha * op(A) (M, K) @ op(B) (K, N) + beta * C, with op(X) = X or X^T.
// Called from inside an OpenMP parallel region, the OpenMP build of OpenBLAS runs single-threaded, so per-head
// products in attention nest safely inside our own parallel loops.
#pragma once

#include <string>

namespace tessera {

template <typename T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda, const T* B, int ldb, T beta,
          T* C, int ldc);

// Threads OpenBLAS uses outside parallel regions.
int blas_threads();
void set_blas_threads(int threads);
// The kernel OpenBLAS chose ("SkylakeX", "Haswell", ... or the generic "Prescott").
const char* blas_core_name();
// OpenBLAS's build line ("OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY SkylakeX MAX_THREADS=64").
std::string blas_config();
// A one-line warning if OpenBLAS runs a generic kernel on a CPU that has AVX2 or AVX-512 ("" otherwise).
std::string blas_kernel_warning();

}  // namespace tessera
