// `tessera prepare`: plain text -> tokenized HDF5 dataset (train and validation splits).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "parallel/process_group.hpp"

namespace tessera {

struct PrepareOptions {
  std::vector<std::string> inputs;  // files (plain, .gz or .zst), or directories searched recursively (sorted)
  std::string jsonl_key;            // non-empty: inputs are JSON lines, one document per line under this key
  std::string output;               // dataset directory
  std::string tokenizer = "gpt2";
  std::string tokenizer_files;        // directory of the vocabulary files ("" = default)
  std::string doc_boundary = "file";  // "file" | "line" | "blank": where one document ends
  double val_fraction = 0.05;         // fraction of documents held out for validation
  uint64_t seed = 1234;               // which documents are held out
  int64_t shard_tokens = int64_t{1} << 27;
  int64_t batch_bytes = int64_t{64} << 20;  // text tokenized at a time (memory: about 3 times this, plus one file)
  bool force = false;                       // replace an existing output directory
  bool progress = false;                    // a progress line on stderr (rank 0)
};

struct PrepareSummary {
  int64_t files = 0, bytes = 0, replaced_bytes = 0;  // bytes: of text, after decompression
  int64_t documents = 0, tokens = 0;
  int64_t train_documents = 0, val_documents = 0, train_tokens = 0, val_tokens = 0;
  int train_shards = 0, val_shards = 0;
  double seconds = 0;
};

// Builds the dataset in a temporary directory next to the output and renames it into place when complete, so an
// interrupted run leaves nothing that looks like a dataset. Throws tessera::Error on bad input (missing or empty
// file, unknown tokenizer, existing output without force).
// Streams: one input file and one batch of documents (batch_bytes of text) in memory at a time.
// Collective over `group`: of every batch, rank r tokenizes documents r, r + size, ... on its threads; rank 0
// gathers them in document order and writes, so the output is the same for any number of ranks and threads. Every
// rank reads every input (documents are found by reading). The summary is complete on rank 0.
PrepareSummary prepare_dataset(const PrepareOptions& options, const ProcessGroup& group);
// On this process alone (no MPI needed).
PrepareSummary prepare_dataset(const PrepareOptions& options);

}  // namespace tessera
