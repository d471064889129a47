// Tokenizers: GPT-2 BPE against ids from Hugging Face tokenizers and tiktoken (tests/data/gpt2_expected.json),
// round trips, the tinyshakespeare token count, UTF-8 replacement.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "io/tokenizer.hpp"
#include "io/utf8.hpp"
#include "random_text.hpp"
#include "temp_dir.hpp"

namespace tessera {
namespace {

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const Tokenizer& gpt2() {
  static const std::unique_ptr<Tokenizer> tok = make_tokenizer("gpt2", "");
  return *tok;
}

TEST(Gpt2Tokenizer, MatchesReferenceImplementations) {
  const auto expected = nlohmann::json::parse(read(std::string(TESSERA_SOURCE_DIR) + "/tests/data/gpt2_expected.json"));
  ASSERT_GE(expected["cases"].size(), 10U);
  for (const auto& c : expected["cases"]) {
    const std::string text = c["text"];
    const auto ids = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(gpt2().encode(text), ids) << text;
    EXPECT_EQ(gpt2().decode(ids), text);
  }
}

TEST(Gpt2Tokenizer, SpecialIds) {
  EXPECT_EQ(gpt2().eot_id(), 50256);
  EXPECT_EQ(gpt2().mask_id(), 50257);
  EXPECT_EQ(gpt2().vocab_size(), 50259);
  EXPECT_EQ(gpt2().regular_vocab_size(), 50256);
  EXPECT_EQ(gpt2().decode(std::vector<int32_t>{50256, 50257, 50258}), "<|endoftext|><|mask|><|pad|>");
}

TEST(Gpt2Tokenizer, TinyShakespeareHas338025Tokens) {
  const std::string text = read(std::string(TESSERA_SOURCE_DIR) + "/data/tinyshakespeare.txt");
  ASSERT_EQ(text.size(), 1115394U);
  const std::vector<int32_t> ids = gpt2().encode(text);
  EXPECT_EQ(ids.size(), 338025U);
  EXPECT_EQ(gpt2().decode(ids), text);
}

TEST(Gpt2Tokenizer, RoundTripsArbitraryValidUtf8) {
  Rng rng(5, 0);
  for (int trial = 0; trial < 200; ++trial) {
    const std::string text = testing::random_utf8(rng, 40);
    EXPECT_EQ(gpt2().decode(gpt2().encode(text)), text);
  }
}

TEST(Gpt2Tokenizer, MissingOrBrokenFilesAreClearErrors) {
  try {
    make_tokenizer("gpt2", "/nonexistent/dir");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/encoder.json"), std::string::npos);
  }
  const testing::TempDir dir;
  std::ofstream(dir / "encoder.json") << "{ not json";
  std::ofstream(dir / "vocab.bpe") << "#version: 0.2\n";
  EXPECT_THROW(make_tokenizer("gpt2", dir.path().string()), Error);
  EXPECT_THROW(make_tokenizer("wordpiece", ""), Error);
  EXPECT_THROW(gpt2().encode(std::string("bad \xff byte")), Error);
}

TEST(ByteTokenizer, RoundTripsBytes) {
  auto tok = make_tokenizer("byte", "");
  const std::string text = "any bytes \x01\x7f\xc3\xa9";
  const std::vector<int32_t> ids = tok->encode(text);
  EXPECT_EQ(ids.size(), text.size());
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_EQ(tok->vocab_size(), 259);
  EXPECT_EQ(tok->decode(std::vector<int32_t>{104, 256, 257, 258}), "h<|endoftext|><|mask|><|pad|>");
}

TEST(Utf8, ReplacesAndCountsInvalidSequences) {
  int64_t replaced = 0;
  EXPECT_EQ(sanitize_utf8("ok \xff\xfe end", &replaced), "ok \xEF\xBF\xBD\xEF\xBF\xBD end");
  EXPECT_EQ(replaced, 2);
  replaced = 0;
  // a truncated 3-byte sequence is one replacement; an overlong encoding and a surrogate are invalid
  EXPECT_EQ(sanitize_utf8("\xe2\x82", &replaced), "\xEF\xBF\xBD");
  EXPECT_EQ(replaced, 1);
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xf0\x9f\x8e\x89"));
}

}  // namespace
}  // namespace tessera
