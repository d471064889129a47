// A build without the CUDA backend (TESSERA_CUDA=OFF): no GPU is ever visible, and asking for one says why.
#include <stdexcept>

#include "backend/backend.hpp"

namespace tessera {

bool cuda_compiled() {
  return false;
}

int cuda_device_count() {
  return 0;
}

std::string cuda_unavailable_reason() {
  return "this build has no CUDA backend (configured with TESSERA_CUDA=OFF or without nvcc)";
}

std::unique_ptr<Backend> make_cuda_backend(int /*device*/) {
  throw std::runtime_error(cuda_unavailable_reason());
}

}  // namespace tessera
