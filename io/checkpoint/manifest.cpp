#include "io/checkpoint/manifest.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "io/json_fields.hpp"
#include "io/read_file.hpp"

namespace tessera {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr int64_t kMaxRanks = 1 << 20;           // per dimension of the layout
constexpr int64_t kMaxCount = int64_t{1} << 60;  // steps, samples, tokens, bytes

// A plain file name: what a manifest may name inside its checkpoint.
bool plain_name(const std::string& name) {
  return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
         name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

std::string plain_name_of(const json& v, const JsonFields& f, const std::string& key) {
  if (!v.is_string() || !plain_name(v.get<std::string>()))
    TESSERA_RAISE("{}: {} holds {}, not a plain file name", f.source(), f.where(key), v.dump());
  return v.get<std::string>();
}
}  // namespace

std::string manifest_to_json(const CheckpointManifest& m) {
  json files = json::array();
  for (const CheckpointFile& f : m.files) files.push_back({{"name", f.name}, {"bytes", f.bytes}});
  const TokenizerInfo& t = m.tokenizer;
  json j = {{"format", kCheckpointFormat},
            {"format_version", kCheckpointFormatVersion},
            {"step", m.step},
            {"consumed_samples", m.consumed_samples},
            {"tokens", m.tokens},
            {"seed", m.seed},
            {"optimizer", {{"name", "adamw"}, {"steps", m.optimizer_steps}, {"state", m.optimizer_state}}},
            {"skipped_steps", m.skipped_steps},
            {"layout",
             {{"tp", m.layout.tp},
              {"pp", m.layout.pp},
              {"dp", m.layout.dp},
              {"virtual_stages", m.layout.virtual_stages},
              {"chunk_layers", m.layout.chunk_layers},
              {"zero1", m.layout.zero1}}},
            {"tokenizer",
             {{"name", t.name},
              {"hash", t.hash},
              {"vocab_size", t.vocab_size},
              {"regular_vocab_size", t.regular_vocab_size},
              {"eot_id", t.eot_id},
              {"mask_id", t.mask_id},
              {"pad_id", t.pad_id},
              {"files", m.tokenizer_files}}},
            {"data",
             {{"tokenizer_hash", m.data.tokenizer_hash},
              {"train_tokens", m.data.train_tokens},
              {"train_documents", m.data.train_documents}}},
            {"files", files},
            {"created", m.created},
            {"writer", m.writer}};
  return j.dump(2) + "\n";
}

CheckpointManifest parse_manifest(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    TESSERA_RAISE("{}: not valid JSON ({})", source, e.what());
  }
  const JsonFields root(j, source);
  if (root.string("format") != kCheckpointFormat)
    TESSERA_RAISE("{}: not a tessera checkpoint manifest (format {})", source, root.get("format").dump());
  const int64_t version = root.integer("format_version", 0, kMaxCount);
  if (version != kCheckpointFormatVersion)
    TESSERA_RAISE("{}: checkpoint format version {} is not supported (this tessera reads version {})", source, version,
                  kCheckpointFormatVersion);
  CheckpointManifest m;
  m.step = root.integer("step", 0, kMaxCount);
  m.consumed_samples = root.integer("consumed_samples", 0, kMaxCount);
  m.tokens = root.integer("tokens", 0, kMaxCount);
  m.seed = root.unsigned_integer("seed");
  m.skipped_steps = root.integer("skipped_steps", 0, m.step);
  const JsonFields opt = root.object("optimizer");
  if (opt.string("name") != "adamw") TESSERA_RAISE("{}: optimizer.name must be \"adamw\"", source);
  m.optimizer_steps = opt.integer("steps", 0, kMaxCount);
  m.optimizer_state = opt.boolean("state");

  const JsonFields lay = root.object("layout");
  m.layout.tp = static_cast<int>(lay.integer("tp", 1, kMaxRanks));
  m.layout.pp = static_cast<int>(lay.integer("pp", 1, kMaxRanks));
  m.layout.dp = static_cast<int>(lay.integer("dp", 1, kMaxRanks));
  m.layout.virtual_stages = static_cast<int>(lay.integer("virtual_stages", 1, kMaxRanks));
  m.layout.zero1 = lay.boolean("zero1");
  const int64_t chunks = int64_t{m.layout.pp} * m.layout.virtual_stages;
  if (chunks > kMaxRanks) TESSERA_RAISE("{}: layout.pp * layout.virtual_stages = {} is too large", source, chunks);
  const json& layers = lay.array("chunk_layers", static_cast<size_t>(chunks));
  if (static_cast<int64_t>(layers.size()) != chunks)
    TESSERA_RAISE("{}: layout.chunk_layers has {} entries, layout.pp * layout.virtual_stages = {}", source,
                  layers.size(), chunks);
  for (const json& n : layers) {
    if (!n.is_number_integer() || n.get<int64_t>() < 1 || n.get<int64_t>() > kMaxRanks)
      TESSERA_RAISE("{}: layout.chunk_layers holds {}, not a layer count", source, n.dump());
    m.layout.chunk_layers.push_back(n.get<int>());
  }

