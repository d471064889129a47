// tessera prepare: text files -> tokenized HDF5 dataset.
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/readable.hpp"
#include "io/prepare.hpp"
#include "io/tokenizer.hpp"
#include "train/compute_threads.hpp"
#include "train/run_plan.hpp"

namespace tessera::cli {

void add_prepare(CLI::App& app, const MpiRuntime& mpi) {
  auto o = std::make_shared<PrepareOptions>();
  CLI::App* cmd = app.add_subcommand("prepare",
                                     "Tokenize text files into an HDF5 dataset (train and val splits); under mpirun "
                                     "each rank takes slices of the inputs");
  cmd->add_option("inputs", o->inputs, "Text files (plain, .gz or .zst), or directories of them")
      ->required()
      ->default_str("");
  cmd->add_option("--jsonl-key", o->jsonl_key, "Inputs are JSON lines: one document per line, the text under KEY");
  cmd->add_option("--jsonl-prompt", o->jsonl_prompt,
                  "Fine-tuning pairs: the prompt under KEY (with --jsonl-response); the loss mask keeps the loss on "
                  "the response tokens");
  cmd->add_option("--jsonl-response", o->jsonl_key, "Fine-tuning pairs: the response under KEY (with --jsonl-prompt)");
  cmd->add_option("-o,--output", o->output, "Dataset directory to create")->required();
  cmd->add_option("--tokenizer", o->tokenizer, "gpt2 (byte-level BPE), sentencepiece or byte")
      ->check(CLI::IsMember(tokenizer_names()));
  cmd->add_option("--tokenizer-files", o->tokenizer_files,
                  "gpt2: directory with encoder.json and vocab.bpe (default: the bundled GPT-2 vocabulary); "
                  "sentencepiece: a .model file or a directory with tokenizer.model (tessera train-tokenizer)");
  cmd->add_option("--doc-boundary", o->doc_boundary,
                  "Where a document ends: file, line, blank (blank lines), or auto: file for several files, for one "
                  "file blank if it has blank lines, else line")
      ->check(CLI::IsMember({"auto", "file", "line", "blank"}));
  cmd->add_option("--val-fraction", o->val_fraction, "Fraction of documents held out for validation");
  cmd->add_option("--seed", o->seed, "Seed of the validation split");
  cmd->add_option("--shard-tokens", o->shard_tokens, "Tokens per shard file")->check(whole_at_least(1));
  cmd->add_flag("--force", o->force, "Replace the output directory if it exists");
  cmd->add_option("--batch-mb", o->batch_bytes, "Input slice size in MB: text read and tokenized at a time")
      ->check(whole_at_least(1))
      ->transform([](const std::string& mb) { return std::to_string(std::stoll(mb) << 20); })
      ->default_str(std::to_string(o->batch_bytes >> 20));
  auto no_progress = std::make_shared<bool>(false);
  cmd->add_flag("--no-progress", *no_progress, "No progress line on stderr");
  auto threads = std::make_shared<int>(0);
  cmd->add_option("--threads", *threads, "Threads per rank (0: the cores, shared among the ranks on a node)")
      ->check(non_negative_finite());
  cmd->callback([o, threads, no_progress, &mpi] {
    o->progress = !*no_progress;
    agree_on_setup(mpi, [&] { check_prepare_inputs(*o); });  // bad options or inputs: once per job, exit 2
    set_compute_threads(*threads);
    const ProcessGroup world = ProcessGroup::borrow(MPI_COMM_WORLD);  // ranks share the documents, rank 0 writes
    const PrepareSummary s = prepare_dataset(*o, world);
    if (mpi.rank() != 0) return;
    const double seconds = std::max(s.seconds, 1e-9);
    fmt::print("prepared {}: {}, {} (boundary: {}), {}, {} bytes of text, {} invalid UTF-8 bytes replaced\n", o->output,
               plural(s.files, "file", "files"), plural(s.documents, "document", "documents"), s.doc_boundary,
               plural(s.tokens, "token", "tokens"), s.bytes, s.replaced_bytes);
    fmt::print("  train: {}, {}, {}\n", plural(s.train_documents, "document", "documents"),
               plural(s.train_tokens, "token", "tokens"), plural(s.train_shards, "shard", "shards"));
    fmt::print("  val:   {}, {}, {}\n", plural(s.val_documents, "document", "documents"),
               plural(s.val_tokens, "token", "tokens"), plural(s.val_shards, "shard", "shards"));
    fmt::print("  {:.2f} bytes per token | {:.1f} s on {} | {:.2f} MB/s | {:.0f} tokens/s\n",
               s.tokens > 0 ? static_cast<double>(s.bytes) / static_cast<double>(s.tokens) : 0.0, s.seconds,
               plural(mpi.size(), "rank", "ranks"), static_cast<double>(s.bytes) / 1e6 / seconds,
               static_cast<double>(s.tokens) / seconds);
  });
}

}  // namespace tessera::cli
