// The training loop: data -> micro-batches -> forward/backward -> data-parallel reduction -> clip -> AdamW.
//
// One optimizer step consumes `global_batch` sequences. Data-parallel rank r takes every dp-th sample of the
// global order, in micro-batches of `micro_batch`; gradients accumulate over the micro-batches and are summed over
// the data-parallel group. Each position's loss is weighted by 1 / (targeted positions in the whole global batch),
// so every layout computes the gradient of the same mean loss.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "io/checkpoint/resume.hpp"
#include "io/token_dataset.hpp"
#include "parallel/parallel_state.hpp"
#include "train/run_data.hpp"
#include "train/run_plan.hpp"

namespace tessera {

// What one optimizer step did.
struct StepRecord {
  int64_t step = 0;  // 1-based
  double loss = 0;
  double grad_norm = 0;
  float lr = 0;
  bool skipped = false;  // a non-finite loss or gradient norm under train.on_nonfinite = "skip"
  double seconds = 0;    // wall time of the step (reading the batch to the update)
};

struct TrainResult {
  int64_t first_step = 0;  // steps done before this run (a resumed run's checkpoint)
  int stop_signal = 0;     // the run stopped early on this signal (SIGTERM, SIGUSR1) after a checkpoint; 0: it did not
  std::vector<StepRecord> steps;
  std::vector<std::pair<int64_t, double>> val_losses;  // (step, validation loss)
  double peak_flops = 0;                               // the MFU denominator of the job, FLOP/s
  std::string device;                                  // where it computed: the backend's name ("cpu", "cuda")
  bool staged = false;  // device traffic staged through host memory (ranks sharing a GPU)
};

// Fills the model's vocabulary and mask id from the dataset where the config leaves them open, and checks that the
// dataset fits the model (fine-tuning data, loss_mask: a causal model). Throws tessera::Error naming the dataset.
void fit_model_to_data(ModelConfig& model, const TokenizerInfo& tokenizer, const std::string& data_path,
                       bool loss_mask = false);

// Paths in a config are relative to the working directory at start-up; the resolved config holds them absolute,
// so that the config stored with a model means the same from any directory.
void make_paths_absolute(RunConfig& config);

// What the trainer does before it allocates anything: paths made absolute, the data opened and checked, the model
// fitted to its vocabulary, the run planned and the checkpoint to resume from chosen. Throws tessera::Error naming
// the key or file.
struct ResolvedRun {
  RunData data;
  RunPlan plan;
  ResumeChoice resume;
};
ResolvedRun resolve_run(RunConfig& config, const Layout& layout);

class Trainer {
 public:
  Trainer(RunConfig config, const ParallelState& parallel);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  const RunConfig& config() const;
  // Trains up to train.steps (from a checkpoint's step when resumed), saving checkpoints as configured; stops early
  // after a checkpoint on SIGTERM or SIGUSR1. Throws tessera::Error on a non-finite loss or gradient norm with
  // on_nonfinite = "stop".
  TrainResult run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera
