// NcclCommunicator (see comm_nccl.hpp).
#include "parallel/comm_nccl.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <vector>

#include "core/check.hpp"

namespace tessera {
namespace {

void check_nccl(ncclResult_t result, const char* what) {
  TESSERA_CHECK(result == ncclSuccess, "NCCL: {} failed: {}", what, ncclGetErrorString(result));
}

void check_cuda(cudaError_t status, const char* what) {
  TESSERA_CHECK(status == cudaSuccess, "CUDA: {} failed: {}", what, cudaGetErrorString(status));
}

ncclRedOp_t nccl_op(ReduceOp op) {
  return op == ReduceOp::kMax ? ncclMax : ncclSum;
}

constexpr size_t kSlots = 64;

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(const ProcessGroup& group, void* compute_stream);
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool ordered_p2p() const override { return true; }

  void all_reduce(float* data, int64_t n, ReduceOp op) const override;
  void all_reduce(double* data, int64_t n, ReduceOp op) const override;
  void all_gather(const float* send, float* recv, int64_t n) const override;
  void all_gather(const double* send, double* recv, int64_t n) const override;
  void reduce_scatter(const float* send, float* recv, int64_t n) const override;
  void reduce_scatter(const double* send, double* recv, int64_t n) const override;
  void send(const float* data, int64_t n, int peer) const override;
  void recv(float* data, int64_t n, int peer) const override;
  Request start_all_reduce(float* data, int64_t n) const override;
  Request start_reduce_scatter(const float* send, float* recv, const int* counts) const override;
  Request start_send(const float* data, int64_t n, int peer, int tag) const override;
  Request start_recv(float* data, int64_t n, int peer, int tag) const override;
  void wait(Request& request) const override;
  bool test(Request& request) const override;
  void all_gather_in_place(float* data, const int* counts) const override;

 private:
  struct State;  // NCCL and CUDA handles
  std::unique_ptr<State> state_;
  int rank_ = 0;
  int size_ = 1;
};

struct NcclCommunicator::State {
  ncclComm_t comm = nullptr;
  cudaStream_t compute = nullptr;
  cudaStream_t stream = nullptr;        // the communicator's own
  cudaEvent_t compute_ready = nullptr;  // work issued on the compute stream before a collective
  cudaEvent_t done = nullptr;           // a blocking collective's completion
  std::vector<cudaEvent_t> events;      // by request slot
  std::vector<int> free_slots;
  // Point-to-point calls wait to be launched: NCCL runs a lone send until its receive is posted (two ranks that each
  // send first would wait on each other) and matches a pair's messages in the order they are launched (no tags).
  // So they are held until the next wait, test or collective launches every held one in one NCCL group (Megatron's
  // batch_isend_irecv).
  struct P2p {
    bool send = false;
    const float* send_data = nullptr;
    float* recv_data = nullptr;
    int64_t n = 0;
    int peer = 0;
    int slot = -1;
  };
  std::vector<P2p> held;

