// Resharding and consolidation: a checkpoint written again at another (tp, pp) layout, in one process.
#pragma once

#include <string>

#include "io/checkpoint/weight_source.hpp"

namespace tessera {

struct ReshardOptions {
  int tp = 1;  // tp = pp = 1: the consolidated, single-rank checkpoint
  int pp = 1;
  bool weights_only = false;  // leave AdamW's moments out
  bool progress = false;      // a progress line on stderr
};

// Writes the model `reader` holds (a checkpoint, or a Hugging Face model: imported) into the run directory out_run
// (out_run/step-N/, out_run/latest) at options.tp x options.pp, the moments (if kept) whole in each shard: training
// resumes from it at that layout (or any other). The step, data position, tokenizer and config carry over (the config's
// parallel.tp and parallel.pp set to the new layout). One shard in memory at a time. Returns the new checkpoint's
// directory. Throws tessera::Error for a layout the model cannot be split by.
std::string reshard_checkpoint(const WeightSource& reader, const std::string& out_run, const ReshardOptions& options);

}  // namespace tessera
