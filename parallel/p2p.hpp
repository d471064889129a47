// Point-to-point calls between pipeline stages, named as Megatron names them. Chunk k of the model (of pp * v) lives
// on pipeline rank k % pp; a forward message into chunk k carries its input activations (tag 2k), a backward
// message into chunk k the gradient of its output (tag 2k + 1). Between two ranks, messages of one tag arrive in the
// order they were sent, which is micro-batch order in every schedule.
#pragma once

#include <cstdint>

#include "core/communicator.hpp"

namespace tessera {

inline int pp_rank_of_chunk(const Communicator& pp, int chunk) {
  return chunk % pp.size();
}

// All four are non-blocking: wait on the request before the buffer is read (receives) or changed (sends).
// out (n): the output of chunk to_chunk - 1, to the input of chunk to_chunk.
inline Request send_forward(const Communicator& pp, const float* out, int64_t n, int to_chunk) {
  return pp.start_send(out, n, pp_rank_of_chunk(pp, to_chunk), 2 * to_chunk);
}
// in (n): the input of chunk `chunk`, from chunk - 1.
inline Request recv_forward(const Communicator& pp, float* in, int64_t n, int chunk) {
  return pp.start_recv(in, n, pp_rank_of_chunk(pp, chunk - 1), 2 * chunk);
}
// din (n): d(input) of chunk to_chunk + 1, the gradient of chunk to_chunk's output.
inline Request send_backward(const Communicator& pp, const float* din, int64_t n, int to_chunk) {
  return pp.start_send(din, n, pp_rank_of_chunk(pp, to_chunk), 2 * to_chunk + 1);
}
// dout (n): the gradient of chunk `chunk`'s output, from chunk + 1.
inline Request recv_backward(const Communicator& pp, float* dout, int64_t n, int chunk) {
  return pp.start_recv(dout, n, pp_rank_of_chunk(pp, chunk + 1), 2 * chunk + 1);
}

}  // namespace tessera
