// The trainer's state and its named steps, private to src/train/trainer*.cpp:
//   trainer_setup.cpp   data, model, optimizer and outputs before step 1; a checkpoint read; the MFU's peak
//   trainer_step.cpp    one optimizer step: read the batches, forward and backward, reduce, update -> a StepRecord
//   trainer_report.cpp  the log line and metrics of a step, evaluation, checkpoints and the step boundary
//   trainer.cpp         the loop over them
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/blended_sampler.hpp"
#include "io/checkpoint/writer.hpp"
#include "model/transformer.hpp"
#include "optim/adamw.hpp"
#include "optim/lr_schedule.hpp"
#include "parallel/device_groups.hpp"
#include "parallel/grad_reducer.hpp"
#include "parallel/pipeline.hpp"
#include "train/batch.hpp"
#include "train/evaluate.hpp"
#include "train/grad_norm.hpp"
#include "train/metrics_log.hpp"
#include "train/trainer.hpp"
#include "train/watchdog.hpp"

namespace tessera {

using Clock = std::chrono::steady_clock;

// The loss of a step: the sum over its targeted positions and how many they are (this rank's micro-batches, then
// the global batch's once reduced).
struct LossSum {
  double sum = 0;
  double targets = 0;
  double mean() const { return targets > 0 ? sum / targets : 0.0; }
};

// What the ranks tell each other at a step boundary, summed over the world in one all-reduce.
struct BoundaryVote {
  int64_t signalled = 0;  // ranks that received SIGTERM or SIGUSR1
  int64_t errors = 0;     // ranks that met an error of their own (a metrics line not written)
  int64_t writing = 0;    // ranks still writing a background checkpoint
};

// Where the time of the last step went beyond compute: waits for other ranks.
struct StepWaits {
  double dp_s = 0;       // for the data-parallel reduction after backward
  double pp_s = 0;       // for pipeline messages
  double pp_step_s = 0;  // the pipeline's whole schedule
};

struct Trainer::Impl {
  RunConfig cfg;
  const ParallelState& ps;
  RunData data;
  RunPlan plan;
  ResumeChoice resume;
  int T = 0, mb = 0, dp = 1, grad_accum = 1, global_batch = 0;

  // data
  std::unique_ptr<BlendedSampler> train_sampler, val_sampler;
  std::unique_ptr<BatchBuilder> batches;
  std::vector<int32_t> inputs, targets;  // this rank's micro-batches of one step, (grad_accum, mb, T)
  std::vector<int32_t> seq;              // one sampled sequence, (T + 1)
  std::vector<uint8_t> mask;             // its loss mask (fine-tuning data), else empty

  // model and optimizer, in the memory of the run's backend (train.device)
  std::unique_ptr<Backend> backend;
  std::unique_ptr<DeviceGroups> devices;  // the device buffers' communicators (CUDA: NCCL or staged; CPU: the groups)
  std::unique_ptr<Transformer<float>> model;
  std::unique_ptr<PipelineRunner> pipeline;  // this rank's forwards and backwards of one step
  std::unique_ptr<GradNorm> grad_norm;
  std::unique_ptr<GradReducer> reducer;
  bool overlap = false;  // data-parallel reduction overlapped with backward
  std::unique_ptr<AdamW> optimizer;
  LrSchedule schedule;

  // where the run is
  int64_t start_step = 0;  // steps done before this run (from the checkpoint resumed)
  int64_t consumed = 0;    // training samples read so far: the sampler's position
  int64_t skipped = 0;     // steps skipped for a non-finite loss or gradient norm
  int64_t step_now = 0;    // 1-based step being run, for the watchdog's message
  StepWaits waits;

  // outputs
  std::unique_ptr<CheckpointWriter> writer;  // nullptr: checkpoint.dir is empty
  MetricsLog metrics;                        // rank 0's log.metrics (no file elsewhere)
  std::string pending_error;           // an error met by this rank alone, acted on by every rank at the step boundary
  std::unique_ptr<Watchdog> watchdog;  // several ranks: a stuck peer ends the job instead of hanging it

  // throughput
  double peak_flops = 0;     // of the whole job, FLOP/s
  std::string peak_source;   // where it came from, for the log
  int64_t nodes = 0;         // machines of the job (0: the peak was declared, not measured)
  bool peak_raised = false;  // a step ran faster than the peak, which was raised to it
  int threads = 1;
  std::string threads_note;  // why this rank has fewer threads than its share of the cores
  std::string staged_note;   // ranks sharing a GPU: their device traffic goes through host memory (open_backend)
  Clock::time_point run_start;
  double train_seconds = 0;  // step time only (no evaluation or saving), for the ETA

  Impl(RunConfig c, const ParallelState& p) : cfg(std::move(c)), ps(p) {}

  bool main() const { return ps.is_main(); }
  void phase(int64_t step, const char* what) const {
    if (watchdog) watchdog->enter(step, what);
  }

  // set-up (trainer_setup.cpp)
  void setup();
  void open_data();
  void open_backend();
  void build_model();
  void build_optimizer();
  void open_outputs();
  CheckpointManifest manifest_base() const;
  void check_outputs() const;
  void check_val_tokens();
  void load_checkpoint(const std::string& dir, bool resume_run);
  void measure_peak();
  void print_start() const;

  // one optimizer step (trainer_step.cpp)
  StepRecord train_step(int64_t step);
  double read_batches();
  double forward_backward(float dloss);
  void reduce_tied_embedding();
  void reduce_gradients();
  StepRecord update(int64_t step, double loss);

  // reports and the step boundary (trainer_report.cpp)
  void log_step(const StepRecord& record);
  int64_t eval_samples() const;
  double evaluate(int64_t step);
  void save(int64_t step);
  std::string save_after_error(int64_t step);
  bool step_boundary(int64_t step, TrainResult& result);
  void write_metrics(const nlohmann::json& line, int64_t step);

  TrainResult run();
};

}  // namespace tessera
