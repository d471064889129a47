#include "ops/context.hpp"

#include <omp.h>

#include "core/check.hpp"

namespace tessera::ops {

template <typename T>
void Context<T>::reserve_scratch(int64_t per_thread) {
  if (per_thread <= scratch_per_thread) return;
  scratch_per_thread = per_thread;
  scratch.assign(static_cast<size_t>(per_thread * omp_get_max_threads()), T(0));
}

template <typename T>
T* Context<T>::thread_scratch() {
  const int tid = omp_get_thread_num();
  TESSERA_CHECK(tid < omp_get_max_threads() && scratch_per_thread > 0, "scratch not planned for thread {}", tid);
  return scratch.data() + static_cast<int64_t>(tid) * scratch_per_thread;
}

template struct Context<float>;
template struct Context<double>;

}  // namespace tessera::ops
