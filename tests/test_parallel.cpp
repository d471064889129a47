// Layout parity under mpirun: every tensor- and data-parallel layout gives the single-rank run's loss at every step
// and its final model; prepare and sampling agree across ranks.
#include <gtest/gtest.h>

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include "io/checkpoint/reader.hpp"
#include "io/hdf5_file.hpp"
#include "io/prepare.hpp"
#include "io/sampler.hpp"
#include "io/token_dataset.hpp"
#include "training_fixture.hpp"

namespace tessera {
namespace {

using testing::byte_shakespeare;
using testing::train;

// The parameters a run saved (its latest checkpoint), laid out as the single-rank model.
std::vector<float> saved_params(const std::string& dir) {
  const CheckpointReader reader(dir);
  const TensorTable table = Transformer<float>::plan_table(reader.config().model);
  std::vector<float> params(static_cast<size_t>(table.total()));
  reader.read(StateKind::kParams, table, params.data());
  return params;
}

// A layout against the single-rank run.
struct LayoutCase {
  int tp, pp, dp;
  std::vector<std::string> set;  // its parallel.* overrides beyond the sizes
  std::string name;
  std::string oracle;        // a case it must equal bit for bit ("" : none)
  bool ordered_p2p = false;  // the pipeline's messages as NCCL carries them (no tags)
  bool staged = false;       // the traffic through the staged communicator (ranks sharing a GPU)
};

bool is_bf16(const LayoutCase& c) {
  return std::find(c.set.begin(), c.set.end(), "train.dtype=bf16") != c.set.end();
}

std::vector<LayoutCase> layout_cases() {
  std::vector<LayoutCase> cases;
  for (const int pp : {1, 2})  // tp, pp, dp in {1, 2}
    for (const int dp : {1, 2})
      for (const int tp : {1, 2})
        if (tp * pp * dp > 1) cases.push_back({tp, pp, dp, {}, fmt::format("tp{}-pp{}-dp{}", tp, pp, dp), ""});
  cases.push_back({4, 1, 1, {}, "tp4", ""});
  cases.push_back({1, 4, 1, {}, "pp4", ""});
  cases.push_back({1, 2, 1, {"parallel.pp_schedule=afab"}, "pp2-afab", "tp1-pp2-dp1"});
  cases.push_back({1, 2, 1, {"parallel.virtual_stages=2"}, "pp2-v2", ""});
  cases.push_back({1, 2, 1, {"parallel.virtual_stages=2", "parallel.pp_schedule=afab"}, "pp2-v2-afab", "pp2-v2"});
  cases.push_back({1, 2, 1, {"parallel.pp_layers=[3, 1]"}, "pp2-uneven", ""});
  cases.push_back({2, 1, 1, {"parallel.sequence_parallel=true"}, "tp2-sp", ""});
  cases.push_back({4, 1, 1, {"parallel.sequence_parallel=true"}, "tp4-sp", ""});
  cases.push_back({2, 2, 2, {"parallel.sequence_parallel=true"}, "tp2-pp2-dp2-sp", ""});
  cases.push_back({1, 1, 2, {"parallel.zero1=true"}, "dp2-zero1", ""});
  cases.push_back({1, 1, 4, {"parallel.zero1=true"}, "dp4-zero1", ""});
  cases.push_back({1, 1, 2, {"parallel.overlap_grad_reduce=false"}, "dp2-no-overlap", ""});
  cases.push_back({1, 2, 2, {"parallel.zero1=true"}, "pp2-dp2-zero1", ""});
  cases.push_back({2, 2, 2, {"parallel.zero1=true", "parallel.sequence_parallel=true"}, "tp2-pp2-dp2-zero1-sp", ""});
  // recomputation trains the same model bit for bit, its collectives recomputed too
  cases.push_back({2, 1, 1, {"parallel.sequence_parallel=true", "train.recompute=full"}, "tp2-sp-full", "tp2-sp"});
  // the materialised attention (the others run flash attention), and selective recomputation of its probabilities
  cases.push_back({2, 2, 1, {"train.attention=materialized"}, "tp2-pp2-materialized", ""});
  cases.push_back({2,
                   2,
                   1,
                   {"train.attention=materialized", "train.recompute=selective"},
                   "tp2-pp2-selective",
                   "tp2-pp2-materialized"});
  cases.push_back({2, 2, 1, {"train.recompute=full"}, "tp2-pp2-full", "tp2-pp2-dp1"});
  cases.push_back(
      {2, 2, 2, {"parallel.sequence_parallel=true", "train.recompute=full"}, "tp2-pp2-dp2-sp-full", "tp2-pp2-dp2-sp"});
  // bf16 matrix products (train.dtype): against one rank in bf16 (is_bf16); pipeline-only moves whole tensors, so an
  // untied model still gives its single rank's bits
  cases.push_back({1, 2, 1, {"train.dtype=bf16"}, "pp2-bf16", ""});
  cases.push_back({2, 2, 1, {"train.dtype=bf16"}, "tp2-pp2-bf16", ""});
  cases.push_back({2,
                   2,
                   2,
                   {"parallel.sequence_parallel=true", "parallel.zero1=true", "train.dtype=bf16"},
                   "tp2-pp2-dp2-sp-zero1-bf16",
                   ""});
  // the GPU's point-to-point (NCCL: no tags, messages matched to receives in the order these were posted) on every
  // schedule; the interleaved one consumes its messages in another order than its peer sends them
  cases.push_back({1, 2, 1, {}, "pp2-ordered", "tp1-pp2-dp1", true});
  cases.push_back({1, 2, 1, {"parallel.pp_schedule=afab"}, "pp2-afab-ordered", "pp2-afab", true});
  cases.push_back({1, 2, 1, {"parallel.virtual_stages=2"}, "pp2-v2-ordered", "pp2-v2", true});
  cases.push_back({1, 4, 1, {}, "pp4-ordered", "pp4", true});
  cases.push_back({2, 2, 2, {"parallel.sequence_parallel=true"}, "tp2-pp2-dp2-sp-ordered", "tp2-pp2-dp2-sp", true});
  // the staged communicator of ranks sharing a GPU (host copies around MPI's calls): MPI's bits, every schedule
  cases.push_back({2,
                   2,
                   2,
                   {"parallel.zero1=true", "parallel.sequence_parallel=true"},
                   "tp2-pp2-dp2-zero1-sp-staged",
                   "tp2-pp2-dp2-zero1-sp",
                   false,
                   true});
  cases.push_back({1, 2, 1, {"parallel.virtual_stages=2"}, "pp2-v2-staged", "pp2-v2", false, true});
  return cases;
}

// Every layout of layout_cases() that fits the world, on its first tp * pp * dp ranks, against the single-rank run:
// 10 steps of tiny models of both families and objectives (4 layers, 8 heads; grouped-query for LLaMA): step-1 loss
// within 1e-6 relative, every step within 1e-4, the saved model within 1e-4. Pipeline-only layouts move whole
// tensors between ranks: an untied model (LLaMA) gives the single-rank losses and model bit for bit, a tied one
// (GPT-2, whose embedding gradient is summed over two stages) within 1e-6. Schedules with an oracle equal it bit
// for bit.
TEST(Parity, EveryLayoutMatchesOneRank) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const std::string data = byte_shakespeare();
  long pid = getpid();
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / fmt::format("tessera-parity-{}", pid);
  double worst_first = 0, worst_step = 0, worst_param = 0, worst_pp_tied = 0, worst_bf16 = 0, worst_bf16_param = 0;
  int cases_run = 0;
  std::set<std::string> devices;  // where the layouts ran (train.device = "auto": the GPU where there is one)
  for (const char* preset : {"tiny-gpt2", "tiny-llama"}) {
    for (const char* objective : {"clm", "mlm"}) {
      const bool llama = std::string(preset) == "tiny-llama";
      const std::filesystem::path runs = dir / preset / objective;  // a run directory per model and objective
      auto overrides = [&](const std::string& name, const std::vector<std::string>& more) {
        std::vector<std::string> o = {"data.path=" + data,
                                      "train.steps=10",
                                      "train.micro_batch=2",
                                      "train.global_batch=8",
                                      "model.n_layer=4",
                                      "model.n_head=8",
                                      llama ? "model.n_kv_head=4" : "model.n_kv_head=8",
                                      std::string("model.objective=") + objective,
                                      "eval.batches=2",
                                      "train.threads=1",          // no collective over the world to count cores
                                      "parallel.bucket_mb=0.02",  // many gradient buckets (the model is 1 MB)
                                      "log.interval=100",
                                      "checkpoint.dir=" + (runs / name).string()};
        o.insert(o.end(), more.begin(), more.end());
        return o;
      };
      // the reference: world rank 0 alone
      TrainResult one_fp32, one_bf16;
      std::vector<float> one_fp32_params, one_bf16_params;
      if (rank == 0) {
        one_fp32 = train(preset, overrides("one", {}), {1, 1, 1}, MPI_COMM_SELF);
        one_fp32_params = saved_params((runs / "one").string());
        one_bf16 = train(preset, overrides("one-bf16", {"train.dtype=bf16"}), {1, 1, 1}, MPI_COMM_SELF);
        one_bf16_params = saved_params((runs / "one-bf16").string());
        // bf16 products train a model near fp32's, not the same one
        EXPECT_NEAR(one_bf16.steps.back().loss, one_fp32.steps.back().loss, 1e-2 * one_fp32.steps.back().loss);
        EXPECT_NE(one_bf16.steps.back().loss, one_fp32.steps.back().loss);
      }
      std::map<std::string, std::pair<TrainResult, std::vector<float>>> done;  // rank 0: every case's run
      for (const LayoutCase& c : layout_cases()) {
        const int n = c.tp * c.pp * c.dp;
        if (n > world) continue;
        MPI_Comm sub = MPI_COMM_NULL;  // the first n ranks train; the others wait
        MPI_Comm_split(MPI_COMM_WORLD, rank < n ? 0 : MPI_UNDEFINED, rank, &sub);
        const std::string what = fmt::format("{} {} {}", preset, objective, c.name);
        if (sub != MPI_COMM_NULL) {
          const TrainResult all =
              train(preset, overrides(c.name, c.set), {c.tp, c.pp, c.dp}, sub, c.ordered_p2p, c.staged);
          MPI_Comm_free(&sub);
          if (rank == 0) {
            ++cases_run;
            devices.insert(all.device + (all.staged ? " (staged through host memory)" : ""));
            const bool bf16 = is_bf16(c);
            const TrainResult& one = bf16 ? one_bf16 : one_fp32;
            const std::vector<float>& one_params = bf16 ? one_bf16_params : one_fp32_params;
            // a bf16 operand rounds a value that differs by fp32 rounding between layouts to a neighbour now and then;
            // AdamW turns the sign of a near-zero gradient into a step of up to lr, so a parameter moves further
            const double loose = bf16 ? 10 : 1, loose_params = bf16 ? 100 : 1;
            const std::vector<float> params = saved_params((runs / c.name).string());
            ASSERT_EQ(one.steps.size(), all.steps.size()) << what;
            ASSERT_EQ(params.size(), one_params.size()) << what;
            const bool pipeline_only = c.tp == 1 && c.dp == 1;
            double worst = 0, worst_loss = 0;
            for (size_t i = 0; i < one.steps.size(); ++i) {
              const double rel = std::abs(one.steps[i].loss - all.steps[i].loss) / std::abs(one.steps[i].loss);
              EXPECT_LT(rel, loose * (i == 0 ? 1e-6 : 1e-4))
                  << what << " step " << i + 1 << ": " << one.steps[i].loss << " vs " << all.steps[i].loss;
              if (pipeline_only && llama) {
                EXPECT_EQ(one.steps[i].loss, all.steps[i].loss) << what << " step " << i + 1;
              }
              if (pipeline_only && !llama) {
                EXPECT_LT(rel, loose * 1e-6) << what << " step " << i + 1;
              }
              double& worst_here = bf16 ? worst_bf16 : (i == 0 ? worst_first : worst_step);
              worst_here = std::max(worst_here, rel);
              worst_loss = std::max(worst_loss, rel);
            }
            EXPECT_LT(
                std::abs(one.val_losses.back().second - all.val_losses.back().second) / one.val_losses.back().second,
                loose * 1e-4)
                << what << ": validation loss";
            for (size_t k = 0; k < params.size(); ++k)
              worst = std::max(worst, static_cast<double>(std::abs(params[k] - one_params[k])));
            EXPECT_LT(worst, loose_params * 1e-4) << what << ": final parameters";
            if (pipeline_only && llama) {
              EXPECT_EQ(worst, 0.0) << what << ": final parameters bit for bit";
            }
            if (pipeline_only && !llama) worst_pp_tied = std::max(worst_pp_tied, worst_loss);
            double& worst_param_here = bf16 ? worst_bf16_param : worst_param;
            worst_param_here = std::max(worst_param_here, worst);
            if (!c.oracle.empty() && done.contains(c.oracle)) {
              const auto& [oracle, oracle_params] = done.at(c.oracle);
              for (size_t i = 0; i < oracle.steps.size(); ++i)
                EXPECT_EQ(oracle.steps[i].loss, all.steps[i].loss) << what << " against " << c.oracle;
              EXPECT_EQ(oracle_params, params) << what << " against " << c.oracle << ": final parameters";
            }
            done[c.name] = {all, params};
          }
        }
        MPI_Barrier(MPI_COMM_WORLD);
      }
    }
  }
  if (rank == 0) {
    std::printf(
        "%d layout runs on %d ranks; worst relative loss difference: step 1 %.3g, steps 2-10 %.3g (tied, "
        "pipeline only: %.3g); worst parameter difference %.3g; bf16 layouts against one bf16 rank: loss %.3g, "
        "parameters %.3g; on %s\n",
        cases_run, world, worst_first, worst_step, worst_pp_tied, worst_param, worst_bf16, worst_bf16_param,
        fmt::format("{}", fmt::join(devices, ", ")).c_str());
    std::filesystem::remove_all(dir);
  }
}

// A temporary directory that every rank names alike (rank 0's pid), and options to prepare tinyshakespeare into it.
PrepareOptions shakespeare_options(const std::string& name, const std::string& tokenizer, std::filesystem::path& dir) {
  long pid = getpid();
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  dir = std::filesystem::temp_directory_path() / ("tessera-" + name + "-" + std::to_string(pid));
  PrepareOptions o;
  o.inputs = {testing::shakespeare_path()};
  o.tokenizer = tokenizer;
  o.doc_boundary = "blank";
  return o;
}

TEST(Prepare, AnyNumberOfRanksWritesTheSameDataset) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  std::filesystem::path dir;
  PrepareOptions o = shakespeare_options("prepare-ranks", "gpt2", dir);
  o.shard_tokens = 100000;  // several shards
  o.output = (dir / "all").string();
  o.batch_bytes = 50000;  // many batches on many ranks; one batch on one rank: the same dataset
  const ProcessGroup all = ProcessGroup::borrow(MPI_COMM_WORLD);
  const PrepareSummary many = prepare_dataset(o, all);
  if (rank == 0) {
    o.output = (dir / "one").string();
    o.batch_bytes = int64_t{64} << 20;
    const PrepareSummary one = prepare_dataset(o);
    EXPECT_EQ(many.train_tokens, one.train_tokens);
    EXPECT_EQ(many.val_documents, one.val_documents);
    EXPECT_GT(one.train_shards, 2);
    for (const char* split : {"train", "val"}) {
      for (const std::string& a : shard_paths((dir / "all").string(), split)) {
        const std::string b = (dir / "one" / std::filesystem::path(a).filename()).string();
        h5::File fa(a, h5::Mode::kRead), fb(b, h5::Mode::kRead);
        EXPECT_EQ(fa.read<uint16_t>("/tokens"), fb.read<uint16_t>("/tokens")) << a << " with " << world << " ranks";
        EXPECT_EQ(fa.read<uint64_t>("/doc_offsets"), fb.read<uint64_t>("/doc_offsets")) << a;
      }
    }
    std::filesystem::remove_all(dir);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(Sampling, EveryProcessDrawsTheSameOrder) {
  // each rank builds its own sampler from the same dataset and seed: the orders of two epochs agree everywhere
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::filesystem::path dir;
  PrepareOptions o = shakespeare_options("sampling-ranks", "byte", dir);
  o.output = (dir / "ds").string();
  o.progress = false;
  const ProcessGroup all = ProcessGroup::borrow(MPI_COMM_WORLD);
  prepare_dataset(o, all);
  const TokenDataset data(o.output, "train");
  Sampler sampler(data, 64, 42, true);
  std::vector<int64_t> order;
  for (int64_t k = 0; k < 2 * sampler.samples_per_epoch(); ++k) order.push_back(sampler.sequence_of(k));
  std::vector<int64_t> root = order;
  MPI_Bcast(root.data(), static_cast<int>(root.size()), MPI_INT64_T, 0, MPI_COMM_WORLD);
  EXPECT_EQ(order, root) << "rank " << rank;
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
