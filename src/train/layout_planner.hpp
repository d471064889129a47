// The layout planner behind `tessera plan`: every (tp, pp, dp, micro-batch, ZeRO-1) layout of a model on a cluster,
// with its memory per device (the run plan's, as --dry-run computes it) and a predicted step time, best first.
// No MPI, no data, no allocation: a 70B model on a thousand GPUs plans in seconds on a laptop.
//
// The step-time model, per optimizer step of global batch GB sequences of T tokens on R = tp * pp * dp devices:
//   compute  = FLOPs per token * GB * T / (R * peak * efficiency), stretched by the 1F1B pipeline to
//              compute * (m + pp - 1) / m for m micro-batches per data-parallel rank (the bubble)
//   tp       = 4 ring all-reduces of (micro_batch * T * C) floats per layer per micro-batch (two forward, two
//              backward), over NVLink/the node when tp fits in a node, else the network
//   pp       = one activation message forward and one gradient back per micro-batch and stage boundary
//   dp       = a ring all-reduce (ZeRO-1: reduce-scatter + all-gather, the same volume) of this rank's gradients,
//              less what hides behind the last micro-batch's backward
//   a ring collective over n ranks moves 2 (n - 1) / n of the bytes, plus a latency per step of the ring.
// Ranks are placed as the rank grid places them (tp fastest, then dp, then pp), nodes of devices_per_node ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "parallel/rank_grid.hpp"

namespace tessera {

struct ClusterSpec {
  int nodes = 1;
  int devices_per_node = 8;             // ranks per node (GPUs; on the CPU backend, cores or core groups)
  double memory_bytes = 80e9;           // per device
  double peak_flops = 989e12;           // per device, dense, in the dtype the model trains in
  double efficiency = 0.6;              // fraction of the peak that the model's kernels reach at full size
  double intra_node_bandwidth = 450e9;  // bytes/s a device sends to another in its node
  double inter_node_bandwidth = 50e9;   // bytes/s a device sends to another node
  double latency_s = 10e-6;             // per message
  int ranks() const { return nodes * devices_per_node; }
};

struct LayoutPrediction {
  Layout layout;
  int micro_batch = 0;
  int micro_batches = 0;  // m, per data-parallel rank and step
  bool zero1 = false;
  int64_t memory_bytes = 0;  // per device, of the heaviest pipeline stage (parameters, gradients, AdamW, activations)
  double compute_s = 0;      // with the pipeline bubble
  double bubble = 0;         // (pp - 1) / (m + pp - 1)
  double tp_s = 0, pp_s = 0, dp_s = 0;  // communication on the critical path
  double step_s = 0;
  double mfu = 0;
};

struct LayoutPlan {
  std::vector<LayoutPrediction> fits;  // best (shortest step) first
  int64_t considered = 0;              // layouts the model and batch allow
  int64_t too_big = 0;                 // ... of which exceed the device's memory
  LayoutPrediction smallest;           // the layout needing the least memory (whether it fits or not)
};

// config: the model (finalised, its vocabulary known), train.global_batch and train.seq_len (0: model.max_seq_len).
// Throws tessera::Error when the global batch or the cluster cannot be planned for.
LayoutPlan plan_layouts(const RunConfig& config, const ClusterSpec& cluster);

// The prediction for one layout (micro-batch and ZeRO-1 from config.train and config.parallel).
LayoutPrediction predict_layout(const RunConfig& config, const Layout& layout, const ClusterSpec& cluster);

}  // namespace tessera
