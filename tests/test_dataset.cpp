// tessera prepare and the HDF5 dataset: contents, attributes, sampling, and bad input that loses nothing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "io/hdf5_file.hpp"
#include "io/prepare.hpp"
#include "io/sampler.hpp"
#include "io/token_dataset.hpp"
#include "temp_dir.hpp"
#include "train/batch.hpp"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::string write_corpus(const TempDir& dir, int paragraphs) {
  const std::string path = dir / "corpus.txt";
  std::ofstream out(path);
  for (int i = 0; i < paragraphs; ++i) out << "Paragraph " << i << " says hello.\nSecond line " << i << ".\n\n";
  return path;
}

PrepareOptions byte_options(const std::string& input, const std::string& output) {
  PrepareOptions o;
  o.inputs = {input};
  o.output = output;
  o.tokenizer = "byte";
  o.doc_boundary = "blank";
  o.val_fraction = 0.1;
  return o;
}

TEST(Prepare, WritesBothSplitsWithTokenizerAttributes) {
  TempDir dir;
  const PrepareSummary s = prepare_dataset(byte_options(write_corpus(dir, 200), dir / "ds"));
  EXPECT_EQ(s.train_documents + s.val_documents, 200);
  EXPECT_GT(s.val_documents, 5);
  EXPECT_LT(s.val_documents, 40);
  TokenDataset train(dir / "ds", "train"), val(dir / "ds", "val");
  EXPECT_EQ(train.tokenizer().name, "byte");
  EXPECT_EQ(train.tokenizer().eot_id, 256);
  EXPECT_EQ(train.tokens(), s.train_tokens);
  EXPECT_EQ(val.documents(), s.val_documents);
  // every document ends with end-of-text; the bytes in between are the text
  std::vector<int32_t> head(30);
  train.read(0, 0, 30, head.data());
  std::string text;
  for (int32_t t : head) text.push_back(static_cast<char>(t));
  EXPECT_TRUE(text.starts_with("Paragraph ")) << text;
  // uint16 storage for a small vocabulary
  h5::File f(train.path(0), h5::Mode::kRead);
  EXPECT_EQ(f.element_size("/tokens"), 2U);
  EXPECT_EQ(f.read<uint64_t>("/doc_offsets").back(), static_cast<uint64_t>(train.tokens()));
}

TEST(Prepare, ShardsSplitAtDocuments) {
  TempDir dir;
  PrepareOptions o = byte_options(write_corpus(dir, 100), dir / "ds");
  o.shard_tokens = 500;
  const PrepareSummary s = prepare_dataset(o);
  EXPECT_GT(s.train_shards, 3);
  TokenDataset train(dir / "ds", "train");
  EXPECT_EQ(train.shards(), s.train_shards);
  for (int i = 0; i < train.shards(); ++i) {
    EXPECT_LE(train.shard_tokens(i), 500);
    std::vector<int32_t> last(1);
    train.read(i, train.shard_tokens(i) - 1, 1, last.data());
    EXPECT_EQ(last[0], 256) << "shard " << i << " does not end at a document boundary";
  }
}

TEST(Prepare, BadInputIsAClearErrorAndLosesNothing) {
  TempDir dir;
  const std::string corpus = write_corpus(dir, 50);
  prepare_dataset(byte_options(corpus, dir / "ds"));
  const auto before = fs::last_write_time(dir / "ds/train-00000.h5");
  // existing output without --force
  EXPECT_THROW(prepare_dataset(byte_options(corpus, dir / "ds")), Error);
  // a failing run with --force leaves the old dataset as it was
  std::ofstream(dir / "empty.txt").close();
  PrepareOptions bad = byte_options(dir / "empty.txt", dir / "ds");
  bad.force = true;
  try {
    prepare_dataset(bad);
    FAIL() << "an empty file must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("empty.txt: empty file"), std::string::npos);
  }
  EXPECT_EQ(fs::last_write_time(dir / "ds/train-00000.h5"), before);
  EXPECT_NO_THROW(TokenDataset(dir / "ds", "train"));
  bad.inputs = {dir / "missing.txt"};
  EXPECT_THROW(prepare_dataset(bad), Error);
  // nothing half-written stays behind
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
}

TEST(Prepare, InvalidUtf8IsReplacedAndCounted) {
  TempDir dir;
  std::ofstream(dir / "bad.txt") << "good text\n\nbad \xff\xfe text\n\nmore good text\n";
  PrepareOptions o = byte_options(dir / "bad.txt", dir / "ds");
  o.val_fraction = 0;
  EXPECT_EQ(prepare_dataset(o).replaced_bytes, 2);
}

