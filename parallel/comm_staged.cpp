// StagedCommunicator (see comm_staged.hpp).
#include "parallel/comm_staged.hpp"

#include <cstddef>
#include <numeric>
#include <vector>

namespace tessera {
namespace {

// Grow-only host memory (once a run's first step has sized it, nothing is allocated).
template <typename T>
T* sized(std::vector<std::byte>& buffer, int64_t n) {
  const auto bytes = static_cast<size_t>(n) * sizeof(T);
  if (buffer.size() < bytes) buffer.resize(bytes);
  return reinterpret_cast<T*>(buffer.data());
}

class StagedCommunicator final : public Communicator {
 public:
  StagedCommunicator(const ProcessGroup& group, Backend& backend) : group_(group), backend_(backend) {}

  int rank() const override { return group_.rank(); }
  int size() const override { return group_.size(); }
  bool ordered_p2p() const override { return group_.ordered_p2p(); }

  void all_reduce(float* data, int64_t n, ReduceOp op) const override { all_reduce_impl(data, n, op); }
  void all_reduce(double* data, int64_t n, ReduceOp op) const override { all_reduce_impl(data, n, op); }
  void all_gather(const float* send, float* recv, int64_t n) const override { all_gather_impl(send, recv, n); }
  void all_gather(const double* send, double* recv, int64_t n) const override { all_gather_impl(send, recv, n); }
  void reduce_scatter(const float* send, float* recv, int64_t n) const override { reduce_scatter_impl(send, recv, n); }
  void reduce_scatter(const double* send, double* recv, int64_t n) const override {
    reduce_scatter_impl(send, recv, n);
  }
  void send(const float* data, int64_t n, int peer) const override {
    float* h = sized<float>(a_, n);
    down(h, data, n);
    group_.send(h, n, peer);
  }
  void recv(float* data, int64_t n, int peer) const override {
    float* h = sized<float>(a_, n);
    group_.recv(h, n, peer);
    up(data, h, n);
  }
  void all_gather_in_place(float* data, const int* counts) const override {
    const int64_t total = std::accumulate(counts, counts + size(), int64_t{0});
    float* h = sized<float>(a_, total);
    down(h, data, total);
    group_.all_gather_in_place(h, counts);
    up(data, h, total);
  }

  Request start_all_reduce(float* data, int64_t n) const override {
    const int s = take_slot();
    Pending& p = slots_[static_cast<size_t>(s)];
    float* h = sized<float>(p.host, n);
    down(h, data, n);
    p.inner = group_.start_all_reduce(h, n);
    p.result(data, h, n);
    return Request(s);
  }
  Request start_reduce_scatter(const float* send, float* recv, const int* counts) const override {
    const int64_t total = std::accumulate(counts, counts + size(), int64_t{0});
    const int64_t mine = counts[rank()];
    const int s = take_slot();
    Pending& p = slots_[static_cast<size_t>(s)];
    float* h = sized<float>(p.host, total + mine);  // [what every rank sends | this rank's sum]
    down(h, send, total);
    p.inner = group_.start_reduce_scatter(h, h + total, counts);
    p.result(recv, h + total, mine);
    return Request(s);
  }
  Request start_send(const float* data, int64_t n, int peer, int tag) const override {
    const int s = take_slot();
    Pending& p = slots_[static_cast<size_t>(s)];
    float* h = sized<float>(p.host, n);
    down(h, data, n);
    p.inner = group_.start_send(h, n, peer, tag);
    p.result(nullptr, nullptr, 0);
    return Request(s);
  }
  Request start_recv(float* data, int64_t n, int peer, int tag) const override {
    const int s = take_slot();
    Pending& p = slots_[static_cast<size_t>(s)];
    float* h = sized<float>(p.host, n);
    p.inner = group_.start_recv(h, n, peer, tag);
    p.result(data, h, n);
    return Request(s);
  }
  void wait(Request& request) const override {
    if (!request.pending()) return;
    Pending& p = slots_[static_cast<size_t>(request.slot())];
    group_.wait(p.inner);
    finish(request);
  }
  bool test(Request& request) const override {
    if (!request.pending()) return true;
    Pending& p = slots_[static_cast<size_t>(request.slot())];
    if (!group_.test(p.inner)) return false;
    finish(request);
    return true;
  }

 private:
  // A non-blocking operation in flight: the group's request, its host buffer (the slot's own, so no other call
  // touches it meanwhile) and where its result goes on the device (none for a send).
  struct Pending {
    Request inner;
    std::vector<std::byte> host;
    float* device = nullptr;
    const float* staged = nullptr;
    int64_t n = 0;
    void result(float* to, const float* from, int64_t count) {
      device = to;
      staged = from;
      n = count;
    }
  };

  template <typename T>
  void down(T* host, const T* device, int64_t n) const {
    if (n > 0) backend_.download(host, device, n * static_cast<int64_t>(sizeof(T)));
  }
  template <typename T>
  void up(T* device, const T* host, int64_t n) const {
    if (n > 0) backend_.upload(device, host, n * static_cast<int64_t>(sizeof(T)));
  }
  template <typename T>
  void all_reduce_impl(T* data, int64_t n, ReduceOp op) const {
    T* h = sized<T>(a_, n);
    down(h, data, n);
    group_.all_reduce(h, n, op);
    up(data, h, n);
  }
  template <typename T>
  void all_gather_impl(const T* send, T* recv, int64_t n) const {
    T* hs = sized<T>(a_, n);
    T* hr = sized<T>(b_, n * size());
    down(hs, send, n);
    group_.all_gather(hs, hr, n);
    up(recv, hr, n * size());
  }
  template <typename T>
  void reduce_scatter_impl(const T* send, T* recv, int64_t n) const {
    T* hs = sized<T>(a_, n * size());
    T* hr = sized<T>(b_, n);
    down(hs, send, n * size());
    group_.reduce_scatter(hs, hr, n);
    up(recv, hr, n);
  }
  int take_slot() const {
    if (free_.empty()) {
      free_.push_back(static_cast<int>(slots_.size()));
      slots_.emplace_back();
    }
    const int s = free_.back();
    free_.pop_back();
    return s;
  }
  // The operation completed: its result to the device, its slot free.
  void finish(Request& request) const {
    Pending& p = slots_[static_cast<size_t>(request.slot())];
    up(p.device, p.staged, p.n);
    p.result(nullptr, nullptr, 0);
    free_.push_back(request.slot());
    request.clear();
  }

  const ProcessGroup& group_;
  Backend& backend_;
  mutable std::vector<std::byte> a_, b_;  // the blocking calls' host copies
  mutable std::vector<Pending> slots_;    // by request slot
  mutable std::vector<int> free_;
};

}  // namespace

std::unique_ptr<Communicator> make_staged_communicator(const ProcessGroup& group, Backend& backend) {
  return std::make_unique<StagedCommunicator>(group, backend);
}

}  // namespace tessera
