// The layout planner (tessera plan): the layouts of a model on a cluster, their memory per device (the run plan's)
// and predicted step time, best first.
#include <gtest/gtest.h>

#include "train/layout_planner.hpp"
#include "train/run_plan.hpp"

namespace tessera {
namespace {

// LLaMA 2 70B's shape (80 layers, d_model 8192, 64 heads sharing 8 key/value heads, SwiGLU 28672).
RunConfig llama_70b(int global_batch, int seq_len) {
  RunConfig c;
  ModelConfig& m = c.model;
  m.family = "llama";
  m.apply_family_defaults();
  m.vocab_size = 32000;
  m.max_seq_len = 4096;
  m.n_layer = 80;
  m.n_head = 64;
  m.n_kv_head = 8;
  m.d_model = 8192;
  m.d_ff = 28672;
  m.finalize();
  c.train.global_batch = global_batch;
  c.train.seq_len = seq_len;
  return c;
}

ClusterSpec h200_nodes(int nodes) {
  ClusterSpec c;
  c.nodes = nodes;
  c.devices_per_node = 8;
  c.memory_bytes = 141e9;
  return c;
}

TEST(LayoutPlanner, PlansA70BModelOnAThousandGpus) {
  const RunConfig cfg = llama_70b(1024, 2048);
  const LayoutPlan plan = plan_layouts(cfg, h200_nodes(128));
  ASSERT_FALSE(plan.fits.empty());
  EXPECT_GT(plan.too_big, 0);  // tp 1 with pp 1 cannot hold 70B parameters with AdamW
  for (size_t i = 0; i < plan.fits.size(); ++i) {
    const LayoutPrediction& p = plan.fits[i];
    EXPECT_EQ(p.layout.world(), 1024);
    EXPECT_LE(p.layout.tp, 8);  // tensor parallelism within a node
    EXPECT_LE(static_cast<double>(p.memory_bytes), 141e9);
    EXPECT_GT(p.mfu, 0.0);
    EXPECT_LT(p.mfu, 0.6 + 1e-9);  // never above the kernels' efficiency
    EXPECT_EQ(p.micro_batch * p.micro_batches * p.layout.dp, 1024);
    if (i > 0) {
      EXPECT_GE(p.step_s, plan.fits[i - 1].step_s);  // best first
    }
  }
}

TEST(LayoutPlanner, MemoryIsTheRunPlans) {
  RunConfig cfg = llama_70b(64, 1024);
  cfg.train.micro_batch = 1;
  cfg.parallel.zero1 = true;
  const Layout layout{8, 4, 4};
  const LayoutPrediction p = predict_layout(cfg, layout, h200_nodes(16));
  RunConfig planned = cfg;
  planned.parallel.tp = 8;
  planned.parallel.pp = 4;
  planned.parallel.dp = 4;
  EXPECT_EQ(p.memory_bytes, plan_run(planned, layout).total_bytes());
  EXPECT_NEAR(p.bubble, 3.0 / (16 + 3), 1e-12);  // m = 64 / (1 x 4) = 16 micro-batches
}

TEST(LayoutPlanner, FasterHardwareIsNeverSlower) {
  RunConfig cfg = llama_70b(256, 1024);
  cfg.train.micro_batch = 1;
  const Layout layout{8, 4, 8};
  ClusterSpec base = h200_nodes(32);
  const LayoutPrediction p = predict_layout(cfg, layout, base);
  ClusterSpec fast_network = base;
  fast_network.inter_node_bandwidth *= 4;
  fast_network.intra_node_bandwidth *= 4;
  EXPECT_LT(predict_layout(cfg, layout, fast_network).step_s, p.step_s);
  ClusterSpec fast_chips = base;
  fast_chips.peak_flops *= 2;
  const LayoutPrediction q = predict_layout(cfg, layout, fast_chips);
  EXPECT_NEAR(q.compute_s, p.compute_s / 2, 1e-9 * p.compute_s);
  EXPECT_EQ(q.memory_bytes, p.memory_bytes);
}

TEST(LayoutPlanner, AModelThatFitsNowhereNamesTheSmallestLayout) {
  ClusterSpec tiny = h200_nodes(1);
  tiny.memory_bytes = 1e9;
  const LayoutPlan plan = plan_layouts(llama_70b(8, 1024), tiny);
  EXPECT_TRUE(plan.fits.empty());
  EXPECT_EQ(plan.too_big, plan.considered);
  EXPECT_GT(plan.smallest.memory_bytes, 1e9);
  EXPECT_EQ(plan.smallest.layout.world(), 8);
}

}  // namespace
}  // namespace tessera
