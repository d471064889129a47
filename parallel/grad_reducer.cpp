#include "parallel/grad_reducer.hpp"

#include <algorithm>

#include "core/check.hpp"

namespace tessera {

GradReducer::GradReducer(const TensorTable& table, float* grads, const Communicator& dp, int64_t bucket_elements,
                         bool zero1, const std::vector<int>& late, Backend* backend)
    : grads_(grads),
      dp_(dp),
      zero1_(zero1),
      bucket_of_(static_cast<size_t>(table.size()), -1),
      late_(static_cast<size_t>(table.size()), false),
      backend_(backend != nullptr ? backend : &cpu_backend()) {
  // buckets from the last tensor backwards; a bucket closes once it holds bucket_elements
  const int n = table.size();
  for (int i = n - 1; i >= 0;) {
    Bucket b;
    b.range.end = i == n - 1 ? table.total() : table[i + 1].offset;
    int64_t size = 0;
    for (; i >= 0 && (size < bucket_elements || bucket_elements <= 0 || b.tensors == 0); --i) {
      bucket_of_[static_cast<size_t>(i)] = static_cast<int>(buckets_.size());
      ++b.tensors;
      size = b.range.end - table[i].offset;
    }
    b.range.begin = i < 0 ? 0 : table[i + 1].offset;
    buckets_.push_back(std::move(b));
  }
  for (const int t : late) {
    TESSERA_CHECK(t >= 0 && t < n, "late tensor {}", t);
    late_[static_cast<size_t>(t)] = true;
    buckets_[static_cast<size_t>(bucket_of_[static_cast<size_t>(t)])].late = true;
  }
  // what this rank owns: the whole buffer, or (ZeRO-1) its part of each bucket, in flat order
  if (!zero1_) {
    owned_.push_back({0, table.total()});
    return;
  }
  const int size = dp.size(), rank = dp.rank();
  int64_t scratch = 0;
  for (Bucket& b : buckets_) {
    const int64_t len = b.range.end - b.range.begin;
    TESSERA_CHECK(len / size < (int64_t{1} << 30), "a bucket of {} elements", len);
    int64_t displ = 0;
    for (int r = 0; r < size; ++r) {
      const int64_t count = len / size + (r < len % size ? 1 : 0);
      b.counts.push_back(static_cast<int>(count));
      if (r == rank) b.own_begin = b.range.begin + displ;
      displ += count;
    }
    scratch_offset_.push_back(scratch);
    scratch += b.counts[static_cast<size_t>(rank)];
    owned_.push_back({b.own_begin, b.own_begin + b.counts[static_cast<size_t>(rank)]});
  }
  scratch_ = DeviceBuffer<float>(*backend_, scratch);
  scratch_.zero();
  std::sort(owned_.begin(), owned_.end(), [](const FlatRange& a, const FlatRange& b) { return a.begin < b.begin; });
}

void GradReducer::start_step() {
  for (Bucket& b : buckets_) {
    TESSERA_CHECK(!b.request.pending(), "a bucket still in flight at the start of a step");
    b.ready = 0;
    b.started = false;
  }
}

void GradReducer::start(Bucket& b) {
  b.started = true;
  float* data = grads_ + b.range.begin;
  if (!zero1_) {
    b.request = dp_.start_all_reduce(data, b.range.end - b.range.begin);
    return;
  }
  const auto i = static_cast<size_t>(&b - buckets_.data());
  b.request = dp_.start_reduce_scatter(data, scratch_.data() + scratch_offset_[i], b.counts.data());
}

void GradReducer::tensors_ready(int first, int last) {
  // each report also drives the reductions in flight: MPI moves a non-blocking collective on only inside MPI calls
  for (Bucket& b : buckets_)
    if (b.request.pending()) dp_.test(b.request);
  for (int t = first; t <= last; ++t) {
    if (late_[static_cast<size_t>(t)]) continue;
    const int bi = bucket_of_[static_cast<size_t>(t)];
    Bucket& b = buckets_[static_cast<size_t>(bi)];
    TESSERA_CHECK(!b.started, "tensor {} reported after its bucket started", t);
    if (++b.ready == b.tensors) {
      // buckets start in their order on every rank (collectives must match): start this one and any complete ones
      // before it that are not started yet
      for (int j = 0; j <= bi; ++j) {
        Bucket& e = buckets_[static_cast<size_t>(j)];
        if (e.started) continue;
        if (e.late || e.ready < e.tensors) break;
        start(e);
      }
    }
  }
}

void GradReducer::finish() {
  for (Bucket& b : buckets_)
    if (!b.started) start(b);
  for (size_t i = 0; i < buckets_.size(); ++i) {
    Bucket& b = buckets_[i];
    dp_.wait(b.request);
    if (zero1_) {  // this rank's summed part back into the flat buffer
      backend_->copy(grads_ + b.own_begin, scratch_.data() + scratch_offset_[i],
                     b.counts[static_cast<size_t>(dp_.rank())] * static_cast<int64_t>(sizeof(float)));
    }
  }
}

int GradReducer::started() const {
  return static_cast<int>(std::count_if(buckets_.begin(), buckets_.end(), [](const Bucket& b) { return b.started; }));
}

void GradReducer::gather_params(float* params) const {
  if (!zero1_) return;
  for (const Bucket& b : buckets_) dp_.all_gather_in_place(params + b.range.begin, b.counts.data());
}

}  // namespace tessera
