#include "config/run_config.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include "core/check.hpp"
#include "optim/lr_schedule.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {

const std::set<std::string> kSections = {"model", "data", "train", "parallel", "checkpoint", "log", "eval"};

std::string config_dir() {
  if (const char* env = std::getenv("TESSERA_CONFIG_DIR")) return env;
  return (fs::path(TESSERA_SOURCE_DIR) / "configs").string();
}

// Reads the keys of one section with type checks and rejects keys it was never asked for.
class SectionReader {
 public:
  SectionReader(const toml::table& root, std::string section, std::string source)
      : section_(std::move(section)), source_(std::move(source)) {
    if (const toml::node* n = root.get(section_)) {
      if (!n->is_table()) TESSERA_RAISE("{}: [{}] must be a table", source_, section_);
      table_ = n->as_table();
    }
  }

  void read(const std::string& key, std::string& v) {
    if (const toml::node* n = get(key)) {
      if (!n->is_string()) wrong_type(key, "a string", *n);
      v = n->value<std::string>().value();
    }
  }
  void read(const std::string& key, bool& v) {
    if (const toml::node* n = get(key)) {
      if (!n->is_boolean()) wrong_type(key, "true or false", *n);
      v = n->value<bool>().value();
    }
  }
  void read(const std::string& key, int64_t& v) {
    if (const toml::node* n = get(key)) {
      if (!n->is_integer()) wrong_type(key, "an integer", *n);
      v = n->value<int64_t>().value();
    }
  }
  void read(const std::string& key, int& v) {
    int64_t w = v;
    read(key, w);
    if (w < INT32_MIN || w > INT32_MAX) TESSERA_RAISE("{}: {}.{} = {} is out of range", source_, section_, key, w);
    v = static_cast<int>(w);
  }
  void read(const std::string& key, uint64_t& v) {
    auto w = static_cast<int64_t>(v);
    read(key, w);
    if (w < 0) TESSERA_RAISE("{}: {}.{} must not be negative", source_, section_, key);
    v = static_cast<uint64_t>(w);
  }
  void read(const std::string& key, double& v) {
    if (const toml::node* n = get(key)) {
      if (!n->is_number()) wrong_type(key, "a number", *n);
      v = n->is_integer() ? static_cast<double>(n->value<int64_t>().value()) : n->value<double>().value();
    }
  }
  void read(const std::string& key, float& v) {
    double w = v;
    read(key, w);
    v = static_cast<float>(w);
  }
  // A string key restricted to a set of choices.
  std::string choice(const std::string& key, const std::string& fallback, const std::vector<std::string>& choices) {
    std::string v = fallback;
    read(key, v);
    if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
      std::string list;
      for (const auto& c : choices) list += (list.empty() ? "" : ", ") + ("\"" + c + "\"");
      TESSERA_RAISE("{}: {}.{} = \"{}\" is not one of {}", source_, section_, key, v, list);
    }
    return v;
  }
  const toml::node* get(const std::string& key) {
    seen_.insert(key);
    return table_ != nullptr ? table_->get(key) : nullptr;
  }
  // Errors on the first key that no read asked for.
  void finish() const {
    if (table_ == nullptr) return;
    for (const auto& [k, v] : *table_) {
      if (!seen_.contains(std::string(k.str())))
        TESSERA_RAISE("{}: unknown key {}.{}", source_, section_, std::string(k.str()));
    }
  }

 private:
  [[noreturn]] void wrong_type(const std::string& key, const char* expected, const toml::node& n) const {
    std::ostringstream got;
    got << n.type();
    TESSERA_RAISE("{}: {}.{} must be {}, got {}", source_, section_, key, expected, got.str());
  }
  std::string section_, source_;
  const toml::table* table_ = nullptr;
  std::set<std::string> seen_;
};

void apply_override(toml::table& root, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  const size_t dot = assignment.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq)
    TESSERA_RAISE("--set {}: expected section.key=value", assignment);
  const std::string section = assignment.substr(0, dot);
  const std::string key = assignment.substr(dot + 1, eq - dot - 1);
  const std::string value = assignment.substr(eq + 1);
  if (!kSections.contains(section)) TESSERA_RAISE("--set {}: unknown section [{}]", assignment, section);
  if (!root.contains(section)) root.insert(section, toml::table{});
  toml::table* t = root[section].as_table();
  if (t == nullptr) TESSERA_RAISE("--set {}: [{}] is not a table", assignment, section);
  try {  // a TOML value (number, bool, quoted string, array), else the text itself as a string
    toml::table parsed = toml::parse("v = " + value);
    t->insert_or_assign(key, *parsed.get("v"));
  } catch (const toml::parse_error&) {
    t->insert_or_assign(key, value);
  }
}

