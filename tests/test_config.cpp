// The run config: defaults, presets, overrides, and one clear error for each kind of bad input.
#include <gtest/gtest.h>

#include <string>

#include "config/run_config.hpp"
#include "core/check.hpp"
#include "model/transformer.hpp"
#include "train/run_plan.hpp"

namespace tessera {
namespace {

std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_run_config(text, "test.toml", overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAndFamilies) {
  RunConfig c = parse_run_config("[model]\nfamily = \"llama\"\nn_kv_head = 4\n", "test.toml", {});
  EXPECT_EQ(c.model.norm, Norm::kRMSNorm);
  EXPECT_EQ(c.model.activation, Activation::kSwiGLU);
  EXPECT_EQ(c.model.position, Position::kRope);
  EXPECT_FALSE(c.model.tie_embeddings);
  EXPECT_FALSE(c.model.bias);
  EXPECT_EQ(c.model.n_kv_head, 4);
  // a family default can be overridden key by key
  c = parse_run_config("[model]\nfamily = \"gpt2\"\nposition = \"rope\"\n", "test.toml", {});
  EXPECT_EQ(c.model.position, Position::kRope);
  EXPECT_EQ(c.model.norm, Norm::kLayerNorm);
}

TEST(Config, OverridesTakeTomlValuesAndStrings) {
  RunConfig c = parse_run_config("[train]\nlr = 1e-3\n", "test.toml",
                                 {"train.lr=2.5e-4", "train.steps=7", "data.path=some/dir", "model.bias=false"});
  EXPECT_FLOAT_EQ(c.train.lr, 2.5e-4F);
  EXPECT_EQ(c.train.steps, 7);
  EXPECT_EQ(c.data.path, "some/dir");
  EXPECT_FALSE(c.model.bias);
}

TEST(Config, BadInputNamesTheKey) {
  EXPECT_NE(error_of("[model]\nn_layers = 3\n").find("unknown key model.n_layers"), std::string::npos);
  EXPECT_NE(error_of("[modle]\n").find("unknown section [modle]"), std::string::npos);
  EXPECT_NE(error_of("[train]\nlr = \"fast\"\n").find("train.lr must be a number"), std::string::npos);
  EXPECT_NE(error_of("[train]\nsteps = 1.5\n").find("train.steps must be an integer"), std::string::npos);
  EXPECT_NE(error_of("[model]\nnorm = \"batchnorm\"\n").find("model.norm"), std::string::npos);
  EXPECT_NE(error_of("[model]\nfamily = \"bert\"\n").find("model.family"), std::string::npos);
  EXPECT_NE(error_of("[train\n").find("test.toml:1"), std::string::npos);
  EXPECT_NE(error_of("", {"train.nope=1"}).find("unknown key train.nope"), std::string::npos);
  EXPECT_NE(error_of("", {"bogus"}).find("section.key=value"), std::string::npos);
  EXPECT_NE(error_of("[train]\nsteps = 0\n").find("train.steps must be positive"), std::string::npos);
  EXPECT_NE(error_of("[train]\nbeta2 = 1.0\n").find("train.beta2"), std::string::npos);
}

TEST(Config, ErrorsNameTheSetAndSuggestTheClosestKey) {
  EXPECT_EQ(error_of("", {"train.lrr=1e-3"}), "--set train.lrr=1e-3: unknown key train.lrr (did you mean train.lr?)");
  EXPECT_EQ(error_of("[train]\nwarmup_step = 3\n"),
            "test.toml: unknown key train.warmup_step (did you mean train.warmup_steps?)");
  // a key of another section, and a misspelt section
  EXPECT_NE(error_of("", {"train.n_layer=2"}).find("(did you mean model.n_layer?)"), std::string::npos);
  EXPECT_NE(error_of("", {"modle.d_model=64"}).find("(did you mean model.d_model?)"), std::string::npos);
  // nothing close: no suggestion
  EXPECT_EQ(error_of("", {"train.zzzzzzzzzzzz=1"}), "--set train.zzzzzzzzzzzz=1: unknown key train.zzzzzzzzzzzz");
  // wrong types and values name the --set that gave them, not the file
  EXPECT_EQ(error_of("[train]\nlr = 0.1\n", {"train.lr=fast"}),
            "--set train.lr=fast: train.lr must be a number, got string");
  EXPECT_EQ(error_of("", {"train.steps=0"}), "--set train.steps=0: train.steps must be positive, got 0");
  EXPECT_EQ(error_of("[train]\nsteps = 0\n"), "test.toml: train.steps must be positive, got 0");
}

TEST(Config, ValuesOutsideTheirDomainAreRefused) {
  EXPECT_EQ(error_of("[train]\nlr = nan\n"), "test.toml: train.lr must be a finite number, got nan");
  EXPECT_EQ(error_of("", {"train.lr=inf"}), "--set train.lr=inf: train.lr must be a finite number, got inf");
  EXPECT_NE(error_of("[model]\nrope_theta = 0.0\n").find("model.rope_theta must be positive"), std::string::npos);
  EXPECT_NE(error_of("[train]\nlr = 1e-4\nmin_lr = 1e-3\n").find("train.min_lr = 0.001 exceeds train.lr"),
            std::string::npos);
  EXPECT_NE(error_of("[model]\nmask_token_id = -7\n").find("model.mask_token_id must be a token id"),
            std::string::npos);
  EXPECT_NE(error_of("[model]\nvocab_size = -5\n").find("model.vocab_size must not be negative"), std::string::npos);
  EXPECT_NE(error_of("[data]\nweights = [1.0, inf]\n").find("data.weights must hold finite numbers"),
            std::string::npos);
  EXPECT_NE(error_of("[model]\nn_layer = 0\n").find("model.n_layer must be positive"), std::string::npos);
  EXPECT_EQ(error_of("[model]\nmask_token_id = -1\nvocab_size = 0\n"), "");  // the defaults: from the dataset
}

TEST(Config, SizesThatDoNotDivide) {
  auto finalize_error = [](const std::string& text) -> std::string {
    RunConfig c = parse_run_config(text, "test.toml", {});
    c.model.vocab_size = 100;
    try {
      c.model.finalize();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(finalize_error("[model]\nd_model = 64\nn_head = 5\n").find("model.n_head"), std::string::npos);
  EXPECT_NE(finalize_error("[model]\nd_model = 64\nn_head = 4\nn_kv_head = 3\n").find("model.n_kv_head"),
            std::string::npos);
  EXPECT_EQ(finalize_error("[model]\nd_model = 64\nn_head = 4\nn_kv_head = 2\n"), "");
}

TEST(Config, PresetsLoadAndUnknownPresetsAreNamed) {
  for (const char* name : {"gpt2-124m", "gpt2-350m", "llama-small", "tiny-gpt2", "tiny-llama"}) {
    EXPECT_NO_THROW(load_run_config(name, {})) << name;
  }
  EXPECT_EQ(load_run_config("gpt2-124m", {}).model.n_layer, 12);
  EXPECT_EQ(load_run_config("gpt2-350m", {}).model.d_model, 1024);
  try {
    load_run_config("gpt5", {});
    FAIL() << "no error for an unknown preset";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown preset \"gpt5\""), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("tiny-gpt2"), std::string::npos);
  }
  EXPECT_THROW(load_run_config("/nonexistent/run.toml", {}), Error);
}

TEST(Config, ResolvedConfigRoundTrips) {
  RunConfig a = load_run_config("tiny-llama", {"train.lr=0.0123", "data.path=x y"});
  RunConfig b = parse_run_config(to_toml(a), "resolved", {});
  EXPECT_EQ(to_toml(a), to_toml(b));
  EXPECT_FLOAT_EQ(b.train.lr, 0.0123F);
  EXPECT_EQ(b.data.path, "x y");
  EXPECT_EQ(b.model.n_kv_head, 2);
  EXPECT_NE(to_toml(a).find("lr = 0.0123"), std::string::npos);  // floats print in their shortest form
}

TEST(Config, BlendsAreArrays) {
  RunConfig a = load_run_config("tiny-gpt2", {R"(data.paths=["web", "books"])", "data.weights=[3, 0.5]"});
  EXPECT_EQ(a.data.paths, (std::vector<std::string>{"web", "books"}));
  EXPECT_EQ(a.data.weights, (std::vector<double>{3.0, 0.5}));
  RunConfig b = parse_run_config(to_toml(a), "resolved", {});
  EXPECT_EQ(b.data.paths, a.data.paths);
  EXPECT_EQ(b.data.weights, a.data.weights);
  EXPECT_NE(error_of("[data]\npaths = \"web\"\n").find("data.paths must be an array of strings"), std::string::npos);
  EXPECT_NE(error_of("[data]\nweights = [1, \"x\"]\n").find("data.weights must be an array of numbers"),
            std::string::npos);
}

}  // namespace
}  // namespace tessera

