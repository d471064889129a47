// Pipeline schedules as pure functions: the order in which one pipeline rank runs the forward (F) and backward (B)
// passes of the m micro-batches of a step over its model chunks. No MPI: the rank grid tests run them for any size,
// and the activation slots a rank needs (the most micro-batches in flight per chunk) follow from them before
// anything is allocated. parallel/pipeline.cpp runs them with the point-to-point calls.
//
// Every schedule runs the backward passes of each chunk in micro-batch order, so gradients accumulate in the same
// order under all of them: 1F1B and interleaved 1F1B are bit-identical to all-forward-all-backward (the oracle).
#pragma once

#include <string>
#include <vector>

namespace tessera {

struct PipelineAction {
  bool forward = true;
  int chunk = 0;        // index among this rank's chunks (global chunk = chunk * pp + rank)
  int micro_batch = 0;  // 0 .. m-1
  bool operator==(const PipelineAction&) const = default;
};
using PipelineOrder = std::vector<PipelineAction>;

// A message into one of a rank's chunks: its input activations (forward) or the gradient of its output (backward).
struct PipelineMessage {
  bool forward = true;
  int chunk = 0;  // the receiving rank's chunk (as PipelineAction::chunk)
  int micro_batch = 0;
  bool operator==(const PipelineMessage&) const = default;
};

enum class PipelineSchedule { kAllForwardAllBackward, kOneFOneB, kInterleaved };

// One rank, one chunk, no pipeline: F0 B0 F1 B1 ... (gradients accumulate as micro-batches finish).
PipelineOrder no_pipeline(int m);
// GPipe's order, the oracle: every forward (micro-batch by micro-batch, chunks in model order), then every backward.
PipelineOrder all_forward_all_backward(int pp, int rank, int m, int v);
// 1F1B (PipeDream-Flush, Megatron's default): pp - rank - 1 warm-up forwards, then one forward and one backward
// in turn (steady state), then the remaining backwards (cool-down). At most pp - rank micro-batches in flight.
PipelineOrder one_f_one_b(int pp, int rank, int m);
// Interleaved 1F1B (Megatron): v chunks per rank, micro-batches in groups of pp; bubble (pp - 1) / (v m + pp - 1).
// m must be a multiple of pp.
PipelineOrder interleaved_one_f_one_b(int pp, int rank, int m, int v);

// The schedule a run uses: no pipeline (pp = 1, v = 1), AFAB when asked, else 1F1B or interleaved (v > 1).
PipelineOrder pipeline_order(PipelineSchedule schedule, int pp, int rank, int m, int v);
PipelineSchedule parse_pipeline_schedule(const std::string& name, int virtual_stages);
// Every message `rank` receives in a step, in the order its peers send them: the messages of the rank before it in
// the pipeline in that rank's order of sends, then those of the rank after it in its order (one list where the two
// are the same rank). Where messages carry no tags (NCCL, ProcessGroup::set_ordered_p2p) a rank's messages match
// its peer's receives in the order they were posted, so the pipeline posts them in this order; the interleaved
// schedule consumes them in another.
std::vector<PipelineMessage> receive_order(PipelineSchedule schedule, int pp, int rank, int m, int v);
// Micro-batches in flight at once on each of the rank's v chunks under that order: its activation slots.
std::vector<int> pipeline_slots(const PipelineOrder& order, int v);
// The idle fraction of an ideal pipeline of p stages, m micro-batches, v chunks per rank: (p - 1) / (v m + p - 1).
double pipeline_bubble(int pp, int m, int v);

}  // namespace tessera