RunConfig from_table(const toml::table& root, const std::string& source) {
  for (const auto& [k, v] : root) {
    if (!kSections.contains(std::string(k.str())))
      TESSERA_RAISE("{}: unknown section [{}] (sections: model, data, train, parallel, checkpoint, log, eval)", source,
                    std::string(k.str()));
  }
  RunConfig c;
  c.source = source;

  SectionReader m(root, "model", source);
  ModelConfig& mc = c.model;
  m.read("family", mc.family);
  mc.apply_family_defaults();
  m.read("vocab_size", mc.vocab_size);
  m.read("vocab_multiple", mc.vocab_multiple);
  m.read("max_seq_len", mc.max_seq_len);
  m.read("n_layer", mc.n_layer);
  m.read("n_head", mc.n_head);
  m.read("n_kv_head", mc.n_kv_head);
  m.read("d_model", mc.d_model);
  m.read("d_ff", mc.d_ff);
  mc.norm =
      m.choice("norm", to_string(mc.norm), {"layernorm", "rmsnorm"}) == "layernorm" ? Norm::kLayerNorm : Norm::kRMSNorm;
  mc.activation = m.choice("activation", to_string(mc.activation), {"gelu", "swiglu"}) == "gelu" ? Activation::kGelu
                                                                                                 : Activation::kSwiGLU;
  mc.position = m.choice("position", to_string(mc.position), {"learned", "rope"}) == "learned" ? Position::kLearned
                                                                                               : Position::kRope;
  m.read("tie_embeddings", mc.tie_embeddings);
  m.read("bias", mc.bias);
  m.read("norm_eps", mc.norm_eps);
  m.read("rope_theta", mc.rope_theta);
  m.read("init_std", mc.init_std);
  mc.objective =
      m.choice("objective", to_string(mc.objective), {"clm", "mlm"}) == "clm" ? Objective::kCausal : Objective::kMasked;
  m.read("mask_token_id", mc.mask_token_id);
  m.finish();

  SectionReader d(root, "data", source);
  d.read("path", c.data.path);
  d.read("shuffle", c.data.shuffle);
  d.finish();

  SectionReader t(root, "train", source);
  TrainConfig& tc = c.train;
  t.read("steps", tc.steps);
  t.read("micro_batch", tc.micro_batch);
  t.read("global_batch", tc.global_batch);
  t.read("seq_len", tc.seq_len);
  t.read("lr", tc.lr);
  t.read("min_lr", tc.min_lr);
  t.read("warmup_steps", tc.warmup_steps);
  tc.lr_decay = t.choice("lr_decay", tc.lr_decay, {"cosine", "linear", "constant"});
  t.read("decay_steps", tc.decay_steps);
  t.read("beta1", tc.beta1);
  t.read("beta2", tc.beta2);
  t.read("eps", tc.eps);
  t.read("weight_decay", tc.weight_decay);
  t.read("decay_embeddings", tc.decay_embeddings);
  t.read("grad_clip", tc.grad_clip);
  t.read("seed", tc.seed);
  tc.on_nonfinite = t.choice("on_nonfinite", tc.on_nonfinite, {"stop", "skip"});
  t.read("threads", tc.threads);
  t.finish();

  SectionReader p(root, "parallel", source);
  p.read("tp", c.parallel.tp);
  p.read("pp", c.parallel.pp);
  p.read("dp", c.parallel.dp);
  p.finish();

  SectionReader k(root, "checkpoint", source);
  k.read("dir", c.checkpoint.dir);
  k.read("interval", c.checkpoint.interval);
  k.finish();

  SectionReader l(root, "log", source);
  l.read("interval", c.log.interval);
  l.read("metrics", c.log.metrics);
  l.read("peak_flops", c.log.peak_flops);
  l.finish();

  SectionReader e(root, "eval", source);
  e.read("interval", c.eval.interval);
  e.read("batches", c.eval.batches);
  e.finish();

  auto positive = [&](int64_t v, const char* key) {
    if (v <= 0) TESSERA_RAISE("{}: {} must be positive, got {}", source, key, v);
  };
  auto non_negative = [&](double v, const char* key) {
    if (v < 0) TESSERA_RAISE("{}: {} must not be negative, got {}", source, key, v);
  };
  positive(tc.steps, "train.steps");
  positive(tc.micro_batch, "train.micro_batch");
  non_negative(tc.global_batch, "train.global_batch");
  non_negative(tc.seq_len, "train.seq_len");
  positive(c.log.interval, "log.interval");
  non_negative(tc.lr, "train.lr");
  non_negative(tc.min_lr, "train.min_lr");
  non_negative(static_cast<double>(tc.warmup_steps), "train.warmup_steps");
  non_negative(static_cast<double>(tc.decay_steps), "train.decay_steps");
  non_negative(tc.weight_decay, "train.weight_decay");
  non_negative(tc.grad_clip, "train.grad_clip");
  non_negative(tc.threads, "train.threads");
  non_negative(static_cast<double>(c.checkpoint.interval), "checkpoint.interval");
  non_negative(static_cast<double>(c.eval.interval), "eval.interval");
  non_negative(c.eval.batches, "eval.batches");
  non_negative(c.log.peak_flops, "log.peak_flops");
  if (tc.beta1 < 0 || tc.beta1 >= 1) TESSERA_RAISE("{}: train.beta1 must be in [0, 1), got {}", source, tc.beta1);
  if (tc.beta2 < 0 || tc.beta2 >= 1) TESSERA_RAISE("{}: train.beta2 must be in [0, 1), got {}", source, tc.beta2);
  if (tc.eps <= 0) TESSERA_RAISE("{}: train.eps must be positive, got {}", source, tc.eps);
  if (c.parallel.tp < 1 || c.parallel.pp < 1 || c.parallel.dp < 0)
    TESSERA_RAISE("{}: parallel.tp and parallel.pp must be at least 1 and parallel.dp at least 0", source);
  return c;
}

