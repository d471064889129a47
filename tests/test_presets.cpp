// Every preset in configs/ builds its model and trains one step on tessera's own GPT-2 data, and the parameter
// count its comment states is the model's true count.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>

#include "config/run_config.hpp"
#include "io/prepare.hpp"
#include "model/transformer.hpp"
#include "training_fixture.hpp"

namespace tessera {
namespace {

constexpr int kGpt2Vocab = 50259;  // GPT-2's 50,257 tokens with tessera's mask and pad

// The count in the preset's "# parameters: 124,475,904 ..." line (-1 if there is none).
int64_t stated_parameters(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  const std::regex re(R"(^# parameters: ([0-9,]+) )");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, re)) {
      std::string digits = m[1];
      std::erase(digits, ',');
      return std::stoll(digits);
    }
  }
  return -1;
}

// A small GPT-2-tokenized dataset under `root`: a slice of tinyshakespeare, with the bundled vocabulary.
std::string gpt2_dataset(const std::filesystem::path& root) {
  std::filesystem::create_directories(root);
  std::ifstream in(testing::shakespeare_path());
  std::string text(20000, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  std::ofstream(root / "part.txt") << text;
  PrepareOptions o;
  o.inputs = {(root / "part.txt").string()};
  o.output = (root / "ds").string();
  o.tokenizer = "gpt2";  // tokenizer files left to the default: the bundled vocabulary
  o.val_fraction = 0.2;
  prepare_dataset(o);
  return o.output;
}

TEST(Presets, EveryPresetStatesItsTrueParameterCount) {
  const std::vector<std::string> names = preset_names();
  ASSERT_GE(names.size(), 6U) << "presets not found (build/share/tessera/configs)";
  for (const std::string& name : names) {
    const std::string path = preset_path(name);
    RunConfig cfg = load_run_config(name, {});
    if (cfg.model.vocab_size == 0) cfg.model.vocab_size = kGpt2Vocab;
    const ModelSizes sizes = Transformer<float>::sizes(cfg.model, 1, 16);
    EXPECT_EQ(stated_parameters(path), sizes.parameters) << path;
  }
}

TEST(Presets, EveryPresetTrainsOneStepOnGpt2Data) {
  const auto root = std::filesystem::temp_directory_path() / ("tessera-presets-" + std::to_string(getpid()));
  const std::string data = gpt2_dataset(root);
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    const std::vector<std::string> o = {
        "data.path=\"" + data + "\"", "train.steps=1",  "train.micro_batch=1", "train.global_batch=1",
        "train.seq_len=16",           "eval.batches=1", "eval.interval=0",     "train.warmup_steps=0"};
    const TrainResult r = testing::train(name, o, {1, 1, 1}, MPI_COMM_SELF);
    ASSERT_EQ(r.steps.size(), 1U);
    // an untrained model guesses: the loss is near ln(vocabulary)
    EXPECT_NEAR(r.steps[0].loss, std::log(static_cast<double>(kGpt2Vocab)), 1.0);
    EXPECT_TRUE(std::isfinite(r.steps[0].grad_norm));
    ASSERT_EQ(r.val_losses.size(), 1U);
    EXPECT_TRUE(std::isfinite(r.val_losses[0].second));
  }
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace tessera
