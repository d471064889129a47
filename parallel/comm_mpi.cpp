// ProcessGroup over MPI.
#include <algorithm>
#include <chrono>
#include <climits>
#include <string>
#include <thread>
#include <utility>

#include "core/check.hpp"
#include "parallel/process_group.hpp"

namespace tessera {
namespace {

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  TESSERA_CHECK(false, "{} failed: {}", what, std::string(text, static_cast<size_t>(len)));
}

constexpr size_t kRequestSlots = 64;  // non-blocking operations in flight before the slot table first grows

MPI_Op mpi_op(ReduceOp op) {
  return op == ReduceOp::kMax ? MPI_MAX : MPI_SUM;
}

// MPI counts are int: large buffers go in pieces.
template <typename F>
void in_pieces(int64_t n, F&& f) {
  constexpr int64_t kMax = INT_MAX / 2;
  for (int64_t start = 0; start < n; start += kMax) f(start, static_cast<int>(std::min(kMax, n - start)));
}

}  // namespace

ProcessGroup::ProcessGroup(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {
  check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

ProcessGroup ProcessGroup::borrow(MPI_Comm comm) {
  return ProcessGroup(comm, false);
}

ProcessGroup ProcessGroup::split(const ProcessGroup& parent, const std::vector<int>& parent_ranks) {
  TESSERA_CHECK(!parent_ranks.empty(), "empty process group");
  const auto it = std::find(parent_ranks.begin(), parent_ranks.end(), parent.rank());
  TESSERA_CHECK(it != parent_ranks.end(), "rank {} is not in its own group", parent.rank());
  // colour: the group's first rank; key: the position in the group
  MPI_Comm comm = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(parent.comm(), parent_ranks.front(), static_cast<int>(it - parent_ranks.begin()), &comm),
            "MPI_Comm_split");
  return ProcessGroup(comm, true);
}

ProcessGroup ProcessGroup::node_local(const ProcessGroup& parent) {
  MPI_Comm comm = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(parent.comm(), MPI_COMM_TYPE_SHARED, parent.rank(), MPI_INFO_NULL, &comm),
            "MPI_Comm_split_type");
  return ProcessGroup(comm, true);
}

ProcessGroup::ProcessGroup(ProcessGroup&& other) noexcept
    : comm_(std::exchange(other.comm_, MPI_COMM_NULL)),
      owned_(std::exchange(other.owned_, false)),
      rank_(other.rank_),
      size_(other.size_),
      requests_(std::move(other.requests_)),
      free_slots_(std::move(other.free_slots_)),
      displs_(std::move(other.displs_)) {}

