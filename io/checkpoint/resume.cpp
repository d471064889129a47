#include "io/checkpoint/resume.hpp"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "core/check.hpp"
#include "io/checkpoint/reader.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {
// "key = value" lines of one section of a config written by to_toml.
std::vector<std::string> section_lines(const std::string& toml, const std::string& section) {
  std::vector<std::string> out;
  std::istringstream in(toml);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("["))
      inside = line == "[" + section + "]";
    else if (inside && line.find(" = ") != std::string::npos)
      out.push_back(line);
  }
  return out;
}

std::string data_difference(const DataIdentity& here, const DataIdentity& there, const std::string& where) {
  if (here.tokenizer_hash != there.tokenizer_hash)
    return fmt::format("the dataset's tokenizer (hash {}) is not the one of {} (hash {})", here.tokenizer_hash, where,
                       there.tokenizer_hash);
  if (here.train_tokens != there.train_tokens || here.train_documents != there.train_documents)
    return fmt::format("the training data ({} tokens, {} documents) is not that of {} ({} tokens, {} documents)",
                       here.train_tokens, here.train_documents, where, there.train_tokens, there.train_documents);
  return "";
}
}  // namespace

std::string model_difference(const ModelConfig& here, const ModelConfig& there, const std::string& where) {
  RunConfig a, b;
  a.model = here;
  b.model = there;
  const std::vector<std::string> x = section_lines(to_toml(a), "model"), y = section_lines(to_toml(b), "model");
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
    if (x[i] != y[i]) return fmt::format("model.{} here, {} in {}", x[i], y[i].substr(y[i].find(" = ") + 3), where);
  return "";
}

std::string schedule_difference(const TrainConfig& here, const TrainConfig& there, const std::string& where) {
  std::vector<std::string> out;
  auto differs = [&](const char* key, const auto& a, const auto& b) {
    if (a != b) out.push_back(fmt::format("train.{} = {} here, {} in {}", key, a, b, where));
  };
  differs("lr", here.lr, there.lr);
  differs("min_lr", here.min_lr, there.min_lr);
  differs("warmup_steps", here.warmup_steps, there.warmup_steps);
  differs("lr_decay", here.lr_decay, there.lr_decay);
  const int64_t end_here = lr_schedule(here).total_steps, end_there = lr_schedule(there).total_steps;
  if (end_here != end_there) {
    if (here.decay_steps == 0 && there.decay_steps == 0)
      out.push_back(
          fmt::format("train.steps = {} here, {} in {} (the decay ends at train.steps: train.decay_steps = 0)",
                      here.steps, there.steps, where));
    else
      out.push_back(
          fmt::format("the decay ends at step {} here, at step {} in {} (train.decay_steps = {} here, {} there)",
                      end_here, end_there, where, here.decay_steps, there.decay_steps));
  }
  std::string joined;
  for (const std::string& clause : out) joined += (joined.empty() ? "" : "; ") + clause;
  return joined;
}

