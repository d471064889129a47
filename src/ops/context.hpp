// The context an op runs in. On the CPU: a workspace planned once before the first step (no allocation inside a
// step). The CUDA backend adds its stream and library handles here.
#pragma once

#include <cstdint>
#include <vector>

namespace tessera::ops {

template <typename T>
struct Context {
  // per-thread scratch: thread i owns [i * scratch_per_thread, (i + 1) * scratch_per_thread)
  std::vector<T> scratch;
  int64_t scratch_per_thread = 0;

  // Plans scratch_per_thread elements for each of the threads OpenMP may use.
  void reserve_scratch(int64_t per_thread);
  T* thread_scratch();
};

}  // namespace tessera::ops