ProcessGroup& ProcessGroup::operator=(ProcessGroup&& other) noexcept {
  if (this != &other) {
    if (owned_ && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
    owned_ = std::exchange(other.owned_, false);
    rank_ = other.rank_;
    size_ = other.size_;
    requests_ = std::move(other.requests_);
    free_slots_ = std::move(other.free_slots_);
    displs_ = std::move(other.displs_);
  }
  return *this;
}

ProcessGroup::~ProcessGroup() {
  if (owned_ && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

namespace {
// In place, any count (in pieces).
template <typename T>
void all_reduce_impl(MPI_Comm comm, int size, T* data, int64_t n, MPI_Datatype type, MPI_Op op) {
  if (size == 1) return;
  in_pieces(n, [&](int64_t start, int count) {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + start, count, type, op, comm), "MPI_Allreduce");
  });
}

template <typename T>
void all_gather_impl(MPI_Comm comm, int rank, int size, const T* send, T* recv, int64_t n, MPI_Datatype type) {
  if (size == 1) {
    if (send != recv) std::copy(send, send + n, recv);
    return;
  }
  TESSERA_CHECK(n <= INT_MAX / 2, "all_gather of {} elements per rank (one message at most)", n);
  const bool in_place = send == recv + static_cast<int64_t>(rank) * n;
  check_mpi(
      MPI_Allgather(in_place ? MPI_IN_PLACE : send, static_cast<int>(n), type, recv, static_cast<int>(n), type, comm),
      "MPI_Allgather");
}

template <typename T>
void reduce_scatter_impl(MPI_Comm comm, int size, const T* send, T* recv, int64_t n, MPI_Datatype type) {
  if (size == 1) {
    if (send != recv) std::copy(send, send + n, recv);
    return;
  }
  TESSERA_CHECK(n <= INT_MAX / 2, "reduce_scatter of {} elements per rank (one message at most)", n);
  check_mpi(MPI_Reduce_scatter_block(send, recv, static_cast<int>(n), type, MPI_SUM, comm), "MPI_Reduce_scatter_block");
}
}  // namespace

void ProcessGroup::all_reduce(float* data, int64_t n, ReduceOp op) const {
  all_reduce_impl(comm_, size_, data, n, MPI_FLOAT, mpi_op(op));
}
void ProcessGroup::all_reduce(double* data, int64_t n, ReduceOp op) const {
  all_reduce_impl(comm_, size_, data, n, MPI_DOUBLE, mpi_op(op));
}

void ProcessGroup::all_gather(const float* send, float* recv, int64_t n) const {
  all_gather_impl(comm_, rank_, size_, send, recv, n, MPI_FLOAT);
}
void ProcessGroup::all_gather(const double* send, double* recv, int64_t n) const {
  all_gather_impl(comm_, rank_, size_, send, recv, n, MPI_DOUBLE);
}
void ProcessGroup::reduce_scatter(const float* send, float* recv, int64_t n) const {
  reduce_scatter_impl(comm_, size_, send, recv, n, MPI_FLOAT);
}
void ProcessGroup::reduce_scatter(const double* send, double* recv, int64_t n) const {
  reduce_scatter_impl(comm_, size_, send, recv, n, MPI_DOUBLE);
}

void ProcessGroup::send(const float* data, int64_t n, int peer) const {
  in_pieces(n, [&](int64_t start, int count) {
    check_mpi(MPI_Send(data + start, count, MPI_FLOAT, peer, 0, comm_), "MPI_Send");
  });
}

void ProcessGroup::recv(float* data, int64_t n, int peer) const {
  in_pieces(n, [&](int64_t start, int count) {
    check_mpi(MPI_Recv(data + start, count, MPI_FLOAT, peer, 0, comm_, MPI_STATUS_IGNORE), "MPI_Recv");
  });
}

// A free slot for the handle; the table grows when every slot is in use (once: after the first step of a run its
// size covers the most operations in flight).
Request ProcessGroup::take_slot(MPI_Request request) const {
  if (free_slots_.empty()) {
    const size_t grown = std::max<size_t>(requests_.size() * 2, kRequestSlots);
    for (size_t i = grown; i-- > requests_.size();) free_slots_.push_back(static_cast<int>(i));
    requests_.resize(grown, MPI_REQUEST_NULL);
  }
  const int slot = free_slots_.back();
  free_slots_.pop_back();
  requests_[static_cast<size_t>(slot)] = request;
  return Request(slot);
}

Request ProcessGroup::start_all_reduce(float* data, int64_t n) const {
  if (size_ == 1) return Request();
  TESSERA_CHECK(n <= INT_MAX / 2, "non-blocking all-reduce of {} elements (one message at most)", n);
  MPI_Request r = MPI_REQUEST_NULL;
  check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM, comm_, &r), "MPI_Iallreduce");
  return take_slot(r);
}

Request ProcessGroup::start_reduce_scatter(const float* send, float* recv, const int* counts) const {
  if (size_ == 1) {
    if (send != recv) std::copy(send, send + counts[0], recv);
    return Request();
  }
  MPI_Request r = MPI_REQUEST_NULL;
  check_mpi(MPI_Ireduce_scatter(send, recv, counts, MPI_FLOAT, MPI_SUM, comm_, &r), "MPI_Ireduce_scatter");
  return take_slot(r);
}

void ProcessGroup::all_gather_in_place(float* data, const int* counts) const {
  if (size_ == 1) return;
  displs_.resize(static_cast<size_t>(size_));
  int displ = 0;
  for (int r = 0; r < size_; ++r) {
    displs_[static_cast<size_t>(r)] = displ;
    displ += counts[r];
  }
  check_mpi(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, counts, displs_.data(), MPI_FLOAT, comm_),
            "MPI_Allgatherv");
}

