#include "io/checkpoint/run_dir.hpp"

#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "io/file_sync.hpp"
#include "io/tokenizer.hpp"

namespace tessera {
namespace fs = std::filesystem;

std::string partial_dir(const std::string& run_dir, int64_t step) {
  return (fs::path(run_dir) / fmt::format(".{}.partial", step_dir_name(step))).string();
}

std::string begin_checkpoint(const std::string& run_dir, int64_t step, const std::string& config_toml,
                             const TokenizerInfo& tokenizer) {
  fs::create_directories(run_dir);
  remove_leftovers(run_dir);
  std::string partial = partial_dir(run_dir, step);
  fs::create_directories(partial);
  write_file_atomic((fs::path(partial) / kConfigName).string(), config_toml);
  copy_tokenizer_files(tokenizer, partial);
  return partial;
}

void remove_leftovers(const std::string& run_dir) {
  // listed first, removed after: removing entries while a directory is being read may skip others
  std::vector<fs::path> doomed;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(run_dir, ec)) {
    const std::string name = e.path().filename().string();
    const bool step_dir = name.starts_with(".step-") && (name.ends_with(".partial") || name.ends_with(".deleting") ||
                                                         name.find(".replaced") != std::string::npos);
    const bool pointer = name.starts_with(std::string(kLatestName) + ".tmp-");  // `latest` being replaced
    if (step_dir || pointer) doomed.push_back(e.path());
  }
  for (const fs::path& p : doomed) fs::remove_all(p, ec);
}

std::vector<std::pair<std::string, std::string>> tokenizer_files(const TokenizerInfo& t) {
  if (t.name == "gpt2") {
    const fs::path dir = t.files.empty() ? fs::path(default_gpt2_dir()) : fs::path(t.files);
    if (!fs::exists(dir / "encoder.json") && fs::exists(dir / "vocab.json"))  // Hugging Face's names
      return {{(dir / "vocab.json").string(), "encoder.json"}, {(dir / "merges.txt").string(), "vocab.bpe"}};
    return {{(dir / "encoder.json").string(), "encoder.json"}, {(dir / "vocab.bpe").string(), "vocab.bpe"}};
  }
  if (t.name == "sentencepiece") {
    const fs::path model = fs::is_directory(t.files) ? fs::path(t.files) / "tokenizer.model" : fs::path(t.files);
    return {{model.string(), "tokenizer.model"}};
  }
  return {};
}

void copy_tokenizer_files(const TokenizerInfo& tokenizer, const std::string& dir) {
  const fs::path target = fs::path(dir) / kTokenizerDir;
  fs::create_directories(target);
  for (const auto& [source, name] : tokenizer_files(tokenizer))
    fs::copy_file(source, target / name, fs::copy_options::overwrite_existing);
}

std::string publish_checkpoint(const std::string& run_dir, const std::string& partial, const CheckpointManifest& m,
                               int64_t keep) {
  const fs::path run(run_dir);
  write_file_atomic((fs::path(partial) / kManifestName).string(), manifest_to_json(m));
  const fs::path final_dir = run / step_dir_name(m.step);
  const fs::path replaced = run / fmt::format(".{}.replaced-{}", step_dir_name(m.step), getpid());
  if (fs::exists(final_dir)) fs::rename(final_dir, replaced);  // the same step saved again (a forced rerun)
  fs::rename(partial, final_dir);
  sync_path(run.string());
  write_file_atomic((run / kLatestName).string(), step_dir_name(m.step) + "\n");
  fs::remove_all(replaced);
  if (keep > 0) {
    const auto all = list_checkpoints(run.string());
    const auto excess = static_cast<int64_t>(all.size()) - keep;
    for (int64_t i = 0; i < excess; ++i) {
      const auto& [step, dir] = all[static_cast<size_t>(i)];
      if (step == m.step) continue;
      // renamed first, so that a kill in the middle leaves no half-deleted step-N/ (the next save removes it)
      const fs::path doomed = run / fmt::format(".{}.deleting", step_dir_name(step));
      fs::rename(dir, doomed);
      fs::remove_all(doomed);
    }
  }
  return final_dir.string();
}

}  // namespace tessera
