// What a run will do, worked out before anything is allocated: batch arithmetic, model size, memory per rank and
// compute. The trainer runs by it; `train --dry-run` prints it and stops.
#pragma once

#include <cstdint>
#include <string>

#include "config/run_config.hpp"
#include "model/transformer.hpp"
#include "parallel/pipeline_schedules.hpp"
#include "parallel/rank_grid.hpp"
#include "train/run_data.hpp"

namespace tessera {

struct RunPlan {
  Layout layout;
  int seq_len = 0;       // T
  int micro_batch = 0;   // sequences per forward/backward on one rank
  int global_batch = 0;  // sequences per optimizer step, all ranks
  int grad_accum = 0;    // micro-batches per step on one rank (m: the pipeline's micro-batches)
  int64_t steps = 0;
  PipelineSchedule schedule = PipelineSchedule::kOneFOneB;
  std::vector<int> chunk_layers;  // layers of each of the pp * v model chunks
  int heaviest_stage = 0;         // the pipeline rank with the most memory (what the sizes below describe)
  ModelSizes sizes;               // of the heaviest stage's rank: its shard, activations for (micro_batch, T)
  // bytes per rank
  int64_t param_bytes = 0, grad_bytes = 0, optimizer_bytes = 0, activation_bytes = 0;
  int64_t tokens_per_step() const { return int64_t{global_batch} * seq_len; }
  int64_t total_bytes() const { return param_bytes + grad_bytes + optimizer_bytes + activation_bytes; }
};

// The layout the config asks for on `world_size` ranks (parallel.dp = 0: the ranks left), checked against the world
// and against what this build can run. Throws tessera::Error naming the keys. No communication.
Layout resolve_layout(const ParallelConfig& parallel, int world_size);

// The part of the model the rank at `coord` holds under the plan, with its activation slots.
ModelShard plan_shard(const RunConfig& config, const RunPlan& plan, const Coord& coord);

// Resolves config.train.seq_len and global_batch (0: their defaults) and plans the run. config.model must be
// finalised (vocabulary known). Throws tessera::Error for a global batch that does not divide.
RunPlan plan_run(RunConfig& config, const Layout& layout);

// Refuses a plan whose memory per rank exceeds this machine's, naming the keys that size its largest part (run
// before anything is allocated: a std::bad_alloc names nothing). capacity: the memory the plan must fit in
// (0: this machine's physical memory); extra: bytes the backend needs beyond the plan; where: whose memory it is.
void check_fits_in_memory(const RunPlan& plan, int64_t capacity = 0, int64_t extra = 0,
                          const std::string& where = "this machine's");

// The start-of-run summary (data, model, layout and batch, memory per rank, compute): printed by the trainer and by
// train --dry-run.
std::string describe_run(const RunConfig& config, const RunPlan& plan, const RunData& data);

}  // namespace tessera
