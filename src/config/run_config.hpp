// The run config: TOML with sections [model] [data] [train] [parallel] [checkpoint] [log] [eval].
//
// Every key has a default; a config file sets some of them and `--set section.key=value` overrides any of them.
// Unknown sections and keys, wrong types and impossible values are errors that name the key and the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model_config.hpp"
#include "optim/lr_schedule.hpp"

namespace tessera {

struct DataConfig {
  std::string path;                // dataset directory (tessera prepare)
  std::vector<std::string> paths;  // or several, blended (instead of path)
  std::vector<double> weights;     // blend weights, one per path (empty: by training tokens)
  std::string tokenizer;           // the tokenizer the run expects the data to have ("" = any)
  bool shuffle = true;             // permute the training samples every epoch
  int cache_mb = 64;               // token cache of each dataset split
};

struct TrainConfig {
  int64_t steps = 1000;
  int micro_batch = 8;   // sequences per forward/backward on one rank
  int global_batch = 0;  // sequences per optimizer step over all ranks (0: micro_batch * dp)
  int seq_len = 0;       // 0: model.max_seq_len
  float lr = 6e-4F;
  float min_lr = 6e-5F;
  int64_t warmup_steps = 100;
  std::string lr_decay = "cosine";  // "cosine" | "linear" | "constant"
  int64_t decay_steps = 0;          // the decay ends here (0: at `steps`)
  float beta1 = 0.9F;
  float beta2 = 0.95F;
  float eps = 1e-8F;
  float weight_decay = 0.1F;
  bool decay_embeddings = true;
  float grad_clip = 1.0F;  // clip the global gradient norm to this (0: no clipping)
  uint64_t seed = 1234;
  std::string on_nonfinite = "stop";  // NaN/Inf loss or gradient norm: "stop" | "skip" the step
  int threads = 0;                    // OpenMP threads (0: all cores)
  std::string device = "auto";        // "auto" (cuda when a GPU is visible, else cpu) | "cpu" | "cuda"
  std::string recompute = "none";     // activations recomputed in backward: "none" | "selective" | "full"
  std::string attention = "flash";    // "flash" (in tiles: no (B, NH, T, T) in memory) | "materialized" | "cudnn"
  std::string dtype = "fp32";         // matrix products: "fp32" | "bf16" (bf16 operands, fp32 accumulation and masters)
};

struct ParallelConfig {
  int tp = 1;
  int pp = 1;
  int dp = 0;                        // 0: world size / (tp * pp)
  int virtual_stages = 1;            // v: model chunks per pipeline rank (v > 1: interleaved 1F1B)
  std::vector<int> pp_layers;        // layers of each pipeline stage (pp * v of them; empty: an even split)
  std::string pp_schedule = "1f1b";  // "1f1b" (interleaved when v > 1) | "afab": all forwards, then all backwards
  bool sequence_parallel = false;    // norms and the residual stream split along the sequence across tp
  bool zero1 = false;                // ZeRO-1: the optimizer state sharded over dp
  bool overlap_grad_reduce = true;   // data-parallel reduction of gradient buckets overlapped with backward
  double bucket_mb = 25;             // size of a gradient bucket, MiB
  double timeout_s = 600;            // watchdog: no progress for this long (or 20 median steps) ends the job (0: off)
};

struct CheckpointConfig {
  std::string dir;              // the run's checkpoints: DIR/step-NNNNNNNN/ and DIR/latest ("" = not saved)
  int64_t interval = 0;         // also save every N steps (0: only at the end, and on SIGTERM/SIGUSR1)
  int64_t keep = 0;             // keep the newest K checkpoints (0: all)
  std::string resume = "auto";  // "auto": from DIR/latest when there is one | "never" | a checkpoint's path
  bool force = false;     // train into a DIR that holds checkpoints of another run, or of this one with resume "never"
  bool async = false;     // write checkpoints on a background thread while training goes on
  std::string init_from;  // a new run starts from this checkpoint's weights (when DIR holds none to resume)
  bool init_optimizer = false;     // ... and from its AdamW moments (default: a fresh optimizer)
  bool override_schedule = false;  // resume with a learning-rate schedule other than the checkpoint's
};

struct LogConfig {
  int64_t interval = 1;   // a log line every N steps
  std::string metrics;    // JSON-lines metrics file ("" = none)
  double peak_flops = 0;  // MFU denominator in FLOP/s (0: measure this machine's sgemm rate at start-up)
};

struct EvalConfig {
  int64_t interval = 0;  // validation loss every N steps (0: only at the end)
  int batches = 0;       // global batches of the validation split per evaluation (0: all of it)
};

struct RunConfig {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  ParallelConfig parallel;
  CheckpointConfig checkpoint;
  LogConfig log;
  EvalConfig eval;
  std::string source;  // the config file, or "defaults"
};

// Loads a config file (a path, or the name of a preset in configs/), applies the overrides ("section.key=value",
// value parsed as TOML, else taken as a string) and checks every key. Throws tessera::Error naming the key.
RunConfig load_run_config(const std::string& config, const std::vector<std::string>& overrides);
// Parses config text (as stored in a model file) the same way.
RunConfig parse_run_config(const std::string& toml_text, const std::string& source,
                           const std::vector<std::string>& overrides);
// The resolved config as TOML (every key, defaults included): printed at start-up and stored with the model.
std::string to_toml(const RunConfig& config);

// The learning-rate schedule of [train] (the decay ends at train.decay_steps, or at train.steps when it is 0).
LrSchedule lr_schedule(const TrainConfig& train);

// configs/NAME.toml for a preset name; throws tessera::Error listing the presets if there is none.
std::string preset_path(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace tessera
