// Where a run starts: from scratch, or from a checkpoint (checkpoint.resume), decided before anything is allocated.
#pragma once

#include <string>

#include "config/run_config.hpp"
#include "io/checkpoint/manifest.hpp"

namespace tessera {

struct ResumeChoice {
  std::string checkpoint;  // the checkpoint directory to resume from ("" : a fresh start)
  std::string init_from;   // or, for a fresh start, the checkpoint whose weights it begins with ("" : none)
  std::string note;        // for the log: why a checkpoint was passed over, how the schedule changes ("": nothing)
};

// checkpoint.resume = "auto": checkpoint.dir's latest checkpoint, if it holds one; "never": none; else that path.
// A checkpoint of another model (any [model] key) or of other training data (`data`: the run's, as the trainer
// describes it), and a checkpoint.dir that holds checkpoints under "never", are refused with the difference named,
// unless checkpoint.force (then "auto" and "never" start from scratch beside the old checkpoints, and a path given is
// resumed anyway). A checkpoint whose learning-rate schedule differs from the config's is refused naming the key and
// both values, unless checkpoint.override_schedule (then the note says how the schedule changes). Reads the manifest
// and config only; config.model must be finalised. Without a checkpoint to resume, checkpoint.init_from names the
// checkpoint a new run starts from: the same model (every [model] key) and tokenizer, or an error naming the
// difference. Throws tessera::Error.
ResumeChoice choose_resume(const RunConfig& config, const TokenizerInfo& tokenizer, const DataIdentity& data);

// The first [model] key whose value differs between two configs, as "model.KEY = A here, B in WHERE"; "" if none.
std::string model_difference(const ModelConfig& here, const ModelConfig& there, const std::string& where);

// How the learning-rate schedule of `here` differs from that of `there` (lr, min_lr, warmup_steps, lr_decay and
// where the decay ends: train.decay_steps, or train.steps when it is 0), as "train.KEY = A here, B in WHERE" clauses
// joined by "; "; "" if the two schedules are the same.
std::string schedule_difference(const TrainConfig& here, const TrainConfig& there, const std::string& where);

}  // namespace tessera
