// Checkpoint files: the manifest and the HDF5 shards round-trip exactly; damage and nonsense are refused, naming the
// file and the tensor.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "io/checkpoint/manifest.hpp"
#include "io/checkpoint/shard_file.hpp"
#include "model/transformer.hpp"
#include "temp_dir.hpp"

namespace tessera {
namespace {

using testing::TempDir;

ModelConfig tiny(int layers) {
  ModelConfig m;
  m.vocab_size = 300;
  m.max_seq_len = 8;
  m.n_layer = layers;
  m.n_head = 2;
  m.d_model = 8;
  m.finalize();
  return m;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

CheckpointManifest sample_manifest() {
  CheckpointManifest m;
  m.step = 120;
  m.consumed_samples = 3840;
  m.tokens = 3840 * 64;
  m.seed = 18446744073709551557ULL;  // a seed above INT64_MAX survives
  m.optimizer_steps = 119;
  m.skipped_steps = 1;
  m.layout = {2, 2, 2, 1, {3, 1}, true};
  m.tokenizer.name = "gpt2";
  m.tokenizer.hash = "abc";
  m.tokenizer.vocab_size = 50259;
  m.tokenizer.regular_vocab_size = 50257;
  m.tokenizer.eot_id = 50256;
  m.tokenizer.mask_id = 50257;
  m.tokenizer.pad_id = 50258;
  m.tokenizer_files = {"encoder.json", "vocab.bpe"};
  m.data = {"abc", 338025, 7};
  m.files = {{"shard-tp00-pp00.h5", 1000}, {"optim-tp00-pp00-dp000.h5", 10}};
  m.created = "2026-11-28T00:00:00Z";
  m.writer = "tessera test";
  return m;
}

TEST(CheckpointManifest, RoundTripsAndRefusesNonsense) {
  const CheckpointManifest m = sample_manifest();
  const CheckpointManifest back = parse_manifest(manifest_to_json(m), "m.json");
  EXPECT_EQ(manifest_to_json(back), manifest_to_json(m));
  EXPECT_EQ(back.seed, m.seed);
  EXPECT_EQ(back.layout.chunk_layers, (std::vector<int>{3, 1}));

  // one field changed at a time
  auto with = [&](const std::function<void(nlohmann::json&)>& change) {
    nlohmann::json j = nlohmann::json::parse(manifest_to_json(m));
    change(j);
    return error_of([&] { parse_manifest(j.dump(), "m.json"); });
  };
  EXPECT_NE(with([](auto& j) { j["step"] = -1; }).find("m.json: field step = -1 is outside"), std::string::npos);
  EXPECT_NE(with([](auto& j) { j["step"] = "120"; }).find("field step is not an integer"), std::string::npos);
  EXPECT_NE(with([](auto& j) { j.erase("step"); }).find("field step is missing"), std::string::npos);
  EXPECT_NE(with([](auto& j) { j["layout"]["tp"] = 0; }).find("layout.tp = 0"), std::string::npos);
  EXPECT_NE(with([](auto& j) { j["files"][0]["name"] = "../../etc/passwd"; }).find("not a plain file name"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["tokenizer"]["files"][1] = ".."; }).find("not a plain file name"), std::string::npos);
  EXPECT_NE(with([](auto& j) { j["layout"]["chunk_layers"] = {3}; }).find("chunk_layers has 1 entries"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["format_version"] = 9; }).find("version 9 is not supported"), std::string::npos);
  EXPECT_NE(with([](auto& j) { j["tokenizer"]["eot_id"] = 60000; }).find("tokenizer.eot_id = 60000 is outside"),
            std::string::npos);
  EXPECT_NE(with([](auto& j) { j["files"][0]["bytes"] = 1e300; }).find("files[].bytes is not an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_manifest("{\"format\": ", "m.json"); }).find("m.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_manifest("[]", "m.json"); }).find("not a JSON object"), std::string::npos);
}

TEST(CheckpointShard, TensorsRoundTripAndDamageIsNamed) {
  const TempDir dir;
  Transformer<float> model(tiny(2), 1);
  model.init_weights(7);
  const TensorTable& table = model.table();
  const std::string path = dir / "shard.h5";
  {
    ShardFileWriter w(path, {0, 1, 0, 1, 0, 5});
    for (const TensorInfo& t : table.entries()) w.write(StateKind::kParams, t, model.params() + t.offset);
    const TensorInfo& fc = table[table.find("layers.1.mlp.fc.weight")];
    w.write_piece(StateKind::kExpAvg, fc, 0, 10, model.params() + fc.offset);
    w.write_piece(StateKind::kExpAvg, fc, 10, fc.numel - 10, model.params() + fc.offset + 10);
    EXPECT_GT(w.finish(), table.count() * 4);
  }
  const ShardFileReader r(path);
  EXPECT_EQ(r.position().step, 5);
  std::vector<float> back(static_cast<size_t>(table.total()), 0.0F);
  for (const TensorInfo& t : table.entries()) r.read(StateKind::kParams, t, back.data() + t.offset);
  for (const TensorInfo& t : table.entries())
    for (int64_t i = 0; i < t.numel; ++i)
      ASSERT_EQ(back[static_cast<size_t>(t.offset + i)], model.params()[t.offset + i]);
  const TensorInfo& fc = table[table.find("layers.1.mlp.fc.weight")];
  const auto pieces = r.pieces(StateKind::kExpAvg, fc.name);
  ASSERT_EQ(pieces.size(), 2U);
  EXPECT_EQ(pieces.at(10), fc.numel - 10);
  for (const auto& entry : r.verify()) EXPECT_TRUE(entry.checksum_ok) << entry.dataset;

  // a tensor of another shape, or at another place in the global tensor: refused, naming both
  TensorInfo other = fc;
  other.shape[0] += 1;
  other.numel = numel(other.shape);
  std::vector<float> scratch(static_cast<size_t>(other.numel));
  EXPECT_NE(error_of([&] { r.read(StateKind::kParams, other, scratch.data()); })
                .find("tensor /params/layers.1.mlp.fc.weight has shape (32, 8), the checkpoint's config and layout say "
                      "(33, 8)"),
            std::string::npos);
  other = fc;
  other.global_offset[0] = 4;
  EXPECT_NE(error_of([&] { r.read(StateKind::kParams, other, scratch.data()); }).find("is stored as the shard at"),
            std::string::npos);
}

// One flipped byte inside a tensor's data: the checksum names the tensor.
TEST(CheckpointShard, AFlippedByteFailsTheChecksum) {
  const TempDir dir;
  Transformer<float> model(tiny(1), 1);
  model.init_weights(3);
  const TensorTable& table = model.table();
  const std::string path = dir / "shard.h5";
  ShardFileWriter w(path, {});
  for (const TensorInfo& t : table.entries()) w.write(StateKind::kParams, t, model.params() + t.offset);
  w.finish();
  // find the bytes of one weight in the file and flip a bit of it
  const TensorInfo& t = table[table.find("layers.0.attn.proj.weight")];
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string needle(reinterpret_cast<const char*>(model.params() + t.offset + 3), 16);
  const size_t at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  bytes[at + 1] = static_cast<char>(bytes[at + 1] ^ 0x10);
  {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
  }
  std::vector<float> back(static_cast<size_t>(t.numel));
  {
    const ShardFileReader r(path);
    const std::string e = error_of([&] { r.read(StateKind::kParams, t, back.data()); });
    EXPECT_NE(e.find("tensor /params/layers.0.attn.proj.weight fails its checksum"), std::string::npos) << e;
    int bad = 0;
    for (const auto& entry : r.verify()) bad += entry.checksum_ok ? 0 : 1;
    EXPECT_EQ(bad, 1);
  }

  // a non-finite weight under a valid checksum (a stranger's file): refused too
  model.params()[t.offset] = std::numeric_limits<float>::quiet_NaN();
  ShardFileWriter w2(path, {});
  w2.write(StateKind::kParams, t, model.params() + t.offset);
  w2.finish();
  const ShardFileReader r2(path);
  EXPECT_NE(error_of([&] { r2.read(StateKind::kParams, t, back.data()); }).find("holds a non-finite value"),
            std::string::npos);
}

}  // namespace
}  // namespace tessera