  // The collective's stream waits for the compute stream's work so far (after launching the held calls).
  void begin() {
    launch();
    order_after_compute();
  }
  void order_after_compute() {
    check_cuda(cudaEventRecord(compute_ready, compute), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(stream, compute_ready, 0), "cudaStreamWaitEvent");
  }
  bool is_held(int slot) const {
    return std::any_of(held.begin(), held.end(), [slot](const P2p& p) { return p.slot == slot; });
  }
  // Launches every held call in one NCCL group, in the order they were made, after everything issued on the
  // compute stream so far (the data of the sends); records their requests' events.
  void launch() {
    if (held.empty()) return;
    order_after_compute();
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    for (const P2p& p : held) {
      if (p.send) {
        check_nccl(ncclSend(p.send_data, static_cast<size_t>(p.n), ncclFloat32, p.peer, comm, stream), "ncclSend");
      } else {
        check_nccl(ncclRecv(p.recv_data, static_cast<size_t>(p.n), ncclFloat32, p.peer, comm, stream), "ncclRecv");
      }
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd");
    for (const P2p& p : held) {
      check_cuda(cudaEventRecord(events[static_cast<size_t>(p.slot)], stream), "cudaEventRecord");
    }
    held.clear();
  }
  // The compute stream waits for the collective.
  void end() {
    check_cuda(cudaEventRecord(done, stream), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(compute, done, 0), "cudaStreamWaitEvent");
  }
  Request take_slot(bool record = true) {
    if (free_slots.empty()) {
      cudaEvent_t e = nullptr;
      check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
      events.push_back(e);
      free_slots.push_back(static_cast<int>(events.size()) - 1);
    }
    const int slot = free_slots.back();
    free_slots.pop_back();
    if (record) check_cuda(cudaEventRecord(events[static_cast<size_t>(slot)], stream), "cudaEventRecord");
    return Request(slot);
  }
};

NcclCommunicator::NcclCommunicator(const ProcessGroup& group, void* compute_stream)
    : state_(std::make_unique<State>()), rank_(group.rank()), size_(group.size()) {
  ncclUniqueId id{};
  if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  group.broadcast(&id, sizeof(id), 0);
  check_nccl(ncclCommInitRank(&state_->comm, size_, id, rank_), "ncclCommInitRank");
  state_->compute = static_cast<cudaStream_t>(compute_stream);
  check_cuda(cudaStreamCreateWithFlags(&state_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  check_cuda(cudaEventCreateWithFlags(&state_->compute_ready, cudaEventDisableTiming), "cudaEventCreate");
  check_cuda(cudaEventCreateWithFlags(&state_->done, cudaEventDisableTiming), "cudaEventCreate");
  state_->events.reserve(kSlots);
  state_->held.reserve(kSlots);
}

NcclCommunicator::~NcclCommunicator() {
  if (!state_) return;
  cudaStreamSynchronize(state_->stream);
  for (cudaEvent_t e : state_->events) cudaEventDestroy(e);
  cudaEventDestroy(state_->done);
  cudaEventDestroy(state_->compute_ready);
  cudaStreamDestroy(state_->stream);
  ncclCommDestroy(state_->comm);
}

void NcclCommunicator::all_reduce(float* data, int64_t n, ReduceOp op) const {
  state_->begin();
  check_nccl(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat32, nccl_op(op), state_->comm, state_->stream),
             "ncclAllReduce");
  state_->end();
}

void NcclCommunicator::all_reduce(double* data, int64_t n, ReduceOp op) const {
  state_->begin();
  check_nccl(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat64, nccl_op(op), state_->comm, state_->stream),
             "ncclAllReduce");
  state_->end();
}

void NcclCommunicator::all_gather(const float* send, float* recv, int64_t n) const {
  state_->begin();
  check_nccl(ncclAllGather(send, recv, static_cast<size_t>(n), ncclFloat32, state_->comm, state_->stream),
             "ncclAllGather");
  state_->end();
}

void NcclCommunicator::all_gather(const double* send, double* recv, int64_t n) const {
  state_->begin();
  check_nccl(ncclAllGather(send, recv, static_cast<size_t>(n), ncclFloat64, state_->comm, state_->stream),
             "ncclAllGather");
  state_->end();
}

void NcclCommunicator::reduce_scatter(const float* send, float* recv, int64_t n) const {
  state_->begin();
  check_nccl(ncclReduceScatter(send, recv, static_cast<size_t>(n), ncclFloat32, ncclSum, state_->comm, state_->stream),
             "ncclReduceScatter");
  state_->end();
}

void NcclCommunicator::reduce_scatter(const double* send, double* recv, int64_t n) const {
  state_->begin();
  check_nccl(ncclReduceScatter(send, recv, static_cast<size_t>(n), ncclFloat64, ncclSum, state_->comm, state_->stream),
             "ncclReduceScatter");
  state_->end();
}

void NcclCommunicator::send(const float* data, int64_t n, int peer) const {
  Request r = start_send(data, n, peer, 0);
  wait(r);
}

void NcclCommunicator::recv(float* data, int64_t n, int peer) const {
  Request r = start_recv(data, n, peer, 0);
  wait(r);
}

Request NcclCommunicator::start_all_reduce(float* data, int64_t n) const {
  state_->begin();
  check_nccl(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat32, ncclSum, state_->comm, state_->stream),
             "ncclAllReduce");
  return state_->take_slot();
}

// Uneven blocks: one reduce per rank, to that rank, in one NCCL group.
Request NcclCommunicator::start_reduce_scatter(const float* send, float* recv, const int* counts) const {
  state_->begin();
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  int64_t offset = 0;
  for (int r = 0; r < size_; ++r) {
    check_nccl(ncclReduce(send + offset, recv, static_cast<size_t>(counts[r]), ncclFloat32, ncclSum, r, state_->comm,
                          state_->stream),
               "ncclReduce");
    offset += counts[r];
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  return state_->take_slot();
}

// NCCL has no tags: messages between two ranks arrive in the order they were issued on the stream, which is the
// order the contract asks of one tag.
Request NcclCommunicator::start_send(const float* data, int64_t n, int peer, int /*tag*/) const {
  Request r = state_->take_slot(false);
  state_->held.push_back({true, data, nullptr, n, peer, r.slot()});
  return r;
}

Request NcclCommunicator::start_recv(float* data, int64_t n, int peer, int /*tag*/) const {
  Request r = state_->take_slot(false);
  state_->held.push_back({false, nullptr, data, n, peer, r.slot()});
  return r;
}

void NcclCommunicator::wait(Request& request) const {
  if (!request.pending()) return;
  if (state_->is_held(request.slot())) state_->launch();
  const auto slot = static_cast<size_t>(request.slot());
  check_cuda(cudaStreamWaitEvent(state_->compute, state_->events[slot], 0), "cudaStreamWaitEvent");
  state_->free_slots.push_back(request.slot());
  request.clear();
}

bool NcclCommunicator::test(Request& request) const {
  if (!request.pending()) return true;
  if (state_->is_held(request.slot())) state_->launch();
  const cudaError_t status = cudaEventQuery(state_->events[static_cast<size_t>(request.slot())]);
  if (status == cudaErrorNotReady) return false;
  check_cuda(status, "cudaEventQuery");
  wait(request);
  return true;
}

// Rank r's block (counts[r] elements, blocks in rank order) broadcast from rank r, in one NCCL group.
void NcclCommunicator::all_gather_in_place(float* data, const int* counts) const {
  state_->begin();
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  int64_t offset = 0;
  for (int r = 0; r < size_; ++r) {
    check_nccl(ncclBroadcast(data + offset, data + offset, static_cast<size_t>(counts[r]), ncclFloat32, r, state_->comm,
                             state_->stream),
               "ncclBroadcast");
    offset += counts[r];
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  state_->end();
}

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const ProcessGroup& group, void* compute_stream) {
  return std::make_unique<NcclCommunicator>(group, compute_stream);
}

}  // namespace tessera