namespace {
// A resume must follow the learning-rate schedule of its checkpoint (Megatron's default): a run of 20 steps resumed
// with --steps 40 would otherwise jump to another cosine at step 21. checkpoint.override_schedule lets it, and the
// returned note says how the schedule changes ("" when it does not).
std::string check_schedule(const RunConfig& cfg, const CheckpointReader& reader) {
  const TrainConfig& stored = reader.config().train;
  const std::string why = schedule_difference(cfg.train, stored, reader.dir());
  if (why.empty()) return "";
  if (!cfg.checkpoint.override_schedule)
    TESSERA_RAISE(
        "{}: resuming would change the learning-rate schedule: {}; resume with the checkpoint's schedule, or pass "
        "--set checkpoint.override_schedule=true to change it (to extend a run later, set train.decay_steps from its "
        "start)",
        reader.dir(), why);
  const int64_t next = reader.manifest().step;  // 0-based index of the first step to run
  return fmt::format(
      "checkpoint.override_schedule: the learning-rate schedule changes from step {}: {}; its learning rate is {:.4g} "
      "(the checkpoint's schedule: {:.4g})",
      next + 1, why, lr_schedule(cfg.train).at(next), lr_schedule(stored).at(next));
}

// checkpoint.resume: the checkpoint to resume from, if any.
ResumeChoice choose_checkpoint(const RunConfig& cfg, const DataIdentity& here) {
  const CheckpointConfig& ck = cfg.checkpoint;
  ResumeChoice choice;
  std::optional<std::string> existing;
  if (!ck.dir.empty() && fs::is_directory(ck.dir)) existing = latest_checkpoint(ck.dir);
  if (ck.resume == "never") {
    if (existing && !ck.force)
      TESSERA_RAISE(
          "checkpoint.dir {} holds checkpoints of a run ({}); checkpoint.resume = \"never\" would write over them: "
          "resume it (checkpoint.resume = \"auto\"), choose another --checkpoint-dir, or pass --force",
          ck.dir, fs::path(*existing).filename().string());
    if (existing) choice.note = fmt::format("--force: training from scratch beside the checkpoints in {}", ck.dir);
    return choice;
  }
  const bool explicit_path = ck.resume != "auto";
  const std::string path = explicit_path ? resolve_checkpoint(ck.resume) : existing.value_or("");
  if (path.empty()) return choice;
  const CheckpointReader reader(path);
  const std::string model_why = model_difference(cfg.model, reader.config().model, reader.dir());
  const std::string why = model_why.empty() ? data_difference(here, reader.manifest().data, reader.dir()) : model_why;
  if (why.empty() || (explicit_path && ck.force && model_why.empty())) {
    choice.checkpoint = reader.dir();
    choice.note = check_schedule(cfg, reader);
    return choice;
  }
  if (explicit_path)
    TESSERA_RAISE("{}: cannot resume from it: {}{}", reader.dir(), why,
                  model_why.empty() ? " (--force resumes anyway; --init-from starts a new run from its weights)" : "");
  if (!ck.force)
    TESSERA_RAISE(
        "checkpoint.dir {} holds a checkpoint of another run: {}; choose another --checkpoint-dir, or pass --force to "
        "train from scratch beside it",
        ck.dir, why);
  choice.note = fmt::format("--force: training from scratch beside {} ({})", reader.dir(), why);
  return choice;
}

// checkpoint.init_from for a run that resumes nothing: the same model and tokenizer.
ResumeChoice choose_init(const RunConfig& cfg, const TokenizerInfo& tokenizer, ResumeChoice choice) {
  if (cfg.checkpoint.init_from.empty()) return choice;
  const std::unique_ptr<WeightSource> source = open_weights(cfg.checkpoint.init_from);
  const WeightSource& reader = *source;
  const std::string model_why = model_difference(cfg.model, reader.config().model, reader.dir());
  if (!model_why.empty()) {
    const fs::path config = fs::path(reader.dir()) / kConfigName;
    TESSERA_RAISE("checkpoint.init_from {}: another model: {} ({})", reader.dir(), model_why,
                  fs::exists(config) ? fmt::format("-c {} takes its model", config.string())
                                     : "`tessera convert` it to a checkpoint, whose config.toml -c takes");
  }
  if (reader.manifest().tokenizer.hash != tokenizer.hash ||
      reader.manifest().tokenizer.vocab_size != tokenizer.vocab_size)
    TESSERA_RAISE(
        "checkpoint.init_from {}: trained with tokenizer {} (vocabulary {}, hash {}), the data is tokenized with {} "
        "(vocabulary {}, hash {})",
        reader.dir(), reader.manifest().tokenizer.name, reader.manifest().tokenizer.vocab_size,
        reader.manifest().tokenizer.hash, tokenizer.name, tokenizer.vocab_size, tokenizer.hash);
  if (cfg.checkpoint.init_optimizer && !reader.manifest().optimizer_state)
    TESSERA_RAISE("checkpoint.init_from {}: holds no optimizer state (checkpoint.init_optimizer = true)", reader.dir());
  choice.init_from = reader.dir();
  return choice;
}
}  // namespace

ResumeChoice choose_resume(const RunConfig& cfg, const TokenizerInfo& tokenizer, const DataIdentity& data) {
  ResumeChoice choice = choose_checkpoint(cfg, data);
  return choice.checkpoint.empty() ? choose_init(cfg, tokenizer, choice) : choice;
}

}  // namespace tessera
