#include "io/sentencepiece_tokenizer.hpp"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "io/read_file.hpp"
#include "io/text_source.hpp"
#include "io/utf8.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {
// SentencePiece's message, with its source location dropped and its option names as tessera's flags.
std::string in_our_words(std::string message) {
  if (message.starts_with("./src/") || message.starts_with("src/")) {  // "./src/x.cc(580) [condition] Reason."
    const size_t bracket = message.find("] ");
    if (bracket != std::string::npos) message = message.substr(bracket + 2);
  }
  for (const auto& [theirs, ours] : {std::pair<std::string, std::string>{"with --character_coverage option", ""},
                                     {"character_coverage", "--character-coverage"},
                                     {"vocab_size", "--vocab-size"}}) {
    for (size_t at = message.find(theirs); at != std::string::npos; at = message.find(theirs, at + ours.size()))
      message.replace(at, theirs.size(), ours);
  }
  std::replace(message.begin(), message.end(), '\n', ' ');
  while (!message.empty() && (message.back() == ' ' || message.back() == '.')) message.pop_back();
  return message;
}
}  // namespace

namespace {

constexpr const char* kMaskPiece = "<|mask|>";

std::string model_path_of(const std::string& path) {
  if (path.empty())
    TESSERA_RAISE(
        "sentencepiece tokenizer: no model given (--tokenizer-files: a .model file or a directory with "
        "tokenizer.model; make one with tessera train-tokenizer)");
  const fs::path p = fs::is_directory(path) ? fs::path(path) / "tokenizer.model" : fs::path(path);
  if (!fs::is_regular_file(p)) TESSERA_RAISE("{}: no such SentencePiece model file", p.string());
  return fs::absolute(p).lexically_normal().string();
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()), path_(model_path_of(path)) {
  const std::string bytes = read_file(path_);
  hash_ = fmt::format("{:016x}", stream_id(bytes));
  const auto status = sp_->LoadFromSerializedProto(bytes);
  if (!status.ok()) TESSERA_RAISE("{}: not a SentencePiece model ({})", path_, status.ToString());
  pieces_ = sp_->GetPieceSize();
  int next = pieces_;  // specials the model lacks are appended
  eot_ = sp_->eos_id() >= 0 ? sp_->eos_id() : next++;
  const int mask = sp_->PieceToId(kMaskPiece);
  mask_ = mask != sp_->unk_id() ? mask : next++;
  pad_ = sp_->pad_id() >= 0 ? sp_->pad_id() : next++;
  vocab_size_ = next;
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

void SentencePieceTokenizer::encode(std::string_view text, std::vector<int32_t>& out) const {
  if (!is_valid_utf8(text)) TESSERA_RAISE("SentencePiece tokenizer: input is not valid UTF-8");
  std::vector<int> ids;
  const auto status = sp_->Encode(text, &ids);
  if (!status.ok()) TESSERA_RAISE("{}: encoding failed ({})", path_, status.ToString());
  out.insert(out.end(), ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  std::vector<int> run;  // ordinary pieces, decoded together so that byte pieces join into characters
  auto flush = [&] {
    if (run.empty()) return;
    std::string text;
    const auto status = sp_->Decode(run, &text);
    if (!status.ok()) TESSERA_RAISE("{}: decoding failed ({})", path_, status.ToString());
    out += text;
    run.clear();
  };
  for (int32_t id : ids) {
    const std::string_view special = special_text(id);
    if (!special.empty() || id < 0 || id >= pieces_) {
      flush();
      out += special;
    } else {
      run.push_back(id);
    }
  }
  flush();
  return out;
}

namespace {

// The sampled lines of the training text, for SentencePiece's trainer.
class LineIterator final : public sentencepiece::SentenceIterator {
 public:
  explicit LineIterator(std::vector<std::string> lines) : lines_(std::move(lines)) {}
  bool done() const override { return i_ >= lines_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return lines_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::vector<std::string> lines_;
  size_t i_ = 0;
};

void write_atomically(const fs::path& path, const std::string& bytes) {
  const fs::path tmp = path.string() + ".partial-" + std::to_string(getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!bytes.empty()) f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) TESSERA_RAISE("{}: cannot write", tmp.string());
  }
  fs::rename(tmp, path);
}

}  // namespace

SentencePieceTrainSummary train_sentencepiece(const SentencePieceTrainOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  if (opt.output.empty()) TESSERA_RAISE("train-tokenizer: no output directory (--output)");
  if (opt.model_type != "bpe" && opt.model_type != "unigram")
    TESSERA_RAISE("train-tokenizer: unknown model type \"{}\" (expected bpe or unigram)", opt.model_type);
  const fs::path model = fs::path(opt.output) / "tokenizer.model";
  if (fs::exists(model) && !opt.force) TESSERA_RAISE("{}: already exists (pass --force to replace it)", model.string());

  SentencePieceTrainSummary sum;
  // a seeded uniform sample of max_sentences lines (reservoir sampling): memory holds the sample and one file
  std::vector<std::string> lines;
  Rng rng(opt.seed, 0x5350ULL);
  int64_t seen = 0;
  auto offer = [&](std::string line) {
    if (opt.max_sentences <= 0 || seen < opt.max_sentences) {
      lines.push_back(std::move(line));
    } else if (const auto j = rng.below(static_cast<uint64_t>(seen) + 1);
               j < static_cast<uint64_t>(opt.max_sentences)) {
      lines[j] = std::move(line);
    }
    ++seen;
  };
  for (const std::string& f : list_input_files(opt.inputs)) {
    const std::string raw = read_input(f);
    if (raw.empty()) TESSERA_RAISE("{}: empty file", f);
    sum.bytes += static_cast<int64_t>(raw.size());
    const std::string text = sanitize_utf8(raw, nullptr);
    std::vector<Document> docs;
    if (opt.jsonl_key.empty()) {
      docs.push_back({text, 0, {}});
    } else {
      docs = jsonl_documents(text, opt.jsonl_key, f);
    }
    for (const Document& d : docs) {
      for (Document& line : split_documents(d.text, "line")) {
        line.text.pop_back();  // the newline
        offer(std::move(line.text));
      }
    }
  }
  if (lines.empty()) TESSERA_RAISE("train-tokenizer: the inputs hold no text");
  sum.sentences = static_cast<int64_t>(lines.size());

  const int threads =
      opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  const std::unordered_map<std::string, std::string> args{
      {"model_type", opt.model_type},
      {"vocab_size", std::to_string(opt.vocab_size)},
      {"character_coverage", fmt::format("{}", opt.character_coverage)},
      {"normalization_rule_name", "identity"},
      {"add_dummy_prefix", "false"},
      {"remove_extra_whitespaces", "false"},
      {"allow_whitespace_only_pieces", "true"},
      {"split_digits", "true"},
      {"byte_fallback", "true"},
      {"unk_id", "0"},
      {"eos_id", "1"},
      {"eos_piece", "<|endoftext|>"},
      {"pad_id", "2"},
      {"pad_piece", "<|pad|>"},
      {"bos_id", "-1"},
      {"control_symbols", kMaskPiece},
      {"num_threads", std::to_string(threads)},
      {"max_sentence_length", "16384"},
      {"minloglevel", "1"},
  };
  sentencepiece::SetRandomGeneratorSeed(static_cast<unsigned>(opt.seed % 0xFFFFFFFFULL));
  LineIterator it(std::move(lines));
  std::string serialized;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &serialized);
  if (!status.ok()) TESSERA_RAISE("train-tokenizer: SentencePiece failed: {}", in_our_words(status.message()));

  sentencepiece::SentencePieceProcessor sp;
  if (!sp.LoadFromSerializedProto(serialized).ok()) TESSERA_RAISE("train-tokenizer: SentencePiece wrote no model");
  std::string vocab;
  for (int i = 0; i < sp.GetPieceSize(); ++i) vocab += fmt::format("{}\t{}\n", sp.IdToPiece(i), sp.GetScore(i));
  fs::create_directories(opt.output);
  write_atomically(fs::path(opt.output) / "tokenizer.vocab", vocab);
  write_atomically(model, serialized);
  sum.vocab_size = sp.GetPieceSize();
  sum.model_path = fs::absolute(model).lexically_normal().string();
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return sum;
}

}  // namespace tessera
