// The communicator seam: the collectives and point-to-point calls that model code may use, with no MPI in sight.
//
// The core declares the interface (as it declares AbortHook); parallel/ implements it over MPI (ProcessGroup) and,
// on GPUs, over NCCL. SelfCommunicator is the group of one: every collective returns at once (all-gather and
// reduce-scatter copy), so the single-rank run is the parallel run with groups of size 1. Buffers are in elements;
// counts may exceed INT_MAX (implementations send them in pieces).
#pragma once

#include <cstdint>
#include <utility>

namespace tessera {

enum class ReduceOp { kSum, kMax };

// A non-blocking operation in flight: wait() before touching its buffers. Move-only value; an implementation keeps
// its handles in slots it owns, so starting one allocates nothing.
class Request {
 public:
  Request() = default;
  explicit Request(int slot) : slot_(slot) {}
  Request(Request&& other) noexcept : slot_(other.slot_) { other.slot_ = -1; }
  Request& operator=(Request&& other) noexcept {
    std::swap(slot_, other.slot_);
    return *this;
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request() = default;  // the communicator checks at destruction that nothing was left in flight
  bool pending() const { return slot_ >= 0; }
  int slot() const { return slot_; }
  void clear() { slot_ = -1; }

 private:
  int slot_ = -1;
};

class Communicator {
 public:
  Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // In place over the group: data[i] = op over ranks of data[i].
  virtual void all_reduce(float* data, int64_t n, ReduceOp op) const = 0;
  virtual void all_reduce(double* data, int64_t n, ReduceOp op) const = 0;
  // recv (size * n) = [rank 0's send (n) | rank 1's send (n) | ...]
  // (in place when send is recv + rank * n)
  virtual void all_gather(const float* send, float* recv, int64_t n) const = 0;
  virtual void all_gather(const double* send, double* recv, int64_t n) const = 0;
  // recv (n) = sum over ranks of their send[rank * n, (rank + 1) * n); send holds size * n
  virtual void reduce_scatter(const float* send, float* recv, int64_t n) const = 0;
  virtual void reduce_scatter(const double* send, double* recv, int64_t n) const = 0;
  // Point to point, matched in order between a pair of ranks.
  virtual void send(const float* data, int64_t n, int peer) const = 0;
  virtual void recv(float* data, int64_t n, int peer) const = 0;

  // Non-blocking twins: start, then wait. n <= INT_MAX / 2 (one message). Messages between two ranks with the same
  // tag arrive in the order they were sent.
  virtual Request start_all_reduce(float* data, int64_t n) const = 0;
  // Reduce-scatter with counts (counts[r] for rank r, in rank order): recv (counts[rank]) = the sum over ranks of
  // their send block of this rank; send holds the sum of the counts.
  virtual Request start_reduce_scatter(const float* send, float* recv, const int* counts) const = 0;
  virtual Request start_send(const float* data, int64_t n, int peer, int tag) const = 0;
  virtual Request start_recv(float* data, int64_t n, int peer, int tag) const = 0;
  virtual void wait(Request& request) const = 0;
  // Drives the operation on (MPI progresses non-blocking operations only inside MPI calls); true (and the request
  // cleared) once it is complete.
  virtual bool test(Request& request) const = 0;
  // In place: rank r's block of counts[r] elements (blocks in rank order) reaches every rank.
  virtual void all_gather_in_place(float* data, const int* counts) const = 0;
  // true: point-to-point messages ignore tags (NCCL's model): a peer's messages match this rank's receives from it in
  // the order the receives were posted, so a caller posts them in the order its peer sends.
  virtual bool ordered_p2p() const { return false; }

  // Typed helpers for the common case.
  void all_reduce_sum(float* data, int64_t n) const { all_reduce(data, n, ReduceOp::kSum); }
  void all_reduce_sum(double* data, int64_t n) const { all_reduce(data, n, ReduceOp::kSum); }
};

// The group of one.
class SelfCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce(float* /*data*/, int64_t /*n*/, ReduceOp /*op*/) const override {}
  void all_reduce(double* /*data*/, int64_t /*n*/, ReduceOp /*op*/) const override {}
  void all_gather(const float* send, float* recv, int64_t n) const override;
  void all_gather(const double* send, double* recv, int64_t n) const override;
  void reduce_scatter(const float* send, float* recv, int64_t n) const override;
  void reduce_scatter(const double* send, double* recv, int64_t n) const override;
  void send(const float* data, int64_t n, int peer) const override;
  void recv(float* data, int64_t n, int peer) const override;
  Request start_all_reduce(float* /*data*/, int64_t /*n*/) const override { return Request(); }
  Request start_reduce_scatter(const float* send, float* recv, const int* counts) const override;
  void all_gather_in_place(float* /*data*/, const int* /*counts*/) const override {}
  Request start_send(const float* data, int64_t n, int peer, int tag) const override;
  Request start_recv(float* data, int64_t n, int peer, int tag) const override;
  void wait(Request& request) const override { request.clear(); }
  bool test(Request& request) const override {
    request.clear();
    return true;
  }
};

}  // namespace tessera
