#include "parallel/pipeline.hpp"

#include <vector>

#include "core/check.hpp"
#include "parallel/p2p.hpp"

namespace tessera {

namespace {

// The activation slots of each chunk: a micro-batch takes one at its forward and gives it back after its backward.
class SlotPool {
 public:
  explicit SlotPool(const std::vector<int>& slots) : free_(slots.size()), of_(slots.size()) {
    for (size_t c = 0; c < slots.size(); ++c)
      for (int s = slots[c] - 1; s >= 0; --s) free_[c].push_back(s);
  }
  int take(int chunk, int micro_batch) {
    auto& f = free_[static_cast<size_t>(chunk)];
    TESSERA_CHECK(!f.empty(), "chunk {}: no free activation slot for micro-batch {}", chunk, micro_batch);
    const int s = f.back();
    f.pop_back();
    auto& of = of_[static_cast<size_t>(chunk)];
    if (static_cast<int>(of.size()) <= micro_batch) of.resize(static_cast<size_t>(micro_batch) + 1, -1);
    of[static_cast<size_t>(micro_batch)] = s;
    return s;
  }
  int of(int chunk, int micro_batch) const {
    const int s = of_[static_cast<size_t>(chunk)][static_cast<size_t>(micro_batch)];
    TESSERA_CHECK(s >= 0, "chunk {}: backward of micro-batch {} before its forward", chunk, micro_batch);
    return s;
  }
  void give_back(int chunk, int micro_batch) {
    free_[static_cast<size_t>(chunk)].push_back(of(chunk, micro_batch));
    of_[static_cast<size_t>(chunk)][static_cast<size_t>(micro_batch)] = -1;
  }

 private:
  std::vector<std::vector<int>> free_;
  std::vector<std::vector<int>> of_;  // micro-batch -> slot, per chunk
};

}  // namespace

double run_pipeline(Transformer<float>& model, const PipelineOrder& order, const MicroBatches& batches, float dloss,
                    const Communicator& pp) {
  const std::vector<ChunkRange>& chunks = model.chunks();
  const int64_t BT = static_cast<int64_t>(batches.B) * batches.T;
  const int64_t n = BT * model.dims().C;  // one micro-batch's activations
  SlotPool pool(model.shard().slots);
  // sends in flight: the forward output of each (chunk, slot), and the one backward gradient buffer
  std::vector<std::vector<Request>> sent_forward(chunks.size());
  for (size_t c = 0; c < chunks.size(); ++c) sent_forward[c].resize(model.shard().slots[c]);
  Request sent_backward;
  double loss = 0;
  for (const PipelineAction& a : order) {
    const ChunkRange& chunk = chunks[static_cast<size_t>(a.chunk)];
    const int32_t* tokens = batches.inputs + a.micro_batch * BT;
    const int32_t* targets = batches.targets + a.micro_batch * BT;
    if (a.forward) {
      const int s = pool.take(a.chunk, a.micro_batch);
      if (!chunk.embedding) recv_forward(pp, model.chunk_input(a.chunk, s), n, chunk.index);
      model.forward_chunk(a.chunk, s, tokens, targets, batches.B, batches.T);
      if (chunk.head) {
        loss += model.chunk_loss(a.chunk, s, dloss, true);
      } else {
        sent_forward[static_cast<size_t>(a.chunk)][static_cast<size_t>(s)] =
            send_forward(pp, model.chunk_output(a.chunk, s), n, chunk.index + 1);
      }
      continue;
    }
    const int s = pool.of(a.chunk, a.micro_batch);
    pp.wait(sent_backward);  // the gradient buffer is about to be written again
    if (!chunk.head) recv_backward(pp, model.chunk_output_grad(), n, chunk.index);
    const float* din = model.backward_chunk(a.chunk, s);
    if (din != nullptr) sent_backward = send_backward(pp, din, n, chunk.index - 1);
    pp.wait(sent_forward[static_cast<size_t>(a.chunk)][static_cast<size_t>(s)]);  // before the slot is reused
    pool.give_back(a.chunk, a.micro_batch);
  }
  pp.wait(sent_backward);
  return loss;
}

double run_pipeline_forward(Transformer<float>& model, const MicroBatches& batches, const Communicator& pp) {
  const std::vector<ChunkRange>& chunks = model.chunks();
  const int64_t BT = static_cast<int64_t>(batches.B) * batches.T;
  const int64_t n = BT * model.dims().C;
  std::vector<Request> sent(chunks.size());  // slot 0 of each chunk
  double loss = 0;
  for (int i = 0; i < batches.m; ++i) {
    for (size_t c = 0; c < chunks.size(); ++c) {
      const int chunk = static_cast<int>(c);
      pp.wait(sent[c]);  // slot 0's output was sent before it is overwritten
      if (!chunks[c].embedding) recv_forward(pp, model.chunk_input(chunk, 0), n, chunks[c].index);
      model.forward_chunk(chunk, 0, batches.inputs + i * BT, batches.targets + i * BT, batches.B, batches.T);
      if (chunks[c].head) {
        loss += model.chunk_loss(chunk, 0, 0.0F, false);
      } else {
        sent[c] = send_forward(pp, model.chunk_output(chunk, 0), n, chunks[c].index + 1);
      }
    }
  }
  for (Request& r : sent) pp.wait(r);
  return loss;
}

}  // namespace tessera
