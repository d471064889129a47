// tessera plan: the layouts of a model on a cluster that fit in memory, with predicted memory per device, step time,
// pipeline bubble, communication and MFU, best first (src/train/layout_planner.hpp has the model of a step).
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/readable.hpp"
#include "model/transformer.hpp"
#include "train/layout_planner.hpp"

namespace tessera::cli {
namespace {
struct PlanFlags {
  std::string config;
  std::vector<std::string> sets;
  int global_batch = 0, seq_len = 0, top = 20;
  ClusterSpec cluster;
  double memory_gb = 80, peak_tflops = 989, intra_gbs = 450, inter_gbs = 50, latency_us = 10;
  bool json = false;
};

void print_table(const LayoutPlan& plan, const RunConfig& cfg, const PlanFlags& f) {
  const ClusterSpec& c = f.cluster;
  fmt::print(
      "plan: {} ({} parameters, {} layers) | global batch {} x {} tokens | {} nodes x {} devices = {} ranks, {} "
      "and {:.0f} TFLOP/s each (x {:.2f} reached), {:.0f} GB/s in a node, {:.0f} GB/s between nodes\n",
      cfg.source, fmt::group_digits(Transformer<float>::sizes(cfg.model, 1).model_parameters), cfg.model.n_layer,
      cfg.train.global_batch, cfg.train.seq_len == 0 ? cfg.model.max_seq_len : cfg.train.seq_len, c.nodes,
      c.devices_per_node, c.ranks(), bytes_string(static_cast<int64_t>(c.memory_bytes)), c.peak_flops / 1e12,
      c.efficiency, c.intra_node_bandwidth / 1e9, c.inter_node_bandwidth / 1e9);
  fmt::print("{} layouts considered, {} fit in memory ({} too big)\n", plan.considered, plan.fits.size(), plan.too_big);
  if (plan.fits.empty()) {
    if (plan.considered > 0) {
      const LayoutPrediction& s = plan.smallest;
      fmt::print(
          "the smallest needs {} per device: tp {}, pp {}, dp {}, micro-batch {}{} (memory as this build "
          "trains on GPUs: fp32 weights, gradients, AdamW and activations, {} attention)\n",
          bytes_string(s.memory_bytes), s.layout.tp, s.layout.pp, s.layout.dp, s.micro_batch, s.zero1 ? ", ZeRO-1" : "",
          cfg.train.attention);
    }
    return;
  }
  fmt::print("{:>4} {:>4} {:>5} {:>4} {:>4} {:>5} {:>11} {:>10} {:>7} {:>9} {:>9} {:>9} {:>6}\n", "tp", "pp", "dp",
             "mb", "m", "zero1", "memory", "step", "bubble", "tp comm", "pp comm", "dp comm", "MFU");
  int shown = 0;
  for (const LayoutPrediction& p : plan.fits) {
    if (shown++ == f.top) break;
    fmt::print(
        "{:>4} {:>4} {:>5} {:>4} {:>4} {:>5} {:>11} {:>8.3f} s {:>6.1f}% {:>7.3f} s {:>7.3f} s {:>7.3f} s "
        "{:>5.1f}%\n",
        p.layout.tp, p.layout.pp, p.layout.dp, p.micro_batch, p.micro_batches, p.zero1 ? "yes" : "no",
        bytes_string(p.memory_bytes), p.step_s, 100 * p.bubble, p.tp_s, p.pp_s, p.dp_s, 100 * p.mfu);
  }
}

nlohmann::json to_json(const LayoutPlan& plan) {
  nlohmann::json layouts = nlohmann::json::array();
  for (const LayoutPrediction& p : plan.fits)
    layouts.push_back({{"tp", p.layout.tp},
                       {"pp", p.layout.pp},
                       {"dp", p.layout.dp},
                       {"micro_batch", p.micro_batch},
                       {"micro_batches", p.micro_batches},
                       {"zero1", p.zero1},
                       {"memory_bytes", p.memory_bytes},
                       {"step_s", p.step_s},
                       {"compute_s", p.compute_s},
                       {"bubble", p.bubble},
                       {"tp_comm_s", p.tp_s},
                       {"pp_comm_s", p.pp_s},
                       {"dp_comm_s", p.dp_s},
                       {"mfu", p.mfu}});
  return {{"considered", plan.considered},
          {"too_big", plan.too_big},
          {"smallest_memory_bytes", plan.smallest.memory_bytes},
          {"layouts", layouts}};
}
}  // namespace

void add_plan(CLI::App& app, const MpiRuntime& mpi) {
  auto f = std::make_shared<PlanFlags>();
  CLI::App* cmd = app.add_subcommand(
      "plan", "The layouts (tp, pp, dp, micro-batch, ZeRO-1) of a model on a cluster that fit in memory, best first");
  cmd->footer(
      "The model is the config's [model] (model.vocab_size = 0: GPT-2's 50257 tokens). Memory per device is the run "
      "plan's (fp32 parameters, gradients, AdamW and activations of the heaviest pipeline stage, with flash attention "
      "unless train.attention says otherwise, as --dry-run prints it); the step time is modelled from the peak, the "
      "bandwidths and the layout (docs/running-at-scale.md).");
  cmd->add_option("-c,--config", f->config, "Config file, or a preset name (configs/)");
  cmd->add_option("--set", f->sets, "Override a config key: section.key=value (repeatable)")->default_str("");
  cmd->add_option("--global-batch", f->global_batch, "Sequences per step (default: the config's train.global_batch)")
      ->check(whole_at_least(1));
  cmd->add_option("--seq-len", f->seq_len, "Tokens per sequence (default: the config's)")->check(whole_at_least(1));
  cmd->add_option("--nodes", f->cluster.nodes, "Nodes")->check(whole_at_least(1))->capture_default_str();
  cmd->add_option("--devices-per-node", f->cluster.devices_per_node, "GPUs per node (ranks per node)")
      ->check(whole_at_least(1))
      ->capture_default_str();
  cmd->add_option("--memory-gb", f->memory_gb, "Memory per device, GB")
      ->check(non_negative_finite())
      ->capture_default_str();
  cmd->add_option("--peak-tflops", f->peak_tflops, "Dense peak per device, TFLOP/s (H100/H200 SXM bf16: 989)")
      ->check(non_negative_finite())
      ->capture_default_str();
  cmd->add_option("--efficiency", f->cluster.efficiency, "Fraction of the peak the model's kernels reach")
      ->check(non_negative_finite())
      ->capture_default_str();
  cmd->add_option("--intra-gbs", f->intra_gbs, "Bandwidth between devices of a node, GB/s per device")
      ->check(non_negative_finite())
      ->capture_default_str();
  cmd->add_option("--inter-gbs", f->inter_gbs, "Bandwidth between nodes, GB/s per device")
      ->check(non_negative_finite())
      ->capture_default_str();
  cmd->add_option("--latency-us", f->latency_us, "Latency of a message, microseconds")
      ->check(non_negative_finite())
      ->capture_default_str();
  cmd->add_option("--top", f->top, "Layouts printed (the JSON holds all)")
      ->check(whole_at_least(1))
      ->capture_default_str();
  cmd->add_flag("--json", f->json, "Print the plan as JSON (for tools)");
  cmd->callback([f, &mpi] {
    if (mpi.rank() != 0) return;
    std::vector<std::string> overrides = f->sets;
    if (f->global_batch > 0) overrides.push_back("train.global_batch=" + std::to_string(f->global_batch));
    if (f->seq_len > 0) overrides.push_back("train.seq_len=" + std::to_string(f->seq_len));
    RunConfig cfg = load_run_config(f->config, overrides);
    if (cfg.model.vocab_size == 0) cfg.model.vocab_size = 50257;
    cfg.model.finalize();
    ClusterSpec& c = f->cluster;
    c.memory_bytes = f->memory_gb * 1e9;
    c.peak_flops = f->peak_tflops * 1e12;
    c.intra_node_bandwidth = f->intra_gbs * 1e9;
    c.inter_node_bandwidth = f->inter_gbs * 1e9;
    c.latency_s = f->latency_us * 1e-6;
    const LayoutPlan plan = plan_layouts(cfg, c);
    if (f->json)
      fmt::print("{}\n", to_json(plan).dump(1));
    else
      print_table(plan, cfg, *f);
    std::fflush(stdout);
  });
}

}  // namespace tessera::cli
