#include "train/layout_planner.hpp"

#include <algorithm>

#include "core/check.hpp"
#include "train/run_plan.hpp"

namespace tessera {
namespace {

// Seconds of a ring collective (all-reduce; or reduce-scatter + all-gather) of `bytes` over n ranks.
double ring_seconds(double bytes, int n, double bandwidth, double latency) {
  if (n <= 1) return 0.0;
  return 2.0 * (n - 1) / n * bytes / bandwidth + 2.0 * (n - 1) * latency;
}

std::vector<int> divisors(int n) {
  std::vector<int> out;
  for (int d = 1; d <= n; ++d)
    if (n % d == 0) out.push_back(d);
  return out;
}

}  // namespace

LayoutPrediction predict_layout(const RunConfig& config, const Layout& layout, const ClusterSpec& c) {
  RunConfig cfg = config;
  cfg.parallel.tp = layout.tp;
  cfg.parallel.pp = layout.pp;
  cfg.parallel.dp = layout.dp;
  const RunPlan plan = plan_run(cfg, layout);
  const ModelConfig& m = cfg.model;
  LayoutPrediction p;
  p.layout = layout;
  p.micro_batch = plan.micro_batch;
  p.micro_batches = plan.grad_accum;
  p.zero1 = cfg.parallel.zero1;
  p.memory_bytes = plan.total_bytes();

  const int R = layout.world(), mb = plan.micro_batch, T = plan.seq_len, M = plan.grad_accum;
  const double step_flops = plan.sizes.flops_per_token * static_cast<double>(plan.tokens_per_step());
  const double compute = step_flops / (R * c.peak_flops * c.efficiency);
  p.bubble = static_cast<double>(layout.pp - 1) / (M + layout.pp - 1);
  p.compute_s = compute * (M + layout.pp - 1) / M;

  // where each group's peers are: tp neighbours, dp peers tp apart, pp peers tp * dp apart
  const int node = c.devices_per_node;
  const double tp_bw = layout.tp <= node ? c.intra_node_bandwidth : c.inter_node_bandwidth;
  const double dp_bw = layout.tp * layout.dp <= node ? c.intra_node_bandwidth : c.inter_node_bandwidth;
  const double pp_bw = layout.tp * layout.dp * layout.pp <= node ? c.intra_node_bandwidth : c.inter_node_bandwidth;
  const double activation_bytes = 4.0 * mb * T * m.d_model;  // fp32 (B, T, C)
  const double layers = static_cast<double>(m.n_layer) / layout.pp;
  p.tp_s = M * layers * 4 * ring_seconds(activation_bytes, layout.tp, tp_bw, c.latency_s);
  const double message = activation_bytes / (cfg.parallel.sequence_parallel ? layout.tp : 1);
  p.pp_s = layout.pp > 1 ? 2.0 * (M + layout.pp - 1) * (message / pp_bw + c.latency_s) : 0.0;
  const double gradient_bytes = 4.0 * static_cast<double>(plan.sizes.flat_elements);  // fp32 gradients
  const double dp_total = ring_seconds(gradient_bytes, layout.dp, dp_bw, c.latency_s);
  const double hidden = (2.0 / 3.0) * compute / M;  // the last micro-batch's backward
  p.dp_s = std::max(0.0, dp_total - hidden);
  p.step_s = p.compute_s + p.tp_s + p.pp_s + p.dp_s;
  p.mfu = step_flops / (p.step_s * R * c.peak_flops);
  return p;
}

LayoutPlan plan_layouts(const RunConfig& config, const ClusterSpec& c) {
  if (c.nodes < 1 || c.devices_per_node < 1 || c.memory_bytes <= 0 || c.peak_flops <= 0 || c.efficiency <= 0 ||
      c.intra_node_bandwidth <= 0 || c.inter_node_bandwidth <= 0)
    TESSERA_RAISE("plan: the cluster needs nodes, devices per node, memory, peak, efficiency and bandwidths above 0");
  const RunConfig& cfg = config;
  const int R = c.ranks();
  const int T = cfg.train.seq_len == 0 ? cfg.model.max_seq_len : cfg.train.seq_len;
  LayoutPlan out;
  for (const int tp : divisors(std::min(R, c.devices_per_node))) {  // tensor parallelism within a node
    if (R % tp != 0) continue;
    try {
      check_tp_divides_model(cfg.model, tp);
    } catch (const Error&) {
      continue;
    }
    for (const int pp : divisors(R / tp)) {
      if (pp > cfg.model.n_layer || cfg.model.n_layer % pp != 0) continue;
      const int dp = R / (tp * pp);
      const int global_batch = cfg.train.global_batch == 0 ? cfg.train.micro_batch * dp : cfg.train.global_batch;
      for (int mb = 1; mb <= global_batch / dp; mb *= 2) {
        if (global_batch % (mb * dp) != 0) continue;
        const int m = global_batch / (mb * dp);
        if (pp > 1 && m < pp) continue;  // 1F1B needs a micro-batch per stage
        if ((cfg.parallel.sequence_parallel && tp > 1) && (static_cast<int64_t>(mb) * T) % tp != 0) continue;
        for (const bool zero1 : {false, true}) {
          if (zero1 && dp == 1) continue;
          RunConfig candidate = cfg;
          candidate.train.micro_batch = mb;
          candidate.train.global_batch = global_batch;
          candidate.parallel.zero1 = zero1;
          candidate.parallel.virtual_stages = 1;
          candidate.parallel.pp_layers.clear();
          LayoutPrediction p;
          try {
            p = predict_layout(candidate, {tp, pp, dp}, c);
          } catch (const Error&) {  // a split the run plan refuses (the pipeline's micro-batches, the layers)
            continue;
          }
          ++out.considered;
          if (out.considered == 1 || p.memory_bytes < out.smallest.memory_bytes) out.smallest = p;
          if (static_cast<double>(p.memory_bytes) > c.memory_bytes) {
            ++out.too_big;
            continue;
          }
          out.fits.push_back(p);
        }
      }
    }
  }
  std::sort(out.fits.begin(), out.fits.end(), [](const LayoutPrediction& a, const LayoutPrediction& b) {
    return a.step_s != b.step_s ? a.step_s < b.step_s : a.memory_bytes < b.memory_bytes;
  });
  return out;
}

}  // namespace tessera
