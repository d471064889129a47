#include "cli/model_loader.hpp"

#include <filesystem>

#include "core/check.hpp"

namespace tessera::cli {

LoadedModel load_trained_model(const std::string& path, int max_batch) {
  std::string file = path;
  if (std::filesystem::is_directory(path)) file = (std::filesystem::path(path) / "model.h5").string();
  LoadedModel out;
  out.meta = read_model_meta(file);
  out.config = parse_run_config(out.meta.config_toml, file + " (stored config)", {});
  out.model = std::make_unique<Transformer<float>>(out.config.model, max_batch);
  load_model(file, out.model->table(), out.model->params());
  return out;
}

std::unique_ptr<Tokenizer> load_model_tokenizer(const ModelFileMeta& meta, const std::string& files_override) {
  std::unique_ptr<Tokenizer> tok =
      make_tokenizer(meta.tokenizer.name, files_override.empty() ? meta.tokenizer.files : files_override);
  if (tok->hash() != meta.tokenizer.hash)
    TESSERA_RAISE("tokenizer {}: its files hash to {}, but the model was trained with {} (pass --tokenizer-files)",
                  meta.tokenizer.name, tok->hash(), meta.tokenizer.hash);
  return tok;
}

}  // namespace tessera::cli
