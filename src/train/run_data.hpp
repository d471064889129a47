// The datasets of a run: data.path, or data.paths blended by data.weights, opened and checked against each other
// and against the tokenizer the run expects.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "io/blended_sampler.hpp"
#include "io/checkpoint/manifest.hpp"
#include "io/token_dataset.hpp"

namespace tessera {

struct RunData {
  std::vector<std::string> paths;
  std::vector<double> weights;                            // normalised, one per path
  std::vector<std::unique_ptr<TokenDataset>> train, val;  // val: empty unless every dataset has a val split
  TokenizerInfo tokenizer;

  std::vector<const TokenDataset*> train_sets() const;
  std::vector<const TokenDataset*> val_sets() const;
  int64_t train_tokens() const;
  int64_t val_tokens() const;
  // "a" or "0.7 a + 0.3 b", for the log
  std::string describe() const;
  // What a checkpoint records of the training data (tokenizer, tokens, documents), so that a resume on other data
  // is refused: the same for the saves and for the resume's check.
  DataIdentity identity() const;
};

// Throws tessera::Error for no dataset, both data.path and data.paths, weights that do not match the paths,
// datasets made with different tokenizers, or a tokenizer other than data.tokenizer.
RunData open_run_data(const DataConfig& data);

}  // namespace tessera
