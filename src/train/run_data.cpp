#include "train/run_data.hpp"

#include <fmt/format.h>

#include "core/check.hpp"

namespace tessera {

std::vector<const TokenDataset*> RunData::train_sets() const {
  std::vector<const TokenDataset*> out;
  for (const auto& d : train) out.push_back(d.get());
  return out;
}

std::vector<const TokenDataset*> RunData::val_sets() const {
  std::vector<const TokenDataset*> out;
  for (const auto& d : val) out.push_back(d.get());
  return out;
}

int64_t RunData::train_tokens() const {
  int64_t n = 0;
  for (const auto& d : train) n += d->tokens();
  return n;
}

int64_t RunData::val_tokens() const {
  int64_t n = 0;
  for (const auto& d : val) n += d->tokens();
  return n;
}

std::string RunData::describe() const {
  if (paths.size() == 1) return paths[0];
  std::string s;
  for (size_t i = 0; i < paths.size(); ++i) s += fmt::format("{}{:.3g} {}", i == 0 ? "" : " + ", weights[i], paths[i]);
  return s;
}

RunData open_run_data(const DataConfig& cfg) {
  RunData r;
  if (!cfg.path.empty() && !cfg.paths.empty())
    TESSERA_RAISE("data: give data.path (one dataset) or data.paths (a blend), not both");
  r.paths = cfg.paths.empty() ? std::vector<std::string>{cfg.path} : cfg.paths;
  if (r.paths.size() == 1 && r.paths[0].empty()) TESSERA_RAISE("data.path: no dataset given (--data DIR)");
  if (!cfg.weights.empty() && cfg.weights.size() != r.paths.size())
    TESSERA_RAISE("data.weights: {} weights for {} datasets in data.paths", cfg.weights.size(), r.paths.size());

  const int64_t cache_tokens = int64_t{cfg.cache_mb} * (1 << 20) / 4;
  bool all_val = true;
  for (const std::string& p : r.paths) {
    r.train.push_back(std::make_unique<TokenDataset>(p, "train", cache_tokens));
    all_val = all_val && !shard_paths(p, "val").empty();
    const TokenizerInfo& t = r.train.back()->tokenizer();
    if (r.train.size() == 1) {
      r.tokenizer = t;
    } else if (!same_tokenizer(t, r.tokenizer)) {
      TESSERA_RAISE("{}: made with tokenizer {}, but {} was made with {}; a blend needs one tokenizer", p, describe(t),
                    r.paths[0], describe(r.tokenizer));
    }
  }
  if (!cfg.tokenizer.empty() && cfg.tokenizer != r.tokenizer.name)
    TESSERA_RAISE("{}: made with tokenizer {}, but this run expects data.tokenizer = \"{}\"", r.paths[0],
                  r.tokenizer.name, cfg.tokenizer);
  for (size_t i = 0; i < r.paths.size(); ++i) {
    if (r.train[i]->tokens() == 0) TESSERA_RAISE("{}: the train split holds no tokens", r.paths[i]);
  }
  if (all_val) {
    for (const std::string& p : r.paths) {
      r.val.push_back(std::make_unique<TokenDataset>(p, "val", cache_tokens));
      const TokenizerInfo& t = r.val.back()->tokenizer();
      if (!same_tokenizer(t, r.tokenizer))
        TESSERA_RAISE("{}: its val split was made with tokenizer {}, its train split with {}", p, describe(t),
                      describe(r.tokenizer));
    }
  }

  r.weights = cfg.weights;
  if (r.weights.empty()) {  // natural mixture: by size
    for (const auto& d : r.train) r.weights.push_back(static_cast<double>(d->tokens()));
  }
  double total = 0;
  for (double w : r.weights) {
    if (!(w > 0)) TESSERA_RAISE("data.weights: every weight must be positive, got {}", w);
    total += w;
  }
  for (double& w : r.weights) w /= total;
  return r;
}

DataIdentity RunData::identity() const {
  DataIdentity id;
  id.tokenizer_hash = tokenizer.hash;
  id.train_tokens = train_tokens();
  for (const TokenDataset* d : train_sets()) id.train_documents += d->documents();
  return id;
}

}  // namespace tessera