Request ProcessGroup::start_send(const float* data, int64_t n, int peer, int tag) const {
  TESSERA_CHECK(n <= INT_MAX / 2, "non-blocking send of {} elements (one message at most)", n);
  MPI_Request r = MPI_REQUEST_NULL;
  check_mpi(MPI_Isend(data, static_cast<int>(n), MPI_FLOAT, peer, ordered_ ? 0 : tag, comm_, &r), "MPI_Isend");
  return take_slot(r);
}

Request ProcessGroup::start_recv(float* data, int64_t n, int peer, int tag) const {
  TESSERA_CHECK(n <= INT_MAX / 2, "non-blocking recv of {} elements (one message at most)", n);
  MPI_Request r = MPI_REQUEST_NULL;
  check_mpi(MPI_Irecv(data, static_cast<int>(n), MPI_FLOAT, peer, ordered_ ? 0 : tag, comm_, &r), "MPI_Irecv");
  return take_slot(r);
}

void ProcessGroup::wait(Request& request) const {
  if (!request.pending()) return;
  MPI_Request& r = requests_[static_cast<size_t>(request.slot())];
  check_mpi(MPI_Wait(&r, MPI_STATUS_IGNORE), "MPI_Wait");  // sets r to MPI_REQUEST_NULL
  free_slots_.push_back(request.slot());
  request.clear();
}

void ProcessGroup::all_reduce_sum(int64_t* data, int64_t n) const {
  all_reduce_impl(comm_, size_, data, n, MPI_INT64_T, MPI_SUM);
}

void ProcessGroup::broadcast(void* data, int64_t bytes, int root) const {
  if (size_ == 1) return;
  in_pieces(bytes, [&](int64_t start, int count) {
    check_mpi(MPI_Bcast(static_cast<char*>(data) + start, count, MPI_BYTE, root, comm_), "MPI_Bcast");
  });
}

std::vector<std::vector<int32_t>> ProcessGroup::gather(const std::vector<int32_t>& local, int root) const {
  std::vector<std::vector<int32_t>> out;
  if (rank_ != root) {
    auto n = static_cast<int64_t>(local.size());
    check_mpi(MPI_Send(&n, 1, MPI_INT64_T, root, 0, comm_), "MPI_Send");
    in_pieces(n, [&](int64_t start, int count) {
      check_mpi(MPI_Send(local.data() + start, count, MPI_INT32_T, root, 1, comm_), "MPI_Send");
    });
    return out;
  }
  out.resize(static_cast<size_t>(size_));
  for (int r = 0; r < size_; ++r) {
    if (r == root) {
      out[static_cast<size_t>(r)] = local;
      continue;
    }
    int64_t n = 0;
    check_mpi(MPI_Recv(&n, 1, MPI_INT64_T, r, 0, comm_, MPI_STATUS_IGNORE), "MPI_Recv");
    std::vector<int32_t>& v = out[static_cast<size_t>(r)];
    v.resize(static_cast<size_t>(n));
    in_pieces(n, [&](int64_t start, int count) {
      check_mpi(MPI_Recv(v.data() + start, count, MPI_INT32_T, r, 1, comm_, MPI_STATUS_IGNORE), "MPI_Recv");
    });
  }
  return out;
}

bool ProcessGroup::test(Request& request) const {
  if (!request.pending()) return true;
  MPI_Request& r = requests_[static_cast<size_t>(request.slot())];
  int done = 0;
  check_mpi(MPI_Test(&r, &done, MPI_STATUS_IGNORE), "MPI_Test");
  if (done == 0) return false;
  free_slots_.push_back(request.slot());
  request.clear();
  return true;
}

void ProcessGroup::barrier() const {
  if (size_ == 1) return;
  check_mpi(MPI_Barrier(comm_), "MPI_Barrier");
}

void ProcessGroup::barrier_asleep(int poll_ms) const {
  if (size_ == 1) return;
  MPI_Request done = MPI_REQUEST_NULL;
  check_mpi(MPI_Ibarrier(comm_, &done), "MPI_Ibarrier");
  for (int finished = 0;;) {
    check_mpi(MPI_Test(&done, &finished, MPI_STATUS_IGNORE), "MPI_Test");
    if (finished != 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

}  // namespace tessera
