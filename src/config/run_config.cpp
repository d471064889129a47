#include "config/run_config.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

#include "core/check.hpp"
#include "core/share_dir.hpp"
#include "optim/lr_schedule.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {

const std::set<std::string> kSections = {"model", "data", "train", "parallel", "checkpoint", "log", "eval"};

// "section.key" -> the --set assignment that gave it, so that errors name --set rather than the file.
using Origins = std::map<std::string, std::string>;

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// " (did you mean X?)" for the candidate closest to `name`, or "" when none is close.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, name.size() / 3) + 1;
  for (const std::string& c : candidates) {
    size_t d = edit_distance(name, c);
    // the same key name in another section: "train.n_layer" -> "model.n_layer"
    const size_t dot = name.find('.'), cdot = c.find('.');
    if (dot != std::string::npos && cdot != std::string::npos && name.substr(dot) == c.substr(cdot)) d = 1;
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best.empty() ? "" : " (did you mean " + best + "?)";
}

std::string config_dir() {
  return share_path("TESSERA_CONFIG_DIR", "configs");
}

// Reads the keys of one section with type checks and rejects keys it was never asked for.
class SectionReader {
 public:
  SectionReader(const toml::table& root, std::string section, std::string source, const Origins& origins,
                const std::vector<std::string>& all_keys)
      : section_(std::move(section)), source_(std::move(source)), origins_(origins), all_keys_(all_keys) {
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
    if (w < INT32_MIN || w > INT32_MAX) TESSERA_RAISE("{}: {}.{} = {} is out of range", where(key), section_, key, w);
    v = static_cast<int>(w);
  }
  void read(const std::string& key, uint64_t& v) {
    auto w = static_cast<int64_t>(v);
    read(key, w);
    if (w < 0) TESSERA_RAISE("{}: {}.{} must not be negative", where(key), section_, key);
    v = static_cast<uint64_t>(w);
  }
  void read(const std::string& key, double& v) {
    if (const toml::node* n = get(key)) {
      if (!n->is_number()) wrong_type(key, "a number", *n);
      v = n->is_integer() ? static_cast<double>(n->value<int64_t>().value()) : n->value<double>().value();
      if (!std::isfinite(v)) TESSERA_RAISE("{}: {}.{} must be a finite number, got {}", where(key), section_, key, v);
    }
  }
  void read(const std::string& key, float& v) {
    double w = v;
    read(key, w);
    v = static_cast<float>(w);
  }
  void read(const std::string& key, std::vector<std::string>& v) {
    if (const toml::node* n = get(key)) {
      const toml::array* a = n->as_array();
      if (a == nullptr || (!a->empty() && !a->is_homogeneous(toml::node_type::string)))
        wrong_type(key, "an array of strings", *n);
      v.clear();
      for (const toml::node& e : *a) v.push_back(e.value<std::string>().value());
    }
  }
  void read(const std::string& key, std::vector<int>& v) {
    if (const toml::node* n = get(key)) {
      const toml::array* a = n->as_array();
      bool integers = a != nullptr;
      for (size_t i = 0; integers && i < a->size(); ++i) integers = (*a)[i].is_integer();
      if (!integers) wrong_type(key, "an array of integers", *n);
      v.clear();
      for (const toml::node& e : *a) {
        const int64_t x = e.value<int64_t>().value();
        if (x < INT32_MIN || x > INT32_MAX)
          TESSERA_RAISE("{}: {}.{} holds {}, out of range", where(key), section_, key, x);
        v.push_back(static_cast<int>(x));
      }
    }
  }
  void read(const std::string& key, std::vector<double>& v) {
    if (const toml::node* n = get(key)) {
      const toml::array* a = n->as_array();
      bool numbers = a != nullptr;
      for (size_t i = 0; numbers && i < a->size(); ++i) numbers = (*a)[i].is_number();
      if (!numbers) wrong_type(key, "an array of numbers", *n);
      v.clear();
      for (const toml::node& e : *a) {
        v.push_back(e.is_integer() ? static_cast<double>(e.value<int64_t>().value()) : e.value<double>().value());
        if (!std::isfinite(v.back()))
          TESSERA_RAISE("{}: {}.{} must hold finite numbers, got {}", where(key), section_, key, v.back());
      }
    }
  }
  const toml::node* get(const std::string& key) {
    seen_.insert(key);
    return table_ != nullptr ? table_->get(key) : nullptr;
  }
  // Errors on the first key that no read asked for.
  void finish() const {
    if (table_ == nullptr) return;
    for (const auto& [k, v] : *table_) {
      const std::string key(k.str());
      if (!seen_.contains(key))
        TESSERA_RAISE("{}: unknown key {}.{}{}", where(key), section_, key,
                      did_you_mean(section_ + "." + key, all_keys_));
    }
  }
  // The --set assignment that gave section.key, else the config file.
  std::string where(const std::string& key) const {
    const auto it = origins_.find(section_ + "." + key);
    return it != origins_.end() ? "--set " + it->second : source_;
  }