namespace tessera {
namespace {

// The planned memory per rank follows the layout (from the plan, not a timed run): a rank's layer parameters (and
// so its gradients) are 1/tp and 1/pp of the model's, and with ZeRO-1 its optimizer state 1/dp of one rank's.
TEST(MemoryPlan, ShardsShrinkWithTheLayout) {
  RunConfig cfg = load_run_config(
      "gpt2-124m", {"model.vocab_size=50257", "train.micro_batch=2", "train.global_batch=64", "train.seq_len=256"});
  cfg.model.finalize();
  auto layer_params = [&](const Layout& l) {
    RunConfig c = cfg;
    const RunPlan plan = plan_run(c, l);
    const TensorTable table = Transformer<float>::plan_table(c.model, plan_shard(c, plan, {0, 0, 0}));
    int64_t n = 0;
    for (const TensorInfo& t : table.entries()) n += t.name.starts_with("layers.") ? t.numel : 0;
    return static_cast<double>(n);
  };
  const double one = layer_params({1, 1, 1});
  EXPECT_NEAR(layer_params({2, 1, 1}) / one, 0.5, 0.01);  // norms and projection biases stay whole
  EXPECT_NEAR(layer_params({4, 1, 1}) / one, 0.25, 0.01);
  EXPECT_NEAR(layer_params({1, 2, 1}) / one, 0.5, 1e-9);  // 6 of 12 layers
  EXPECT_NEAR(layer_params({1, 4, 1}) / one, 0.25, 1e-9);
  EXPECT_NEAR(layer_params({2, 2, 1}) / one, 0.25, 0.01);
  auto plan = [&](const Layout& l, bool zero1) {
    RunConfig c = cfg;
    c.parallel.zero1 = zero1;
    return plan_run(c, l);
  };
  const RunPlan base = plan({1, 1, 1}, false);
  EXPECT_NEAR(static_cast<double>(plan({1, 1, 4}, true).optimizer_bytes) / static_cast<double>(base.optimizer_bytes),
              0.25, 1e-3);
  EXPECT_EQ(plan({1, 1, 4}, false).optimizer_bytes, base.optimizer_bytes);
  EXPECT_NEAR(static_cast<double>(plan({2, 1, 1}, false).grad_bytes) / static_cast<double>(base.grad_bytes), 0.5, 0.01);
}

}  // namespace
}  // namespace tessera
