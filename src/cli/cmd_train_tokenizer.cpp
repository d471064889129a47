// tessera train-tokenizer: text files -> a SentencePiece model (BPE or unigram) for prepare --tokenizer sentencepiece.
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "io/sentencepiece_tokenizer.hpp"

namespace tessera::cli {

void add_train_tokenizer(CLI::App& app, const MpiRuntime& mpi) {
  auto o = std::make_shared<SentencePieceTrainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "train-tokenizer", "Train a SentencePiece tokenizer (BPE or unigram) on text files: OUTPUT/tokenizer.model");
  cmd->add_option("inputs", o->inputs, "Text files (plain, .gz or .zst), or directories of them")
      ->required()
      ->default_str("");
  cmd->add_option("--jsonl-key", o->jsonl_key, "Inputs are JSON lines: one document per line, the text under KEY");
  cmd->add_option("-o,--output", o->output, "Directory for tokenizer.model and tokenizer.vocab")->required();
  cmd->add_option("--model-type", o->model_type, "bpe or unigram")->check(CLI::IsMember({"bpe", "unigram"}));
  cmd->add_option("--vocab-size", o->vocab_size, "Pieces, special and byte pieces included")->check(whole_at_least(1));
  cmd->add_option("--max-sentences", o->max_sentences, "Lines sampled for training (0 = all)");
  cmd->add_option("--character-coverage", o->character_coverage, "Share of characters the pieces cover")
      ->check(CLI::Range(0.9, 1.0));
  cmd->add_option("--threads", o->threads, "Training threads (0 = all cores)")->check(non_negative_finite());
  cmd->add_option("--seed", o->seed, "Seed of the sentence sample and of SentencePiece");
  cmd->add_flag("--force", o->force, "Replace an existing tokenizer.model");
  cmd->callback([o, &mpi] {
    if (mpi.rank() != 0) return;  // one process trains; other ranks of an mpirun have nothing to do
    const SentencePieceTrainSummary s = train_sentencepiece(*o);
    fmt::print("trained {} (SentencePiece {}, {} pieces) on {} lines of {} bytes in {:.1f} s\n", s.model_path,
               o->model_type, s.vocab_size, s.sentences, s.bytes, s.seconds);
  });
}

}  // namespace tessera::cli
