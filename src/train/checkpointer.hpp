// Saving a run's checkpoints: every rank writes its part at once, rank 0 completes the checkpoint.
//
// A save of step N: rank 0 makes RUN/.step-N.partial/ (with config.toml and the tokenizer's files); then each
// (tp, pp) shard's data-parallel rank 0 writes shard-tpT-ppP.h5 (weights, and AdamW's moments unless ZeRO-1 shards
// them), and under ZeRO-1 every data-parallel rank writes the moments it owns to optim-tpT-ppP-dpD.h5; each file is
// forced to disk. When every rank is done, rank 0 writes checkpoint.json, renames the directory to step-N/, updates
// `latest` (atomically, last) and removes the checkpoints beyond checkpoint.keep. A kill at any moment leaves the
// previous checkpoint and `latest` intact; a leftover .partial directory is removed by the next save.
//
// checkpoint.async: the save copies this rank's state to host memory and writes it on a background thread while
// training goes on; the step boundaries (poll) notice when every rank is done, and rank 0 then completes it. The next
// save and the end of the run wait for it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/run_config.hpp"
#include "io/checkpoint_manifest.hpp"
#include "model/transformer.hpp"
#include "optim/adamw.hpp"
#include "parallel/parallel_state.hpp"
#include "train/run_data.hpp"
#include "train/run_plan.hpp"

namespace tessera {

// Where the run is, at the step being saved.
struct TrainPosition {
  int64_t step = 0;
  int64_t consumed_samples = 0;
  int64_t tokens = 0;
  int64_t skipped_steps = 0;
};

class Checkpointer {
 public:
  Checkpointer(const RunConfig& config, const ParallelState& parallel, const RunData& data, const RunPlan& plan);
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Collective over the world: saves the model and the optimizer at `at` (checkpoint.async: starts saving). Throws
  // AgreedError on every rank if any rank fails; the previous checkpoint stays.
  void save(const TrainPosition& at, const Transformer<float>& model, const AdamW& optimizer);
  // Collective, at every step boundary: one small all-reduce that tells every rank whether any rank was signalled
  // (signal_here) or met an error (error_here), and completes a background save that every rank has finished.
  struct Poll {
    bool signalled = false;
    bool error = false;
  };
  Poll poll(bool signal_here, bool error_here);
  // Collective: waits for a background save and completes it.
  void wait();
  // checkpoint.async: allocates (and touches) the snapshot buffers for a shard of n elements now, so that the first
  // background save does not hold training up with page faults.
  void reserve_snapshot(int64_t n);

  int64_t last_step() const { return last_step_; }            // the newest step saved (or being saved); 0: none
  double last_blocked_seconds() const { return blocked_s_; }  // how long the last save held training up

 private:
  struct Job;
  void write_files(Job& job) const;
  void complete(Job& job);
  void prepare_directory(int64_t step) const;
  void finish_directory(const Job& job) const;

  RunConfig cfg_;
  const ParallelState& ps_;
  CheckpointManifest base_;   // what every manifest of the run shares
  TokenizerInfo tokenizer_;   // where the tokenizer's files are copied from
  bool zero1_files_ = false;  // the moments in optim-* files (ZeRO-1 over more than one rank)
  std::unique_ptr<Job> job_;  // a save in flight
  std::vector<float> snapshot_params_, snapshot_m_, snapshot_v_;  // what a background save writes (kept for reuse)
  int64_t last_step_ = 0;
  double blocked_s_ = 0;
};

}  // namespace tessera