  const JsonFields tok = root.object("tokenizer");
  m.tokenizer.name = tok.string("name");
  m.tokenizer.hash = tok.string("hash");
  m.tokenizer.vocab_size = tok.integer("vocab_size", 1, int64_t{1} << 31);
  m.tokenizer.regular_vocab_size = tok.integer("regular_vocab_size", 0, m.tokenizer.vocab_size);
  m.tokenizer.eot_id = tok.integer("eot_id", -1, m.tokenizer.vocab_size - 1);
  m.tokenizer.mask_id = tok.integer("mask_id", -1, m.tokenizer.vocab_size - 1);
  m.tokenizer.pad_id = tok.integer("pad_id", -1, m.tokenizer.vocab_size - 1);
  for (const json& name : tok.array("files", 64)) m.tokenizer_files.push_back(plain_name_of(name, tok, "files"));

  const JsonFields data = root.object("data");
  m.data.tokenizer_hash = data.string("tokenizer_hash");
  m.data.train_tokens = data.integer("train_tokens", 0, kMaxCount);
  m.data.train_documents = data.integer("train_documents", 0, kMaxCount);

  const int64_t max_files = int64_t{m.layout.tp} * m.layout.pp * (m.layout.dp + 1);
  const json& files = root.array("files", static_cast<size_t>(std::min<int64_t>(max_files, kMaxRanks)));
  for (const json& f : files) {
    const JsonFields entry(f, source, "files[]");
    CheckpointFile file;
    file.name = plain_name_of(entry.get("name"), entry, "name");
    file.bytes = entry.integer("bytes", 0, kMaxCount);
    m.files.push_back(file);
  }
  m.created = root.string("created");
  m.writer = root.string("writer");
  return m;
}

std::string step_dir_name(int64_t step) {
  return fmt::format("step-{:08d}", step);
}

std::string shard_file_name(int tp_rank, int pp_rank) {
  return fmt::format("shard-tp{:02d}-pp{:02d}.h5", tp_rank, pp_rank);
}

std::string optimizer_file_name(int tp_rank, int pp_rank, int dp_rank) {
  return fmt::format("optim-tp{:02d}-pp{:02d}-dp{:03d}.h5", tp_rank, pp_rank, dp_rank);
}

bool is_checkpoint_dir(const std::string& dir) {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir) / kManifestName, ec);
}

namespace {
// The step of a "step-NNNNNNNN" name, or -1.
int64_t step_of(const std::string& name) {
  if (name.size() < 6 || !name.starts_with("step-") || name.size() > 5 + 18) return -1;
  int64_t step = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    step = step * 10 + (name[i] - '0');
  }
  return step;
}
}  // namespace

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(run_dir, ec)) {
    const int64_t step = step_of(e.path().filename().string());
    if (step >= 0 && is_checkpoint_dir(e.path().string())) out.emplace_back(step, e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  const fs::path latest = fs::path(run_dir) / kLatestName;
  std::error_code ec;
  if (!fs::exists(latest, ec)) {
    const auto all = list_checkpoints(run_dir);
    if (all.empty()) return std::nullopt;
    return all.back().second;
  }
  std::string name = read_small_file(latest.string(), 4096, "checkpoint pointer");
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r' || name.back() == ' ')) name.pop_back();
  if (step_of(name) < 0)
    TESSERA_RAISE("{}: holds \"{}\", not the name of a checkpoint directory (step-NNNNNNNN)", latest.string(),
                  name.substr(0, 80));
  const fs::path dir = fs::path(run_dir) / name;
  if (!is_checkpoint_dir(dir.string()))
    TESSERA_RAISE("{}: names {}, which is not a complete checkpoint (no {} in it)", latest.string(), dir.string(),
                  kManifestName);
  return dir.string();
}

std::string resolve_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) TESSERA_RAISE("{}: no such file or directory", path);
  if (!fs::is_directory(path, ec))
    TESSERA_RAISE("{}: not a checkpoint (a run directory, a step-NNNNNNNN directory or a Hugging Face directory)",
                  path);
  if (is_checkpoint_dir(path)) return path;
  if (std::optional<std::string> latest = latest_checkpoint(path)) return *latest;
  TESSERA_RAISE("{}: holds no checkpoint (no {}, no step-NNNNNNNN/ with a {})", path, kLatestName, kManifestName);
}

}  // namespace tessera
