#include "parallel/pipeline_schedules.hpp"

#include <algorithm>

#include "core/check.hpp"

namespace tessera {

PipelineOrder no_pipeline(int m) {
  PipelineOrder order;
  for (int i = 0; i < m; ++i) {
    order.push_back({true, 0, i});
    order.push_back({false, 0, i});
  }
  return order;
}

PipelineOrder all_forward_all_backward(int /*pp*/, int /*rank*/, int m, int v) {
  PipelineOrder order;
  for (int i = 0; i < m; ++i)
    for (int c = 0; c < v; ++c) order.push_back({true, c, i});
  for (int i = 0; i < m; ++i)
    for (int c = v - 1; c >= 0; --c) order.push_back({false, c, i});
  return order;
}

PipelineOrder one_f_one_b(int pp, int rank, int m) {
  const int warmup = std::min(pp - rank - 1, m);
  const int remaining = m - warmup;
  PipelineOrder order;
  // 1. warm-up: forwards until the first backward can arrive from the last stage
  for (int i = 0; i < warmup; ++i) order.push_back({true, 0, i});
  // 2. steady state: one forward, one backward (of the oldest micro-batch in flight)
  for (int i = 0; i < remaining; ++i) {
    order.push_back({true, 0, warmup + i});
    order.push_back({false, 0, i});
  }
  // 3. cool-down: the backwards of the warm-up's micro-batches
  for (int i = remaining; i < m; ++i) order.push_back({false, 0, i});
  return order;
}

PipelineOrder interleaved_one_f_one_b(int pp, int rank, int m, int v) {
  TESSERA_CHECK(m % pp == 0, "interleaved 1F1B with {} micro-batches, not a multiple of {} stages", m, pp);
  const int total = m * v;
  // Megatron's k-th forward (backward) of a rank: micro-batches in groups of pp, each group through every chunk
  // (backwards through the chunks in reverse).
  auto chunk_of = [&](int k, bool forward) {
    const int c = (k % (pp * v)) / pp;
    return forward ? c : v - 1 - c;
  };
  auto micro_batch_of = [&](int k) { return k / (pp * v) * pp + k % pp; };
  int warmup = m == pp ? total : std::min((pp - rank - 1) * 2 + (v - 1) * pp, total);
  const int remaining = total - warmup;
  PipelineOrder order;
  for (int k = 0; k < warmup; ++k) order.push_back({true, chunk_of(k, true), micro_batch_of(k)});
  for (int i = 0; i < remaining; ++i) {
    const int k = warmup + i;
    order.push_back({true, chunk_of(k, true), micro_batch_of(k)});
    order.push_back({false, chunk_of(i, false), micro_batch_of(i)});
  }
  for (int k = remaining; k < total; ++k) order.push_back({false, chunk_of(k, false), micro_batch_of(k)});
  return order;
}

PipelineSchedule parse_pipeline_schedule(const std::string& name, int virtual_stages) {
  if (name == "afab") return PipelineSchedule::kAllForwardAllBackward;
  TESSERA_CHECK(name == "1f1b", "pipeline schedule \"{}\"", name);
  return virtual_stages > 1 ? PipelineSchedule::kInterleaved : PipelineSchedule::kOneFOneB;
}

PipelineOrder pipeline_order(PipelineSchedule schedule, int pp, int rank, int m, int v) {
  if (pp == 1 && v == 1 && schedule != PipelineSchedule::kAllForwardAllBackward) return no_pipeline(m);
  switch (schedule) {
    case PipelineSchedule::kAllForwardAllBackward:
      return all_forward_all_backward(pp, rank, m, v);
    case PipelineSchedule::kOneFOneB:
      return one_f_one_b(pp, rank, m);
    case PipelineSchedule::kInterleaved:
      return interleaved_one_f_one_b(pp, rank, m, v);
  }
  return {};
}

std::vector<PipelineMessage> receive_order(PipelineSchedule schedule, int pp, int rank, int m, int v) {
  const int chunks = pp * v;
  std::vector<int> senders = {(rank + pp - 1) % pp};
  if ((rank + 1) % pp != senders[0]) senders.push_back((rank + 1) % pp);
  std::vector<PipelineMessage> order;
  for (const int q : senders) {
    for (const PipelineAction& a : pipeline_order(schedule, pp, q, m, v)) {
      const int from = a.chunk * pp + q;  // global chunks: chunk k on rank k % pp
      const int to = a.forward ? from + 1 : from - 1;
      if (to >= 0 && to < chunks && to % pp == rank) order.push_back({a.forward, to / pp, a.micro_batch});
    }
  }
  return order;
}

std::vector<int> pipeline_slots(const PipelineOrder& order, int v) {
  std::vector<int> in_flight(static_cast<size_t>(v), 0), most(static_cast<size_t>(v), 0);
  for (const PipelineAction& a : order) {
    int& n = in_flight[static_cast<size_t>(a.chunk)];
    n += a.forward ? 1 : -1;
    most[static_cast<size_t>(a.chunk)] = std::max(most[static_cast<size_t>(a.chunk)], n);
  }
  for (int& s : most) s = std::max(s, 1);
  return most;
}

double pipeline_bubble(int pp, int m, int v) {
  return static_cast<double>(pp - 1) / (static_cast<double>(v) * m + pp - 1);
}

}  // namespace tessera
