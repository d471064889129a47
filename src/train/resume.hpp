// Where a run starts: from scratch, or from a checkpoint (checkpoint.resume), decided before anything is allocated.
#pragma once

#include <string>

#include "config/run_config.hpp"
#include "train/run_data.hpp"

namespace tessera {

struct ResumeChoice {
  std::string checkpoint;  // the checkpoint directory to resume from ("" : a fresh start)
  std::string init_from;   // or, for a fresh start, the checkpoint whose weights it begins with ("" : none)
  std::string note;        // for the log: why a checkpoint was passed over ("" : nothing to say)
};

// checkpoint.resume = "auto": checkpoint.dir's latest checkpoint, if it holds one; "never": none; else that path.
// A checkpoint of another model (any [model] key) or of other training data, and a checkpoint.dir that holds
// checkpoints under "never", are refused with the difference named, unless checkpoint.force (then "auto" and
// "never" start from scratch beside the old checkpoints, and a path given is resumed anyway). Reads the manifest and
// config only; config.model must be finalised. Without a checkpoint to resume, checkpoint.init_from names the
// checkpoint a new run starts from: the same model (every [model] key) and tokenizer, or an error naming the
// difference. Throws tessera::Error.
ResumeChoice choose_resume(const RunConfig& config, const RunData& data);

// The first [model] key whose value differs between two configs, as "model.KEY = A here, B in WHERE"; "" if none.
std::string model_difference(const ModelConfig& here, const ModelConfig& there, const std::string& where);

// Keeps the lines of a JSON-lines metrics file whose step is at most `step` (a resumed run appends after them, so a
// crash after the checkpoint leaves no step twice, and a line cut short by a kill is dropped). Atomic; nothing
// happens if the file does not exist.
void truncate_metrics(const std::string& path, int64_t step);

}  // namespace tessera