// A float as the double with the same shortest decimal form (0.9F prints as 0.9, not 0.8999999761581421).
double shortest(float v) {
  return std::strtod(fmt::format("{}", v).c_str(), nullptr);
}

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  if (fs::is_directory(config_dir())) {
    for (const auto& e : fs::directory_iterator(config_dir())) {
      if (e.path().extension() == ".toml") names.push_back(e.path().stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string preset_path(const std::string& name) {
  const fs::path p = fs::path(config_dir()) / (name + ".toml");
  if (fs::is_regular_file(p)) return p.string();
  std::string list;
  for (const auto& n : preset_names()) list += (list.empty() ? "" : ", ") + n;
  TESSERA_RAISE("unknown preset \"{}\" (presets: {})", name, list);
}

RunConfig parse_run_config(const std::string& toml_text, const std::string& source,
                           const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    TESSERA_RAISE("{}:{}:{}: malformed TOML: {}", source, b.line, b.column, std::string(e.description()));
  }
  for (const std::string& o : overrides) apply_override(root, o);
  return from_table(root, source);
}

RunConfig load_run_config(const std::string& config, const std::vector<std::string>& overrides) {
  if (config.empty()) return parse_run_config("", "defaults", overrides);
  // a path if it names a file or looks like one; otherwise a preset name
  const bool looks_like_path = config.find('/') != std::string::npos || config.ends_with(".toml");
  const std::string path = looks_like_path || fs::is_regular_file(config) ? config : preset_path(config);
  if (!fs::is_regular_file(path)) TESSERA_RAISE("{}: no such config file", path);
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_run_config(ss.str(), path, overrides);
}

std::string to_toml(const RunConfig& c) {
  toml::table root;
  const ModelConfig& m = c.model;
  root.insert("model", toml::table{{"family", m.family},
                                   {"vocab_size", m.vocab_size},
                                   {"vocab_multiple", m.vocab_multiple},
                                   {"max_seq_len", m.max_seq_len},
                                   {"n_layer", m.n_layer},
                                   {"n_head", m.n_head},
                                   {"n_kv_head", m.n_kv_head},
                                   {"d_model", m.d_model},
                                   {"d_ff", m.d_ff},
                                   {"norm", to_string(m.norm)},
                                   {"activation", to_string(m.activation)},
                                   {"position", to_string(m.position)},
                                   {"tie_embeddings", m.tie_embeddings},
                                   {"bias", m.bias},
                                   {"norm_eps", shortest(m.norm_eps)},
                                   {"rope_theta", shortest(m.rope_theta)},
                                   {"init_std", shortest(m.init_std)},
                                   {"objective", to_string(m.objective)},
                                   {"mask_token_id", m.mask_token_id}});
  root.insert("data", toml::table{{"path", c.data.path}, {"shuffle", c.data.shuffle}});
  const TrainConfig& t = c.train;
  root.insert("train", toml::table{{"steps", t.steps},
                                   {"micro_batch", t.micro_batch},
                                   {"global_batch", t.global_batch},
                                   {"seq_len", t.seq_len},
                                   {"lr", shortest(t.lr)},
                                   {"min_lr", shortest(t.min_lr)},
                                   {"warmup_steps", t.warmup_steps},
                                   {"lr_decay", t.lr_decay},
                                   {"decay_steps", t.decay_steps},
                                   {"beta1", shortest(t.beta1)},
                                   {"beta2", shortest(t.beta2)},
                                   {"eps", shortest(t.eps)},
                                   {"weight_decay", shortest(t.weight_decay)},
                                   {"decay_embeddings", t.decay_embeddings},
                                   {"grad_clip", shortest(t.grad_clip)},
                                   {"seed", static_cast<int64_t>(t.seed)},
                                   {"on_nonfinite", t.on_nonfinite},
                                   {"threads", t.threads}});
  root.insert("parallel", toml::table{{"tp", c.parallel.tp}, {"pp", c.parallel.pp}, {"dp", c.parallel.dp}});
  root.insert("checkpoint", toml::table{{"dir", c.checkpoint.dir}, {"interval", c.checkpoint.interval}});
  root.insert("log",
              toml::table{{"interval", c.log.interval}, {"metrics", c.log.metrics}, {"peak_flops", c.log.peak_flops}});
  root.insert("eval", toml::table{{"interval", c.eval.interval}, {"batches", c.eval.batches}});
  std::ostringstream out;
  out << root;
  return out.str();
}

}  // namespace tessera
