// NcclCommunicator (see comm_nccl.hpp).
#include "parallel/comm_nccl.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

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
  NcclCommunicator(const ProcessGroup& group, void* compute_stream, bool point_to_point);
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
  // Point-to-point: a link is a two-rank NCCL communicator over which one rank only sends and the other only
  // receives, on a stream of its own, one link each way to each neighbour on the group's ring. Every send and every
  // receive is launched at once, alone: the k-th message over a link fills the k-th receive posted on it. One
  // communicator's launches run one after another, so a receive posted long before its message arrives holds up
  // only later receives from the same peer, never a send nor a collective.
  struct Link {
    ncclComm_t comm = nullptr;
    cudaStream_t stream = nullptr;
    int peer = 0;
    bool sends = false;  // this rank's end: sends to peer, or receives from it
  };
  std::vector<Link> links;

  // The stream waits for the work issued so far on the compute stream (a send's data, a receive's buffer free).
  void order_after_compute(cudaStream_t s) {
    check_cuda(cudaEventRecord(compute_ready, compute), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(s, compute_ready, 0), "cudaStreamWaitEvent");
  }
  // The compute stream waits for the collective.
  void end() {
    check_cuda(cudaEventRecord(done, stream), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(compute, done, 0), "cudaStreamWaitEvent");
  }
  // A request whose event is recorded now on stream s.
  Request take_slot(cudaStream_t s) {
    if (free_slots.empty()) {
      cudaEvent_t e = nullptr;
      check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
      events.push_back(e);
      free_slots.push_back(static_cast<int>(events.size()) - 1);
    }
    const int slot = free_slots.back();
    free_slots.pop_back();
    check_cuda(cudaEventRecord(events[static_cast<size_t>(slot)], s), "cudaEventRecord");
    return Request(slot);
  }
  const Link& link(int peer, bool sends, int rank) const {
    for (const Link& l : links)
      if (l.peer == peer && l.sends == sends) return l;
    TESSERA_RAISE("NCCL point-to-point {} rank {} on rank {}: {}", sends ? "to" : "from", peer, rank,
                  links.empty() ? "this communicator was made without point-to-point links"
                                : "only neighbours on the group's ring are linked");
  }
  // The links of this rank, collective over the group: the ids of every rank's sending links broadcast by their
  // senders, then each link initialised by its two ranks, in one order on every rank (the first link not yet made
  // always has both its ranks at it, so no two ranks wait on each other).
  void make_links(const ProcessGroup& group) {
    const int P = group.size(), me = group.rank();
    if (P == 1) return;
    auto to = [P](int s, int d) { return d == 0 ? (s + 1) % P : (s + P - 1) % P; };  // next, then previous
    std::vector<ncclUniqueId> ids(2 * static_cast<size_t>(P));
    for (int s = 0; s < P; ++s) {
      const auto i = 2 * static_cast<size_t>(s);
      if (s == me) {
        check_nccl(ncclGetUniqueId(&ids[i]), "ncclGetUniqueId");
        check_nccl(ncclGetUniqueId(&ids[i + 1]), "ncclGetUniqueId");
      }
      group.broadcast(&ids[i], 2 * static_cast<int64_t>(sizeof(ncclUniqueId)), s);
    }
    for (int s = 0; s < P; ++s) {
      for (int d = 0; d < 2; ++d) {
        if (d == 1 && to(s, 1) == to(s, 0)) continue;  // two ranks: one link each way
        const int r = to(s, d);
        if (me != s && me != r) continue;
        Link l;
        l.sends = me == s;
        l.peer = l.sends ? r : s;
        check_nccl(
            ncclCommInitRank(&l.comm, 2, ids[2 * static_cast<size_t>(s) + static_cast<size_t>(d)], l.sends ? 0 : 1),
            "ncclCommInitRank (a point-to-point link)");
        check_cuda(cudaStreamCreateWithFlags(&l.stream, cudaStreamNonBlocking), "cudaStreamCreate");
        links.push_back(l);
      }
    }
  }
};

NcclCommunicator::NcclCommunicator(const ProcessGroup& group, void* compute_stream, bool point_to_point)
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
  if (point_to_point) state_->make_links(group);
}

NcclCommunicator::~NcclCommunicator() {
  if (!state_) return;
  for (const State::Link& l : state_->links) {
    cudaStreamSynchronize(l.stream);
    cudaStreamDestroy(l.stream);
    ncclCommDestroy(l.comm);
  }
  cudaStreamSynchronize(state_->stream);
  for (cudaEvent_t e : state_->events) cudaEventDestroy(e);
  cudaEventDestroy(state_->done);
  cudaEventDestroy(state_->compute_ready);
  cudaStreamDestroy(state_->stream);
  ncclCommDestroy(state_->comm);
}

