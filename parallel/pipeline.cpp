#include "parallel/pipeline.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/check.hpp"
#include "parallel/p2p.hpp"

namespace tessera {
namespace {

bool holds_head(const std::vector<ChunkRange>& chunks) {
  return std::any_of(chunks.begin(), chunks.end(), [](const ChunkRange& c) { return c.head; });
}

}  // namespace

PipelineRunner::PipelineRunner(Transformer<float>& model, PipelineSchedule schedule, int m, const Communicator& pp)
    : model_(model),
      order_(pipeline_order(schedule, model.shard().pp, model.shard().pp_rank, m, model.shard().virtual_stages)),
      receives_(receive_order(schedule, model.shard().pp, model.shard().pp_rank, m, model.shard().virtual_stages)),
      m_(m),
      pp_(pp),
      n_(model.boundary_elements(model.max_batch(), model.max_seq())) {
  const std::vector<ChunkRange>& chunks = model.chunks();
  const size_t v = chunks.size();
  const int64_t per_chunk = m * n_;
  inbox_.resize(v);
  grad_inbox_.resize(v);
  for (size_t c = 0; c < v; ++c) {  // only the messages a chunk receives
    if (!chunks[c].embedding) inbox_[c] = DeviceBuffer<float>(model.backend(), per_chunk);
    if (!chunks[c].head) grad_inbox_[c] = DeviceBuffer<float>(model.backend(), per_chunk);
  }
  TESSERA_CHECK(static_cast<int64_t>(receives_.size()) * n_ == buffer_elements(chunks, m, n_),
                "pipeline rank {}: {} messages to receive in a step, buffers for {}", model.shard().pp_rank,
                receives_.size(), buffer_elements(chunks, m, n_) / std::max<int64_t>(n_, 1));
  received_.resize(v * static_cast<size_t>(m));
  grads_in_.resize(v * static_cast<size_t>(m));
  sent_forward_.resize(v);
  free_slots_.resize(v);
  slot_of_.assign(v, std::vector<int>(static_cast<size_t>(m), -1));
  for (size_t c = 0; c < v; ++c) {
    const int slots = model.shard().slots[c];
    sent_forward_[c].resize(static_cast<size_t>(slots));
    for (int s = slots - 1; s >= 0; --s) free_slots_[c].push_back(s);
  }
}

int64_t PipelineRunner::buffer_elements(const std::vector<ChunkRange>& chunks, int m, int64_t message) {
  int64_t n = 0;
  for (const ChunkRange& c : chunks) n += (c.embedding ? 0 : m) + (c.head ? 0 : m);
  return n * message;
}

double PipelineRunner::step(const MicroBatches& batches, float dloss) {
  const std::vector<ChunkRange>& chunks = model_.chunks();
  TESSERA_CHECK(batches.m == m_, "{} micro-batches for a pipeline planned for {}", batches.m, m_);
  const int64_t BT = static_cast<int64_t>(batches.B) * batches.T;
  const int64_t n = model_.boundary_elements(batches.B, batches.T);  // this step's messages (at most n_)
  auto at = [this](std::vector<DeviceBuffer<float>>& box, size_t c, int i) { return box[c].data() + i * n_; };
  Backend& backend = model_.backend();
  const auto bytes = n * static_cast<int64_t>(sizeof(float));
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  wait_s_ = 0;
  auto wait_for = [&](Request& r) {  // a receive: the time spent here is idle
    const auto t0 = clock::now();
    pp_.wait(r);
    wait_s_ += std::chrono::duration<double>(clock::now() - t0).count();
  };
  // 1. every receive of the step, posted now in the order the peers send them (MPI's tags would tell them apart in
  // any order; NCCL's messages, without tags, match the receives in the order they are posted)
  for (const PipelineMessage& msg : receives_) {
    const auto c = static_cast<size_t>(msg.chunk);
    const size_t r = c * static_cast<size_t>(m_) + static_cast<size_t>(msg.micro_batch);
    if (msg.forward) {
      received_[r] = recv_forward(pp_, at(inbox_, c, msg.micro_batch), n, chunks[c].index);
    } else {
      grads_in_[r] = recv_backward(pp_, at(grad_inbox_, c, msg.micro_batch), n, chunks[c].index);
    }
  }
  // 2. the schedule's forwards and backwards
  Request sent_backward;
  for (const PipelineAction& a : order_) {
    const auto c = static_cast<size_t>(a.chunk);
    const ChunkRange& chunk = chunks[c];
    const size_t r = c * static_cast<size_t>(m_) + static_cast<size_t>(a.micro_batch);
    int& s = slot_of_[c][static_cast<size_t>(a.micro_batch)];
    if (a.forward) {
      TESSERA_CHECK(!free_slots_[c].empty(), "chunk {}: no free activation slot for micro-batch {}", c, a.micro_batch);
      s = free_slots_[c].back();
      free_slots_[c].pop_back();
      if (!chunk.embedding) {
        wait_for(received_[r]);
        backend.copy(model_.chunk_input(a.chunk, s), at(inbox_, c, a.micro_batch), bytes);
      }
      model_.forward_chunk(a.chunk, s, batches.inputs + a.micro_batch * BT, batches.targets + a.micro_batch * BT,
                           batches.B, batches.T);
      if (chunk.head) {
        model_.chunk_loss(a.chunk, s, dloss, true);
      } else {
        sent_forward_[c][static_cast<size_t>(s)] =
            send_forward(pp_, model_.chunk_output(a.chunk, s), n, chunk.index + 1);
      }
      continue;
    }
    TESSERA_CHECK(s >= 0, "chunk {}: backward of micro-batch {} before its forward", c, a.micro_batch);
    pp_.wait(sent_backward);  // the gradient buffer is about to be written again
    if (!chunk.head) {
      wait_for(grads_in_[r]);
      backend.copy(model_.chunk_output_grad(), at(grad_inbox_, c, a.micro_batch), bytes);
    }
    const float* din = model_.backward_chunk(a.chunk, s, a.micro_batch == m_ - 1);
    if (din != nullptr) sent_backward = send_backward(pp_, din, n, chunk.index - 1);
    pp_.wait(sent_forward_[c][static_cast<size_t>(s)]);  // delivered: the next stage's backward came first
    free_slots_[c].push_back(s);
    s = -1;
  }
  pp_.wait(sent_backward);
  // the step's loss sum, read once (the head's micro-batches added it on the device)
  const double loss = holds_head(chunks) ? model_.take_loss_sum() : 0.0;
  step_s_ = std::chrono::duration<double>(clock::now() - start).count();
  return loss;
}

double run_pipeline_forward(Transformer<float>& model, const MicroBatches& batches, const Communicator& pp) {
  const std::vector<ChunkRange>& chunks = model.chunks();
  const int64_t BT = static_cast<int64_t>(batches.B) * batches.T;
  const int64_t n = model.boundary_elements(batches.B, batches.T);
  std::vector<Request> sent(chunks.size());  // slot 0 of each chunk
  for (int i = 0; i < batches.m; ++i) {
    for (size_t c = 0; c < chunks.size(); ++c) {
      const int chunk = static_cast<int>(c);
      pp.wait(sent[c]);  // slot 0's output was delivered before it is overwritten
      if (!chunks[c].embedding) {
        Request r = recv_forward(pp, model.chunk_input(chunk, 0), n, chunks[c].index);
        pp.wait(r);
      }
      model.forward_chunk(chunk, 0, batches.inputs + i * BT, batches.targets + i * BT, batches.B, batches.T);
      if (chunks[c].head) {
        model.chunk_loss(chunk, 0, 0.0F, false);
      } else {
        sent[c] = send_forward(pp, model.chunk_output(chunk, 0), n, chunks[c].index + 1);
      }
    }
  }
  for (Request& r : sent) pp.wait(r);
  return holds_head(chunks) ? model.take_loss_sum() : 0.0;
}

}  // namespace tessera
