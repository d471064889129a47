// DeviceSelfCommunicator (see comm_self_device.hpp).
#include "parallel/comm_self_device.hpp"

#include "core/check.hpp"

namespace tessera {
namespace {

class DeviceSelfCommunicator final : public Communicator {
 public:
  explicit DeviceSelfCommunicator(Backend& backend) : backend_(backend) {}

  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce(float* /*data*/, int64_t /*n*/, ReduceOp /*op*/) const override {}
  void all_reduce(double* /*data*/, int64_t /*n*/, ReduceOp /*op*/) const override {}
  void all_gather(const float* send, float* recv, int64_t n) const override { copy(recv, send, n); }
  void all_gather(const double* send, double* recv, int64_t n) const override { copy(recv, send, n); }
  void reduce_scatter(const float* send, float* recv, int64_t n) const override { copy(recv, send, n); }
  void reduce_scatter(const double* send, double* recv, int64_t n) const override { copy(recv, send, n); }
  void all_gather_in_place(float* /*data*/, const int* /*counts*/) const override {}
  Request start_all_reduce(float* /*data*/, int64_t /*n*/) const override { return Request(); }
  Request start_reduce_scatter(const float* send, float* recv, const int* counts) const override {
    copy(recv, send, counts[0]);
    return Request();
  }
  void wait(Request& request) const override { request.clear(); }
  bool test(Request& request) const override {
    request.clear();
    return true;
  }
  // A group of one has no peer: a call here is a bug in a schedule.
  void send(const float* /*data*/, int64_t /*n*/, int peer) const override { no_peer("send to", peer); }
  void recv(float* /*data*/, int64_t /*n*/, int peer) const override { no_peer("recv from", peer); }
  Request start_send(const float* /*data*/, int64_t /*n*/, int peer, int /*tag*/) const override {
    no_peer("send to", peer);
    return Request();
  }
  Request start_recv(float* /*data*/, int64_t /*n*/, int peer, int /*tag*/) const override {
    no_peer("recv from", peer);
    return Request();
  }

 private:
  template <typename T>
  void copy(T* to, const T* from, int64_t n) const {
    if (to != from) backend_.copy(to, from, n * static_cast<int64_t>(sizeof(T)));
  }
  [[noreturn]] static void no_peer(const char* what, int peer) {
    TESSERA_RAISE("{} rank {} in a group of one", what, peer);
  }

  Backend& backend_;
};

}  // namespace

std::unique_ptr<Communicator> make_device_self_communicator(Backend& backend) {
  return std::make_unique<DeviceSelfCommunicator>(backend);
}

}  // namespace tessera
