#include "core/communicator.hpp"

#include <algorithm>

#include "core/check.hpp"

namespace tessera {

void SelfCommunicator::all_gather(const float* send, float* recv, int64_t n) const {
  if (send != recv) std::copy(send, send + n, recv);
}
void SelfCommunicator::all_gather(const double* send, double* recv, int64_t n) const {
  if (send != recv) std::copy(send, send + n, recv);
}

void SelfCommunicator::reduce_scatter(const float* send, float* recv, int64_t n) const {
  if (send != recv) std::copy(send, send + n, recv);
}
void SelfCommunicator::reduce_scatter(const double* send, double* recv, int64_t n) const {
  if (send != recv) std::copy(send, send + n, recv);
}

Request SelfCommunicator::start_reduce_scatter(const float* send, float* recv, const int* counts) const {
  if (send != recv) std::copy(send, send + counts[0], recv);
  return Request();
}

// A group of one has no peer: a call here is a bug in a schedule.
void SelfCommunicator::send(const float* /*data*/, int64_t /*n*/, int peer) const {
  TESSERA_CHECK(false, "send to rank {} in a group of one", peer);
}
void SelfCommunicator::recv(float* /*data*/, int64_t /*n*/, int peer) const {
  TESSERA_CHECK(false, "recv from rank {} in a group of one", peer);
}
Request SelfCommunicator::start_send(const float* /*data*/, int64_t /*n*/, int peer, int /*tag*/) const {
  TESSERA_CHECK(false, "send to rank {} in a group of one", peer);
  return Request();
}
Request SelfCommunicator::start_recv(float* /*data*/, int64_t /*n*/, int peer, int /*tag*/) const {
  TESSERA_CHECK(false, "recv from rank {} in a group of one", peer);
  return Request();
}

}  // namespace tessera