// All tokens of a split, in order.
std::vector<int32_t> all_tokens(const std::string& dir, const std::string& split) {
  TokenDataset d(dir, split);
  std::vector<int32_t> out;
  for (int s = 0; s < d.shards(); ++s) {
    std::vector<int32_t> part(static_cast<size_t>(d.shard_tokens(s)));
    d.read(s, 0, d.shard_tokens(s), part.data());
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

TEST(Prepare, GzipAndZstdInputsGiveTheSameDataset) {
  TempDir dir;
  const std::string corpus = write_corpus(dir, 120);
  ASSERT_EQ(std::system(("gzip -k " + corpus + " && zstd -q -k " + corpus).c_str()), 0);
  prepare_dataset(byte_options(corpus, dir / "plain"));
  prepare_dataset(byte_options(corpus + ".gz", dir / "gz"));
  prepare_dataset(byte_options(corpus + ".zst", dir / "zst"));
  for (const char* split : {"train", "val"}) {
    EXPECT_EQ(all_tokens(dir / "gz", split), all_tokens(dir / "plain", split)) << split;
    EXPECT_EQ(all_tokens(dir / "zst", split), all_tokens(dir / "plain", split)) << split;
  }
  // a corrupt compressed file is an error that names it
  std::ofstream(dir / "bad.txt.gz") << "not gzip at all, but long enough to be read as a stream of bytes";
  std::ofstream(dir / "bad.txt.zst") << "not zstd";
  for (const char* bad : {"bad.txt.gz", "bad.txt.zst"}) {
    try {
      prepare_dataset(byte_options(dir / bad, dir / "bad"));
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(Prepare, JsonLinesGiveOneDocumentPerRecord) {
  TempDir dir;
  std::ofstream(dir / "docs.jsonl") << R"({"text": "first document", "id": 1})"
                                    << "\n\n"
                                    << R"({"id": 2, "text": "second\nwith a newline"})"
                                    << "\n"
                                    << R"({"text": "third"})"
                                    << "\n";
  PrepareOptions o = byte_options(dir / "docs.jsonl", dir / "ds");
  o.jsonl_key = "text";
  o.val_fraction = 0;
  const PrepareSummary s = prepare_dataset(o);
  EXPECT_EQ(s.train_documents, 3);
  const std::vector<int32_t> t = all_tokens(dir / "ds", "train");
  std::string text;
  for (int32_t id : t) text += id == 256 ? std::string("|") : std::string(1, static_cast<char>(id));
  EXPECT_EQ(text, "first document|second\nwith a newline|third|");
  std::ofstream(dir / "broken.jsonl") << R"({"text": "ok"})"
                                      << "\n"
                                      << R"({"body": "no text key"})"
                                      << "\n";
  o.inputs = {dir / "broken.jsonl"};
  o.output = dir / "ds2";
  try {
    prepare_dataset(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.jsonl:2"), std::string::npos) << e.what();
  }
  // the line number counts from the start of the file, also when the bad line is in a later slice
  {
    std::ofstream late(dir / "late.jsonl");
    for (int i = 0; i < 300; ++i) late << R"({"text": "fine line number )" << i + 1 << "\"}\n";
    late << "{not json\n";
  }
  o.inputs = {dir / "late.jsonl"};
  o.batch_bytes = 500;
  try {
    prepare_dataset(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("late.jsonl:301: not valid JSON: invalid literal"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(o.output));
}

// Every shard of two datasets holds the same tokens and document offsets.
void expect_same_dataset(const std::string& a, const std::string& b) {
  for (const char* split : {"train", "val"}) {
    const std::vector<std::string> pa = shard_paths(a, split), pb = shard_paths(b, split);
    ASSERT_EQ(pa.size(), pb.size()) << split;
    for (size_t i = 0; i < pa.size(); ++i) {
      h5::File fa(pa[i], h5::Mode::kRead), fb(pb[i], h5::Mode::kRead);
      EXPECT_EQ(fa.read<uint16_t>("/tokens"), fb.read<uint16_t>("/tokens")) << pa[i];
      EXPECT_EQ(fa.read<uint64_t>("/doc_offsets"), fb.read<uint64_t>("/doc_offsets")) << pa[i];
    }
  }
}

// Fine-tuning pairs: prompt then response then end-of-text in one document, the loss mask 1 on exactly the response
// and its end-of-text; the sampler reads it beside the tokens and the batch targets only the response.
TEST(Prepare, PromptResponsePairsMaskTheLossToTheResponse) {
  TempDir dir;
  std::ofstream(dir / "pairs.jsonl") << R"({"prompt": "Q: two plus two?", "response": " A: four."})"
                                     << "\n"
                                     << R"({"response": "B", "prompt": "", "x": 1})"
                                     << "\n"
                                     << R"({"prompt": "long prompt", "response": "short"})"
                                     << "\n";
  PrepareOptions o = byte_options(dir / "pairs.jsonl", dir / "ds");
  o.jsonl_key = "response";
  o.jsonl_prompt = "prompt";
  o.val_fraction = 0;
  prepare_dataset(o);
  const TokenDataset d(dir / "ds", "train");
  ASSERT_TRUE(d.has_loss_mask());
  std::vector<int32_t> tokens(static_cast<size_t>(d.tokens()));
  std::vector<uint8_t> mask(tokens.size());
  d.read(0, 0, d.tokens(), tokens.data());
  d.read_mask(0, 0, d.tokens(), mask.data());
  std::string text, masked;
  for (size_t i = 0; i < tokens.size(); ++i) {
    text += tokens[i] == 256 ? std::string("|") : std::string(1, static_cast<char>(tokens[i]));
    masked += mask[i] != 0 ? text.back() : '.';
  }
  EXPECT_EQ(text, "Q: two plus two? A: four.|B|long promptshort|");
  EXPECT_EQ(masked, "................ A: four.|B|...........short|");

  // the sampler reads the mask of the same positions; a causal batch targets the response tokens only
  Sampler sampler(d, 8, 1, false);
  std::vector<int32_t> seq(9), inputs(8), targets(8);
  std::vector<uint8_t> seq_mask(9);
  sampler.read(1, seq.data(), seq_mask.data());  // tokens [8, 17): "plus two? "
  for (int i = 0; i < 9; ++i) EXPECT_EQ(seq_mask[static_cast<size_t>(i)], mask[static_cast<size_t>(8 + i)]) << i;
  const BatchBuilder batches(Objective::kCausal, {}, 1);
  const int64_t targeted = batches.make(seq.data(), 8, 0, inputs.data(), targets.data(), seq_mask.data());
  int64_t expected = 0;
  for (int i = 0; i < 8; ++i) {
    const bool response = seq_mask[static_cast<size_t>(i) + 1] != 0;
    expected += response ? 1 : 0;
    EXPECT_EQ(targets[static_cast<size_t>(i)], response ? seq[static_cast<size_t>(i) + 1] : -1) << i;
  }
  EXPECT_EQ(targeted, expected);
  EXPECT_GT(expected, 0);

  // a pair lacking its prompt is an error naming the line; a prompt key without a response key too
  std::ofstream(dir / "broken.jsonl") << R"({"prompt": "p", "response": "r"})"
                                      << "\n"
                                      << R"({"response": "r"})"
                                      << "\n";
  o.inputs = {dir / "broken.jsonl"};
  o.output = dir / "ds2";
  try {
    prepare_dataset(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.jsonl:2: no string field \"prompt\""), std::string::npos) << e.what();
  }
  o.jsonl_key.clear();
  try {
    check_prepare_inputs(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--jsonl-prompt needs --jsonl-response"), std::string::npos) << e.what();
  }
}

TEST(Prepare, SlicesOfAnySizeGiveTheSameDataset) {
  // prepare reads its inputs in slices cut at document starts; tiny slices must find the same documents
  TempDir dir;
  std::string text, jsonl;
  Rng rng(4, 0);
  for (int i = 0; i < 400; ++i) {
    // some paragraphs hold invalid UTF-8 (replaced by 3-byte U+FFFD: offsets after it move in the sanitized text)
    const std::string bad = i % 4 == 0 ? "\xff\xfe" : i % 9 == 0 ? "\xe2" : "";
    const std::string para = "para " + std::to_string(i) + bad + std::string(rng.below(60), 'x');
    text += para + (i % 3 == 0 ? "\r\n" : "\n") + "second line\n";
    text += i % 5 == 0 ? " \t\r\n\n\n" : "\n";  // blank runs, some of whitespace
    jsonl += R"({"text": ")" + para + R"("})" + (i % 7 == 0 ? "\n\n" : "\n");
  }
  text += "last line without a newline";
  std::ofstream(dir / "in.txt") << text;
  std::ofstream(dir / "in.jsonl") << jsonl;
  for (const std::string mode : {"line", "blank", "file", "jsonl"}) {
    PrepareOptions o = byte_options(dir / (mode == "jsonl" ? "in.jsonl" : "in.txt"), dir / (mode + "-whole"));
    o.doc_boundary = mode == "jsonl" ? "file" : mode;
    if (mode == "jsonl") o.jsonl_key = "text";
    if (mode == "file") o.inputs.push_back(dir / "in.jsonl");  // two files, one document each
    const PrepareSummary whole = prepare_dataset(o);
    for (const int64_t slice : {997, 64, 1}) {
      o.output = dir / (mode + "-" + std::to_string(slice));
      o.batch_bytes = slice;
      const PrepareSummary sliced = prepare_dataset(o);
      EXPECT_EQ(sliced.documents, whole.documents) << mode << " " << slice;
      EXPECT_EQ(sliced.bytes, whole.bytes) << mode << " " << slice;
      EXPECT_EQ(sliced.replaced_bytes, whole.replaced_bytes) << mode << " " << slice;
      expect_same_dataset(dir / (mode + "-whole"), o.output);
    }
    EXPECT_GT(whole.documents, mode == "file" ? 1 : 300) << mode;
    EXPECT_GT(whole.replaced_bytes, 100) << mode;
  }
}

TEST(TokenDataset, ForeignAndTruncatedFilesAreRejected) {
  TempDir dir;
  fs::create_directories(dir / "foreign");
  {
    h5::File f(dir / "foreign/train-00000.h5", h5::Mode::kCreate);
    const std::vector<float> x = {1, 2, 3};
    f.write("/weights", x.data(), {3});
  }
  try {
    TokenDataset d(dir / "foreign", "train");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a tessera token dataset"), std::string::npos);
  }
  prepare_dataset(byte_options(write_corpus(dir, 50), dir / "ds"));
  const std::string shard = dir / "ds/train-00000.h5";
  fs::resize_file(shard, fs::file_size(shard) / 2);
  EXPECT_THROW(TokenDataset(dir / "ds", "train"), Error);
  EXPECT_THROW(TokenDataset(dir / "nowhere", "train"), Error);
}

TEST(Sampler, EpochIsAPermutationAndDeterministic) {
  TempDir dir;
  prepare_dataset(byte_options(write_corpus(dir, 300), dir / "ds"));
  TokenDataset data(dir / "ds", "train");
  Sampler a(data, 16, 7, true), b(data, 16, 7, true), c(data, 16, 8, true);
  const int64_t n = a.samples_per_epoch();
  EXPECT_EQ(n, (data.tokens() - 1) / 16);
  std::set<int64_t> seen;
  std::vector<int32_t> sa(17), sb(17), sc(17);
  bool differs = false, shuffled = false;
  for (int64_t k = 0; k < n; ++k) {
    a.read(k, sa.data());
    b.read(k, sb.data());
    c.read(k, sc.data());
    EXPECT_EQ(sa, sb);
    differs |= a.sequence_of(k) != c.sequence_of(k);
    shuffled |= a.sequence_of(k) != k;
    seen.insert(a.sequence_of(k));
  }
  EXPECT_TRUE(differs) << "another seed must give another order";
  EXPECT_TRUE(shuffled);
  EXPECT_EQ(static_cast<int64_t>(seen.size()), n);  // every sequence once per epoch
  // the next epoch is another permutation of the same sequences
  std::set<int64_t> second;
  bool reordered = false;
  for (int64_t k = n; k < 2 * n; ++k) {
    second.insert(a.sequence_of(k));
    reordered |= a.sequence_of(k) != a.sequence_of(k - n);
  }
  EXPECT_EQ(second, seen);
  EXPECT_TRUE(reordered);
  // and the first epoch again gives the same order (the state is only the sample count)
  EXPECT_EQ(a.sequence_of(3), b.sequence_of(3));
}

TEST(Sampler, TooShortForOneSequence) {
  TempDir dir;
  std::ofstream(dir / "short.txt") << "tiny\n\nstuff\n";
  PrepareOptions o = byte_options(dir / "short.txt", dir / "ds");
  o.val_fraction = 0;
  prepare_dataset(o);
  TokenDataset data(dir / "ds", "train");
  EXPECT_THROW(Sampler(data, 64, 1, true), Error);
}

}  // namespace
}  // namespace tessera
