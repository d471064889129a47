// SentencePiece through libsentencepiece: train BPE and unigram models on tinyshakespeare, then encode/decode with
// them; the special ids; bad model files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "io/read_file.hpp"
#include "io/sentencepiece_tokenizer.hpp"
#include "random_text.hpp"
#include "temp_dir.hpp"

namespace tessera {
namespace {

const std::string kShakespeare = std::string(TESSERA_SOURCE_DIR) + "/data/tinyshakespeare.txt";

SentencePieceTrainSummary train(const std::string& dir, const std::string& type, int vocab) {
  SentencePieceTrainOptions o;
  o.inputs = {kShakespeare};
  o.output = dir;
  o.model_type = type;
  o.vocab_size = vocab;
  o.max_sentences = 12000;
  return train_sentencepiece(o);
}

class SentencePieceModels : public ::testing::TestWithParam<std::string> {};

TEST_P(SentencePieceModels, TrainEncodeDecode) {
  const testing::TempDir dir;
  const SentencePieceTrainSummary s = train(dir / "sp", GetParam(), 800);
  EXPECT_EQ(s.vocab_size, 800);
  EXPECT_EQ(s.sentences, 12000);  // max_sentences of the 32,777 lines
  const auto tok = make_tokenizer("sentencepiece", dir / "sp");
  EXPECT_EQ(tok->name(), "sentencepiece");
  EXPECT_EQ(tok->files(), std::filesystem::absolute(dir / "sp/tokenizer.model").string());
  EXPECT_EQ(tok->vocab_size(), 800);
  EXPECT_EQ(tok->eot_id(), 1);
  EXPECT_EQ(tok->pad_id(), 2);
  EXPECT_EQ(tok->mask_id(), 3);
  EXPECT_EQ(tok->decode(std::vector<int32_t>{1, 3, 2}), "<|endoftext|><|mask|><|pad|>");

  // it learned the corpus: well under one token per two bytes of Shakespeare, every id a piece
  const std::string text = read_file(kShakespeare).substr(0, 200000);
  const std::vector<int32_t> ids = tok->encode(text);
  EXPECT_LT(static_cast<double>(ids.size()), 0.5 * static_cast<double>(text.size()));
  for (int32_t id : ids) ASSERT_TRUE(id > 3 && id < 800) << id;
  EXPECT_EQ(tok->decode(ids), text);

  // lossless on any text: unseen characters fall back to bytes, whitespace runs and CRLF are kept
  for (const std::string t : {"  two  spaces\tand\ttabs\r\nCRLF\n\n\n", "日本語 🎉👍🏽 Ελληνικά",
                              "digits 1234567890", "<|endoftext|> is text", " leading space", ""}) {
    const std::vector<int32_t> t_ids = tok->encode(t);
    EXPECT_EQ(tok->decode(t_ids), t);
    for (int32_t id : t_ids) EXPECT_NE(id, tok->eot_id()) << t;
  }
  Rng rng(9, 0);
  for (int trial = 0; trial < 100; ++trial) {
    const std::string t = testing::random_utf8(rng, 30);
    EXPECT_EQ(tok->decode(tok->encode(t)), t);
  }
}

INSTANTIATE_TEST_SUITE_P(BpeAndUnigram, SentencePieceModels, ::testing::Values("bpe", "unigram"));

TEST(SentencePiece, ModelsHashApartAndTrainingIsDeterministic) {
  const testing::TempDir dir;
  train(dir / "a", "bpe", 600);
  train(dir / "b", "bpe", 600);
  train(dir / "c", "unigram", 600);
  const auto a = make_tokenizer("sentencepiece", dir / "a/tokenizer.model");
  EXPECT_EQ(a->hash(), make_tokenizer("sentencepiece", dir / "b")->hash());
  EXPECT_NE(a->hash(), make_tokenizer("sentencepiece", dir / "c")->hash());
}

TEST(SentencePiece, BadModelsAndInputsAreClearErrors) {
  const testing::TempDir dir;
  auto message = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { make_tokenizer("sentencepiece", ""); }).find("no model given"), std::string::npos);
  EXPECT_NE(message([&] { make_tokenizer("sentencepiece", dir / "missing.model"); }).find("no such"),
            std::string::npos);
  std::ofstream(dir / "junk.model") << "this is not a protobuf";
  EXPECT_NE(message([&] { make_tokenizer("sentencepiece", dir / "junk.model"); }).find("not a SentencePiece model"),
            std::string::npos);
  // a vocabulary too small for the byte pieces: SentencePiece's reason, and no model written
  EXPECT_NE(message([&] { train(dir / "small", "bpe", 100); }).find("SentencePiece failed"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "small/tokenizer.model"));
  // an existing model is kept unless forced
  train(dir / "keep", "bpe", 600);
  const std::string before = read_file(dir / "keep/tokenizer.model");
  EXPECT_NE(message([&] { train(dir / "keep", "unigram", 600); }).find("already exists"), std::string::npos);
  EXPECT_EQ(read_file(dir / "keep/tokenizer.model"), before);
}

}  // namespace
}  // namespace tessera