void NcclCommunicator::all_reduce(float* data, int64_t n, ReduceOp op) const {
  state_->order_after_compute(state_->stream);
  check_nccl(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat32, nccl_op(op), state_->comm, state_->stream),
             "ncclAllReduce");
  state_->end();
}

void NcclCommunicator::all_reduce(double* data, int64_t n, ReduceOp op) const {
  state_->order_after_compute(state_->stream);
  check_nccl(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat64, nccl_op(op), state_->comm, state_->stream),
             "ncclAllReduce");
  state_->end();
}

void NcclCommunicator::all_gather(const float* send, float* recv, int64_t n) const {
  state_->order_after_compute(state_->stream);
  check_nccl(ncclAllGather(send, recv, static_cast<size_t>(n), ncclFloat32, state_->comm, state_->stream),
             "ncclAllGather");
  state_->end();
}

void NcclCommunicator::all_gather(const double* send, double* recv, int64_t n) const {
  state_->order_after_compute(state_->stream);
  check_nccl(ncclAllGather(send, recv, static_cast<size_t>(n), ncclFloat64, state_->comm, state_->stream),
             "ncclAllGather");
  state_->end();
}

void NcclCommunicator::reduce_scatter(const float* send, float* recv, int64_t n) const {
  state_->order_after_compute(state_->stream);
  check_nccl(ncclReduceScatter(send, recv, static_cast<size_t>(n), ncclFloat32, ncclSum, state_->comm, state_->stream),
             "ncclReduceScatter");
  state_->end();
}

void NcclCommunicator::reduce_scatter(const double* send, double* recv, int64_t n) const {
  state_->order_after_compute(state_->stream);
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
  state_->order_after_compute(state_->stream);
  check_nccl(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat32, ncclSum, state_->comm, state_->stream),
             "ncclAllReduce");
  return state_->take_slot(state_->stream);
}

// Uneven blocks: one reduce per rank, to that rank, in one NCCL group.
Request NcclCommunicator::start_reduce_scatter(const float* send, float* recv, const int* counts) const {
  state_->order_after_compute(state_->stream);
  check_nccl(ncclGroupStart(), "ncclGroupStart");
  int64_t offset = 0;
  for (int r = 0; r < size_; ++r) {
    check_nccl(ncclReduce(send + offset, recv, static_cast<size_t>(counts[r]), ncclFloat32, ncclSum, r, state_->comm,
                          state_->stream),
               "ncclReduce");
    offset += counts[r];
  }
  check_nccl(ncclGroupEnd(), "ncclGroupEnd");
  return state_->take_slot(state_->stream);
}

// NCCL has no tags: the messages over a link fill its receives in the order both were launched, which is the order
// the contract asks of one tag.
Request NcclCommunicator::start_send(const float* data, int64_t n, int peer, int /*tag*/) const {
  const State::Link& l = state_->link(peer, true, rank_);
  state_->order_after_compute(l.stream);
  check_nccl(ncclSend(data, static_cast<size_t>(n), ncclFloat32, 1, l.comm, l.stream), "ncclSend");
  return state_->take_slot(l.stream);
}

Request NcclCommunicator::start_recv(float* data, int64_t n, int peer, int /*tag*/) const {
  const State::Link& l = state_->link(peer, false, rank_);
  state_->order_after_compute(l.stream);  // the buffer's last reader came before
  check_nccl(ncclRecv(data, static_cast<size_t>(n), ncclFloat32, 0, l.comm, l.stream), "ncclRecv");
  return state_->take_slot(l.stream);
}

void NcclCommunicator::wait(Request& request) const {
  if (!request.pending()) return;
  const auto slot = static_cast<size_t>(request.slot());
  check_cuda(cudaStreamWaitEvent(state_->compute, state_->events[slot], 0), "cudaStreamWaitEvent");
  state_->free_slots.push_back(request.slot());
  request.clear();
}

bool NcclCommunicator::test(Request& request) const {
  if (!request.pending()) return true;
  const cudaError_t status = cudaEventQuery(state_->events[static_cast<size_t>(request.slot())]);
  if (status == cudaErrorNotReady) return false;
  check_cuda(status, "cudaEventQuery");
  wait(request);
  return true;
}

// Rank r's block (counts[r] elements, blocks in rank order) broadcast from rank r, in one NCCL group.
void NcclCommunicator::all_gather_in_place(float* data, const int* counts) const {
  state_->order_after_compute(state_->stream);
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

std::unique_ptr<Communicator> make_nccl_communicator(const ProcessGroup& group, void* compute_stream,
                                                     bool point_to_point) {
  return std::make_unique<NcclCommunicator>(group, compute_stream, point_to_point);
}

}  // namespace tessera
