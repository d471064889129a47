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
// training goes on; the trainer's step boundaries ask every rank whether it is still writing (writing()), and once
// none is, wait() lets rank 0 complete it. The next save and the end of the run wait for it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/run_config.hpp"
#include "io/checkpoint/manifest.hpp"
#include "model/transformer.hpp"
#include "optim/adamw.hpp"
#include "parallel/parallel_state.hpp"

namespace tessera {

// Where the run is, at the step being saved.
struct TrainPosition {
  int64_t step = 0;
  int64_t consumed_samples = 0;
  int64_t tokens = 0;
  int64_t skipped_steps = 0;
};

class CheckpointWriter {
 public:
  // base: what every manifest of the run shares, as the trainer knows it (seed, the layout's virtual stages and
  // chunk layers, the tokenizer, the training data); the writer adds the process groups' layout, ZeRO-1's files,
  // the tokenizer's file names and its own version. Removes what a killed save left in checkpoint.dir. Throws
  // tessera::Error when the tokenizer's files are missing.
  CheckpointWriter(const RunConfig& config, const ParallelState& parallel, CheckpointManifest base);
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Collective over the world: saves the model and the optimizer at `at` (checkpoint.async: starts saving). Throws
  // AgreedError on every rank if any rank fails; the previous checkpoint stays.
  void save(const TrainPosition& at, const Transformer<float>& model, const AdamW& optimizer);
  // Whether this rank is still writing a background save (the trainer asks every rank at the step boundary, and
  // calls wait() once none is: it then returns at once).
  bool writing() const;
  // Collective: waits for a background save and completes it (nothing if there is none).
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
  void finish_directory(const Job& job) const;

  RunConfig cfg_;
  const ParallelState& ps_;
  CheckpointManifest base_;   // what every manifest of the run shares
  TokenizerInfo tokenizer_;   // where the tokenizer's files are copied from (base_ keeps their names only)
  bool zero1_files_ = false;  // the moments in optim-* files (ZeRO-1 over more than one rank)
  std::unique_ptr<Job> job_;  // a save in flight
  std::vector<float> snapshot_params_, snapshot_m_, snapshot_v_;  // what a background save writes (kept for reuse)
  int64_t last_step_ = 0;
  double blocked_s_ = 0;
};

}  // namespace tessera