 private:
  [[noreturn]] void wrong_type(const std::string& key, const char* expected, const toml::node& n) const {
    std::ostringstream got;
    got << n.type();
    TESSERA_RAISE("{}: {}.{} must be {}, got {}", where(key), section_, key, expected, got.str());
  }
  std::string section_, source_;
  const Origins& origins_;
  const std::vector<std::string>& all_keys_;
  const toml::table* table_ = nullptr;
  std::set<std::string> seen_;
};

void apply_override(toml::table& root, const std::string& assignment, Origins& origins,
                    const std::vector<std::string>& all_keys) {
  const size_t eq = assignment.find('=');
  const size_t dot = assignment.find('.');
  if (eq == std::string::npos || dot == std::string::npos || dot > eq)
    TESSERA_RAISE("--set {}: expected section.key=value", assignment);
  const std::string section = assignment.substr(0, dot);
  const std::string key = assignment.substr(dot + 1, eq - dot - 1);
  const std::string value = assignment.substr(eq + 1);
  if (!kSections.contains(section))
    TESSERA_RAISE("--set {}: unknown section [{}]{}", assignment, section, did_you_mean(section + "." + key, all_keys));
  origins[section + "." + key] = assignment;
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

// A string key that names one of an enum's values.
template <class E>
struct Choice {
  const char* name;
  E value;
};
constexpr Choice<Norm> kNorms[] = {{"layernorm", Norm::kLayerNorm}, {"rmsnorm", Norm::kRMSNorm}};
constexpr Choice<Activation> kActivations[] = {{"gelu", Activation::kGelu}, {"swiglu", Activation::kSwiGLU}};
constexpr Choice<Position> kPositions[] = {{"learned", Position::kLearned}, {"rope", Position::kRope}};
constexpr Choice<Objective> kObjectives[] = {{"clm", Objective::kCausal}, {"mlm", Objective::kMasked}};
constexpr Choice<std::string_view> kDecays[] = {{"cosine", "cosine"}, {"linear", "linear"}, {"constant", "constant"}};
constexpr Choice<std::string_view> kOnNonfinite[] = {{"stop", "stop"}, {"skip", "skip"}};
constexpr Choice<std::string_view> kDevices[] = {{"auto", "auto"}, {"cpu", "cpu"}, {"cuda", "cuda"}};
constexpr Choice<std::string_view> kRecompute[] = {{"none", "none"}, {"selective", "selective"}, {"full", "full"}};
constexpr Choice<std::string_view> kAttention[] = {
    {"flash", "flash"}, {"materialized", "materialized"}, {"cudnn", "cudnn"}};
constexpr Choice<std::string_view> kDTypes[] = {{"fp32", "fp32"}, {"bf16", "bf16"}};
constexpr Choice<std::string_view> kPpSchedule[] = {{"1f1b", "1f1b"}, {"afab", "afab"}};

// Every key of the run config, once, in the order it is printed. A visitor reads them from TOML (ConfigReader) or
// writes them to TOML (ConfigWriter), so the two can never list different keys.
template <class Visitor>
void visit_keys(RunConfig& c, Visitor& v) {
  ModelConfig& m = c.model;
  v.section("model");
  v.key("family", m.family);
  v.family_defaults(m);  // the family sets the defaults of the architecture keys that follow
  v.key("vocab_size", m.vocab_size);
  v.key("vocab_multiple", m.vocab_multiple);
  v.key("max_seq_len", m.max_seq_len);
  v.key("n_layer", m.n_layer);
  v.key("n_head", m.n_head);
  v.key("n_kv_head", m.n_kv_head);
  v.key("d_model", m.d_model);
  v.key("d_ff", m.d_ff);
  v.choice("norm", m.norm, kNorms);
  v.choice("activation", m.activation, kActivations);
  v.choice("position", m.position, kPositions);
  v.key("tie_embeddings", m.tie_embeddings);
  v.key("bias", m.bias);
  v.key("norm_eps", m.norm_eps);
  v.key("rope_theta", m.rope_theta);
  v.key("init_std", m.init_std);
  v.choice("objective", m.objective, kObjectives);
  v.key("mask_token_id", m.mask_token_id);

  v.section("data");
  v.key("path", c.data.path);
  v.key("paths", c.data.paths);
  v.key("weights", c.data.weights);
  v.key("tokenizer", c.data.tokenizer);
  v.key("shuffle", c.data.shuffle);
  v.key("cache_mb", c.data.cache_mb);

  TrainConfig& t = c.train;
  v.section("train");
  v.key("steps", t.steps);
  v.key("micro_batch", t.micro_batch);
  v.key("global_batch", t.global_batch);
  v.key("seq_len", t.seq_len);
  v.key("lr", t.lr);
  v.key("min_lr", t.min_lr);
  v.key("warmup_steps", t.warmup_steps);
  v.choice("lr_decay", t.lr_decay, kDecays);
  v.key("decay_steps", t.decay_steps);
  v.key("beta1", t.beta1);
  v.key("beta2", t.beta2);
  v.key("eps", t.eps);
  v.key("weight_decay", t.weight_decay);
  v.key("decay_embeddings", t.decay_embeddings);
  v.key("grad_clip", t.grad_clip);
  v.key("seed", t.seed);
  v.choice("on_nonfinite", t.on_nonfinite, kOnNonfinite);
  v.key("threads", t.threads);
  v.choice("device", t.device, kDevices);
  v.choice("recompute", t.recompute, kRecompute);
  v.choice("attention", t.attention, kAttention);
  v.choice("dtype", t.dtype, kDTypes);

  v.section("parallel");
  v.key("tp", c.parallel.tp);
  v.key("pp", c.parallel.pp);
  v.key("dp", c.parallel.dp);
  v.key("virtual_stages", c.parallel.virtual_stages);
  v.key("pp_layers", c.parallel.pp_layers);
  v.choice("pp_schedule", c.parallel.pp_schedule, kPpSchedule);
  v.key("sequence_parallel", c.parallel.sequence_parallel);
  v.key("zero1", c.parallel.zero1);
  v.key("overlap_grad_reduce", c.parallel.overlap_grad_reduce);
  v.key("bucket_mb", c.parallel.bucket_mb);
  v.key("timeout_s", c.parallel.timeout_s);

  v.section("checkpoint");
  v.key("dir", c.checkpoint.dir);
  v.key("interval", c.checkpoint.interval);
  v.key("keep", c.checkpoint.keep);
  v.key("resume", c.checkpoint.resume);
  v.key("force", c.checkpoint.force);
  v.key("async", c.checkpoint.async);
  v.key("init_from", c.checkpoint.init_from);
  v.key("init_optimizer", c.checkpoint.init_optimizer);
  v.key("override_schedule", c.checkpoint.override_schedule);

  v.section("log");
  v.key("interval", c.log.interval);
  v.key("metrics", c.log.metrics);
  v.key("peak_flops", c.log.peak_flops);

  v.section("eval");
  v.key("interval", c.eval.interval);
  v.key("batches", c.eval.batches);
  v.end();
}

class ConfigReader {
 public:
  ConfigReader(const toml::table& root, std::string source, const Origins& origins,
               const std::vector<std::string>& all_keys)
      : root_(root), source_(std::move(source)), origins_(origins), all_keys_(all_keys) {}
  void section(const std::string& name) {
    end();
    section_name_ = name;
    current_.emplace(root_, name, source_, origins_, all_keys_);
  }
  template <class T>
  void key(const std::string& name, T& value) {
    current_->read(name, value);
  }
  template <class E, size_t N>
  void choice(const std::string& name, E& value, const Choice<E> (&choices)[N]) {
    std::string text;
    for (const auto& c : choices) {
      if (c.value == value) text = c.name;
    }
    current_->read(name, text);
    std::string list;
    for (const auto& c : choices) {
      if (text == c.name) {
        value = c.value;
        return;
      }
      list += (list.empty() ? "\"" : ", \"") + std::string(c.name) + "\"";
    }
    TESSERA_RAISE("{}: {}.{} = \"{}\" is not one of {}", current_->where(name), section_name_, name, text, list);
  }
  // string-valued choices (kept as strings in the config structs)
  template <size_t N>
  void choice(const std::string& name, std::string& value, const Choice<std::string_view> (&choices)[N]) {
    std::string_view v = value;
    choice(name, v, choices);
    value = std::string(v);
  }
  void family_defaults(ModelConfig& m) { m.apply_family_defaults(); }
  void end() {
    if (current_) current_->finish();
    current_.reset();
  }

 private:
  const toml::table& root_;
  std::string source_, section_name_;
  const Origins& origins_;
  const std::vector<std::string>& all_keys_;
  std::optional<SectionReader> current_;
};

// Lists every key as "section.key" (for suggestions).
class KeyLister {
 public:
  void section(const std::string& name) { section_ = name; }
  template <class T>
  void key(const std::string& name, const T&) {
    keys_.push_back(section_ + "." + name);
  }
  template <class E, class C>
  void choice(const std::string& name, const E&, const C&) {
    keys_.push_back(section_ + "." + name);
  }
  void family_defaults(const ModelConfig&) {}
  void end() {}
  std::vector<std::string> take() { return std::move(keys_); }

 private:
  std::string section_;
  std::vector<std::string> keys_;
};

const std::vector<std::string>& all_keys() {
  static const std::vector<std::string> keys = [] {
    RunConfig c;
    KeyLister lister;
    visit_keys(c, lister);
    return lister.take();
  }();
  return keys;
}

// Writes TOML text in the visitor's order; numbers in their shortest exact form (0.9F prints as 0.9).
class ConfigWriter {
 public:
  void section(const std::string& name) { out_ += (out_.empty() ? "[" : "\n[") + name + "]\n"; }
  void key(const std::string& name, const std::string& v) { line(name, quote(v)); }
  void key(const std::string& name, bool v) { line(name, v ? "true" : "false"); }
  void key(const std::string& name, int v) { line(name, std::to_string(v)); }
  void key(const std::string& name, int64_t v) { line(name, std::to_string(v)); }
  void key(const std::string& name, uint64_t v) { line(name, std::to_string(v)); }
  void key(const std::string& name, float v) { line(name, number(fmt::format("{}", v))); }
  void key(const std::string& name, double v) { line(name, number(fmt::format("{}", v))); }
  void key(const std::string& name, const std::vector<std::string>& v) {
    std::string items;
    for (const std::string& s : v) items += (items.empty() ? "" : ", ") + quote(s);
    line(name, "[" + items + "]");
  }
  void key(const std::string& name, const std::vector<int>& v) {
    std::string items;
    for (int x : v) items += (items.empty() ? "" : ", ") + std::to_string(x);
    line(name, "[" + items + "]");
  }
  void key(const std::string& name, const std::vector<double>& v) {
    std::string items;
    for (double x : v) items += (items.empty() ? "" : ", ") + number(fmt::format("{}", x));
    line(name, "[" + items + "]");
  }
  template <class E, size_t N>
  void choice(const std::string& name, const E& value, const Choice<E> (&choices)[N]) {
    for (const auto& c : choices) {
      if (c.value == value) key(name, std::string(c.name));
    }
  }
  template <size_t N>
  void choice(const std::string& name, const std::string& value, const Choice<std::string_view> (&)[N]) {
    key(name, value);
  }
  void family_defaults(const ModelConfig&) {}
  void end() {}
  const std::string& text() const { return out_; }

 private:
  void line(const std::string& name, const std::string& value) { out_ += name + " = " + value + "\n"; }
  // TOML floats need a decimal point or an exponent ("1e+09" and "0.5" are fine, "3" is not)
  static std::string number(std::string s) {
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
  }
  static std::string quote(const std::string& s) {
    std::string out = "\"";
    for (char ch : s) {
      if (ch == '"' || ch == '\\') {
        out += '\\';
        out += ch;
      } else if (static_cast<unsigned char>(ch) < 0x20) {
        out += fmt::format("\\u{:04x}", static_cast<int>(ch));
      } else {
        out += ch;
      }
    }
    return out + "\"";
  }
  std::string out_;
};

RunConfig from_table(const toml::table& root, const std::string& source, const Origins& origins) {
  for (const auto& [k, v] : root) {
    if (!kSections.contains(std::string(k.str())))
      TESSERA_RAISE("{}: unknown section [{}] (sections: model, data, train, parallel, checkpoint, log, eval)", source,
                    std::string(k.str()));
  }
  RunConfig c;
  c.source = source;
  ConfigReader reader(root, source, origins, all_keys());
  visit_keys(c, reader);
  const TrainConfig& tc = c.train;

  // errors name the --set that gave the key, else the file
  auto where = [&](const std::string& key) {
    const auto it = origins.find(key);
    return it != origins.end() ? "--set " + it->second : source;
  };
  auto positive = [&](int64_t v, const char* key) {
    if (v <= 0) TESSERA_RAISE("{}: {} must be positive, got {}", where(key), key, v);
  };
  auto non_negative = [&](double v, const char* key) {
    if (v < 0) TESSERA_RAISE("{}: {} must not be negative, got {}", where(key), key, v);
  };
  const ModelConfig& m = c.model;
  non_negative(m.vocab_size, "model.vocab_size");
  positive(m.vocab_multiple, "model.vocab_multiple");
  positive(m.max_seq_len, "model.max_seq_len");
  positive(m.n_layer, "model.n_layer");
  positive(m.n_head, "model.n_head");
  non_negative(m.n_kv_head, "model.n_kv_head");
  positive(m.d_model, "model.d_model");
  non_negative(m.d_ff, "model.d_ff");
  if (m.norm_eps <= 0)
    TESSERA_RAISE("{}: model.norm_eps must be positive, got {}", where("model.norm_eps"), m.norm_eps);
  if (m.rope_theta <= 0)
    TESSERA_RAISE("{}: model.rope_theta must be positive, got {}", where("model.rope_theta"), m.rope_theta);
  if (m.init_std <= 0)
    TESSERA_RAISE("{}: model.init_std must be positive, got {}", where("model.init_std"), m.init_std);
  if (m.mask_token_id < -1)
    TESSERA_RAISE("{}: model.mask_token_id must be a token id, or -1 for the dataset's mask token; got {}",
                  where("model.mask_token_id"), m.mask_token_id);
  positive(tc.steps, "train.steps");
  positive(tc.micro_batch, "train.micro_batch");
  non_negative(tc.global_batch, "train.global_batch");
  non_negative(tc.seq_len, "train.seq_len");
  positive(c.log.interval, "log.interval");
  non_negative(tc.lr, "train.lr");
  non_negative(tc.min_lr, "train.min_lr");
  if (tc.min_lr > tc.lr)
    TESSERA_RAISE("{}: train.min_lr = {} exceeds train.lr = {} (the schedule decays from lr to min_lr)",
                  where("train.min_lr") == source ? where("train.lr") : where("train.min_lr"), tc.min_lr, tc.lr);
  non_negative(static_cast<double>(tc.warmup_steps), "train.warmup_steps");
  non_negative(static_cast<double>(tc.decay_steps), "train.decay_steps");
  non_negative(tc.weight_decay, "train.weight_decay");
  non_negative(tc.grad_clip, "train.grad_clip");
  non_negative(tc.threads, "train.threads");
  non_negative(static_cast<double>(c.checkpoint.interval), "checkpoint.interval");
  non_negative(static_cast<double>(c.checkpoint.keep), "checkpoint.keep");
  if (c.checkpoint.resume.empty())
    TESSERA_RAISE("{}: checkpoint.resume must be \"auto\", \"never\" or a checkpoint's path",
                  where("checkpoint.resume"));
  non_negative(static_cast<double>(c.eval.interval), "eval.interval");
  non_negative(c.eval.batches, "eval.batches");
  non_negative(c.log.peak_flops, "log.peak_flops");
  non_negative(c.parallel.timeout_s, "parallel.timeout_s");
  non_negative(c.parallel.bucket_mb, "parallel.bucket_mb");
  if (tc.beta1 < 0 || tc.beta1 >= 1)
    TESSERA_RAISE("{}: train.beta1 must be in [0, 1), got {}", where("train.beta1"), tc.beta1);
  if (tc.beta2 < 0 || tc.beta2 >= 1)
    TESSERA_RAISE("{}: train.beta2 must be in [0, 1), got {}", where("train.beta2"), tc.beta2);
  if (tc.eps <= 0) TESSERA_RAISE("{}: train.eps must be positive, got {}", where("train.eps"), tc.eps);
  if (c.parallel.tp < 1 || c.parallel.pp < 1 || c.parallel.dp < 0)
    TESSERA_RAISE("{}: parallel.tp and parallel.pp must be at least 1 and parallel.dp at least 0", source);
  if (c.parallel.virtual_stages < 1)
    TESSERA_RAISE("{}: parallel.virtual_stages must be at least 1, got {}", where("parallel.virtual_stages"),
                  c.parallel.virtual_stages);
  return c;
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
  Origins origins;
  for (const std::string& o : overrides) apply_override(root, o, origins, all_keys());
  return from_table(root, source, origins);
}

RunConfig load_run_config(const std::string& config, const std::vector<std::string>& overrides) {
  if (config.empty()) return parse_run_config("", "defaults", overrides);
  // a path if it names a file or looks like one; otherwise a preset name
  const bool looks_like_path = config.find('/') != std::string::npos || config.ends_with(".toml");
  const std::string path = looks_like_path || fs::is_regular_file(config) ? config : preset_path(config);
  if (fs::is_directory(path)) TESSERA_RAISE("{}: is a directory, not a config file", path);
  if (fs::exists(path) && !fs::is_regular_file(path))
    TESSERA_RAISE("{}: not a regular file (a config is a TOML file)", path);
  if (!fs::is_regular_file(path)) TESSERA_RAISE("{}: no such config file", path);
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_run_config(ss.str(), path, overrides);
}

LrSchedule lr_schedule(const TrainConfig& t) {
  LrSchedule s;
  s.max_lr = t.lr;
  s.min_lr = t.min_lr;
  s.warmup_steps = t.warmup_steps;
  s.total_steps = t.decay_steps == 0 ? t.steps : t.decay_steps;
  s.decay = parse_decay(t.lr_decay);
  return s;
}

std::string to_toml(const RunConfig& config) {
  RunConfig c = config;  // the visitor takes the keys by reference
  ConfigWriter writer;
  visit_keys(c, writer);
  return writer.text();
}

}  // namespace tessera
