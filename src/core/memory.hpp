// How much memory this machine has, to refuse a plan that cannot fit before allocating it (a std::bad_alloc names no
// key; a plan can).
#pragma once

#include <cstdint>

namespace tessera {

// Physical memory of this machine in bytes (0 if unknown).
int64_t physical_memory_bytes();

}  // namespace tessera
