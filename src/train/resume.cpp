#include "train/resume.hpp"

#include <filesystem>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "io/checkpoint_manifest.hpp"
#include "io/file_sync.hpp"
#include "io/read_file.hpp"
#include "train/checkpoint_reader.hpp"

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

namespace {
// checkpoint.resume: the checkpoint to resume from, if any.
ResumeChoice choose_checkpoint(const RunConfig& cfg, const RunData& data) {
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
  DataIdentity here;
  here.tokenizer_hash = data.tokenizer.hash;
  here.train_tokens = data.train_tokens();
  for (const TokenDataset* d : data.train_sets()) here.train_documents += d->documents();
  const std::string model_why = model_difference(cfg.model, reader.config().model, reader.dir());
  const std::string why = model_why.empty() ? data_difference(here, reader.manifest().data, reader.dir()) : model_why;
  if (why.empty() || (explicit_path && ck.force && model_why.empty())) {
    choice.checkpoint = reader.dir();
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
ResumeChoice choose_init(const RunConfig& cfg, const RunData& data, ResumeChoice choice) {
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
  if (reader.manifest().tokenizer.hash != data.tokenizer.hash ||
      reader.manifest().tokenizer.vocab_size != data.tokenizer.vocab_size)
    TESSERA_RAISE(
        "checkpoint.init_from {}: trained with tokenizer {} (vocabulary {}, hash {}), the data is tokenized with {} "
        "(vocabulary {}, hash {})",
        reader.dir(), reader.manifest().tokenizer.name, reader.manifest().tokenizer.vocab_size,
        reader.manifest().tokenizer.hash, data.tokenizer.name, data.tokenizer.vocab_size, data.tokenizer.hash);
  if (cfg.checkpoint.init_optimizer && !reader.manifest().optimizer_state)
    TESSERA_RAISE("checkpoint.init_from {}: holds no optimizer state (checkpoint.init_optimizer = true)", reader.dir());
  choice.init_from = reader.dir();
  return choice;
}
}  // namespace

ResumeChoice choose_resume(const RunConfig& cfg, const RunData& data) {
  ResumeChoice choice = choose_checkpoint(cfg, data);
  return choice.checkpoint.empty() ? choose_init(cfg, data, choice) : choice;
}

void truncate_metrics(const std::string& path, int64_t step) {
  if (path.empty() || !fs::exists(path)) return;
  // a copy being written when a run was killed
  const fs::path file(path);
  std::error_code ec;
  std::vector<fs::path> doomed;  // listed first, removed after (see remove_leftovers)
  for (const fs::directory_entry& e : fs::directory_iterator(file.has_parent_path() ? file.parent_path() : ".", ec))
    if (e.path().filename().string().starts_with(file.filename().string() + ".tmp-")) doomed.push_back(e.path());
  for (const fs::path& p : doomed) fs::remove(p, ec);
  std::istringstream in(read_file(path));
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    // a line cut short by a kill is dropped with the steps after the checkpoint
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer() || j["step"].get<int64_t>() > step)
      continue;
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

}  // namespace tessera
