// A build without CUDA has no NCCL communicator.
#include <stdexcept>

#include "parallel/comm_nccl.hpp"

namespace tessera {

std::unique_ptr<Communicator> make_nccl_communicator(const ProcessGroup& /*group*/, void* /*compute_stream*/,
                                                     bool /*point_to_point*/) {
  throw std::runtime_error("this build has no NCCL communicator (configured with TESSERA_CUDA=OFF or without nvcc)");
}

}  // namespace tessera
