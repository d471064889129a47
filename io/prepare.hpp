// `tessera prepare`: plain text -> tokenized HDF5 dataset (train and validation splits).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/tokenizer.hpp"
#include "parallel/process_group.hpp"

namespace tessera {

struct PrepareOptions {
  std::vector<std::string> inputs;  // files (plain, .gz or .zst), or directories searched recursively (sorted)
  std::string jsonl_key;            // non-empty: inputs are JSON lines, one document per line under this key
  std::string jsonl_prompt;         // non-empty: fine-tuning pairs, the prompt under this key and the response under
                                    // jsonl_key; the loss mask covers the response (and its end-of-text) only
  std::string output;               // dataset directory
  std::string tokenizer = "gpt2";
  std::string tokenizer_files;        // directory of the vocabulary files ("" = default)
  std::string doc_boundary = "auto";  // "auto" | "file" | "line" | "blank": where one document ends
  double val_fraction = 0.05;         // fraction of documents held out for validation
  uint64_t seed = 1234;               // which documents are held out
  int64_t shard_tokens = int64_t{1} << 27;
  int64_t batch_bytes = int64_t{64} << 20;  // input slice size: text read and tokenized at a time
  bool force = false;                       // replace an existing output directory
  bool progress = false;                    // a progress line on stderr (rank 0)
};

struct PrepareSummary {
  std::string doc_boundary;                          // the one used ("auto" resolved)
  int64_t files = 0, bytes = 0, replaced_bytes = 0;  // bytes: of text, after decompression (JSON lines: the texts)
  int64_t documents = 0, tokens = 0;
  int64_t train_documents = 0, val_documents = 0, train_tokens = 0, val_tokens = 0;
  int train_shards = 0, val_shards = 0;
  double seconds = 0;
};

// What prepare checks before it reads any text: the options, the output (absent, or --force), the tokenizer's
// files and the inputs; "auto" boundaries resolved. No communication, the same answer on every rank (the CLI
// reports a failure once per job). Throws tessera::Error naming the problem.
struct PrepareInputs {
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<std::string> files;  // inputs, directories expanded
  std::string doc_boundary;        // "file", "line", "blank" or "jsonl"
};
PrepareInputs check_prepare_inputs(const PrepareOptions& options);

// Builds the dataset in a temporary directory next to the output and renames it into place when complete, so an
// interrupted run leaves nothing that looks like a dataset. Throws tessera::Error on bad input (missing or empty
// file, unknown tokenizer, existing output without force).
// The inputs are cut into slices of about batch_bytes (at document starts; compressed files whole), and a slice
// is read, tokenized on all threads and written before the next: memory stays at a few times batch_bytes.
// Collective over `group`: rank r reads and tokenizes slices r, r + size, ... and leaves them in the temporary
// directory (which must be on a filesystem every rank sees); rank 0 then writes them in order. Which documents go to
// validation is drawn per document from (seed, file, byte offset), so the dataset is the same for any number of
// ranks, threads and any slice size. The summary is complete on rank 0.
PrepareSummary prepare_dataset(const PrepareOptions& options, const ProcessGroup& group);
// On this process alone (no MPI needed).
PrepareSummary prepare_dataset(const PrepareOptions& options);

}  // namespace tessera
