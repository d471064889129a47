// Data-parallel gradient reduction over buckets of the flat gradient buffer, and the ranges of ZeRO-1.
//
// Buckets are contiguous ranges of the flat buffer split at tensor boundaries (about bucket_elements each), listed
// from the end of the buffer, the order in which backward finishes them (head, last layer, ..., embedding). With
// overlap, the model reports tensors as their gradients become final (on the last micro-batch of a step) and a
// bucket starts its non-blocking reduction as soon as all its tensors are in, while backward goes on; finish()
// starts the rest and waits. Without ZeRO-1 each bucket is all-reduced (every rank gets the whole gradient); with
// ZeRO-1 (parallel.zero1) each bucket is reduce-scattered: this rank gets the sum of its contiguous part of every
// bucket (owned()), updates only that part of the parameters (its optimizer state covers only that), and
// gather_params() brings every rank the updated parameters from their owners.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.hpp"
#include "core/communicator.hpp"
#include "core/tensor_table.hpp"

namespace tessera {

class GradReducer {
 public:
  // late: tensors whose reports are ignored (they need another reduction first, e.g. the tied embedding's over the
  // embedding group): their buckets start in finish(). bucket_elements <= 0: one bucket.
  // grads and the reduce-scatter's scratch are the memory of `backend` (nullptr: the CPU), which must outlive it.
  GradReducer(const TensorTable& table, float* grads, const Communicator& dp, int64_t bucket_elements, bool zero1,
              const std::vector<int>& late, Backend* backend = nullptr);

  // Before the last micro-batch's backward: no bucket is ready.
  void start_step();
  // The gradients of tensors [first, last] (table indices) are final: starts every bucket that is complete.
  void tensors_ready(int first, int last);
  // Starts the buckets not started yet, in order, and waits for every reduction.
  void finish();

  // The ranges of the flat buffer whose reduced gradients this rank holds (and whose parameters it updates): the
  // whole buffer without ZeRO-1.
  const std::vector<FlatRange>& owned() const { return owned_; }
  bool zero1() const { return zero1_; }
  int buckets() const { return static_cast<int>(buckets_.size()); }
  // Buckets whose reduction has started this step (before finish(): the ones overlapping backward).
  int started() const;
  // ZeRO-1, after the update of the owned ranges: every rank's parameters, from their owners.
  void gather_params(float* params) const;

 private:
  struct Bucket {
    FlatRange range;
    int tensors = 0;       // tensors in the bucket
    int ready = 0;         // of them reported this step
    bool started = false;  // its reduction is in flight (or done)
    bool late = false;     // holds a late tensor: starts in finish()
    Request request;
    std::vector<int> counts;  // ZeRO-1: elements of the bucket each dp rank owns, in rank order
    int64_t own_begin = 0;    // ZeRO-1: where this rank's part starts
  };
  void start(Bucket& b);

  float* grads_;
  const Communicator& dp_;
  bool zero1_;
  std::vector<Bucket> buckets_;          // in the order backward finishes them
  std::vector<int> bucket_of_;           // tensor index -> bucket
  std::vector<bool> late_;               // per tensor
  Backend* backend_;                     // the CPU backend (cpu_backend()) when none is given
  DeviceBuffer<float> scratch_;          // ZeRO-1: the reduce-scatter's output, per bucket this rank's part
  std::vector<int64_t> scratch_offset_;  // per bucket
  std::vector<FlatRange> owned_;
};

}  // namespace tessera
