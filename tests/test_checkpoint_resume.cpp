// Resume under mpirun: a run saved at one layout and resumed at another continues the uninterrupted run (losses
// within 1e-4 of the single-rank run), and at the same layout bit for bit.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "training_fixture.hpp"

namespace tessera {
namespace {

using testing::byte_shakespeare;
using testing::train;

struct ResumeLayout {
  std::string name;
  int tp, pp, dp;
  std::vector<std::string> set;
};

// Every pair among one rank, tp 2, pp 2, dp 2 with ZeRO-1 and tp 2 x pp 2 x dp 2 (those that fit the world): 4
// steps saved at the first, resumed at the second to step 8. Tiny models of both families (GPT-2's tied embedding
// lives on two pipeline stages; LLaMA has grouped-query attention). On the CPU; where there is a GPU, also one rank,
// pp 2 and tp 2 x pp 2 x dp 2 on it (ranks sharing it), so GPU checkpoints resume on the CPU and CPU ones on the GPU.
TEST(Resume, EveryLayoutPairContinuesTheRun) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const std::string data = byte_shakespeare();
  long pid = getpid();
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / fmt::format("tessera-resume-{}", pid);
  std::vector<ResumeLayout> layouts = {{"one", 1, 1, 1, {"train.device=cpu"}},
                                       {"tp2", 2, 1, 1, {"train.device=cpu"}},
                                       {"pp2", 1, 2, 1, {"train.device=cpu"}},
                                       {"dp2-zero1", 1, 1, 2, {"parallel.zero1=true", "train.device=cpu"}},
                                       {"tp2-pp2-dp2", 2, 2, 2, {"train.device=cpu"}}};
  int gpus = cuda_device_count();
  MPI_Bcast(&gpus, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (gpus > 0) {
    layouts.push_back({"one-cuda", 1, 1, 1, {"train.device=cuda"}});
    layouts.push_back({"pp2-cuda", 1, 2, 1, {"train.device=cuda"}});
    layouts.push_back({"tp2-pp2-dp2-cuda", 2, 2, 2, {"train.device=cuda", "parallel.zero1=true"}});
  } else if (rank == 0) {
    std::printf("no GPU (%s): the pairs between CPU and GPU checkpoints were not run\n",
                cuda_unavailable_reason().c_str());
  }
  double worst_cross = 0;
  int pairs = 0;
  for (const char* preset : {"tiny-gpt2", "tiny-llama"}) {
    const bool llama = std::string(preset) == "tiny-llama";
    auto overrides = [&](const ResumeLayout& l, int64_t steps, const std::vector<std::string>& more) {
      std::vector<std::string> o = {"data.path=" + data,
                                    "train.steps=" + std::to_string(steps),
                                    "train.micro_batch=2",
                                    "train.global_batch=8",
                                    "train.warmup_steps=2",
                                    "train.decay_steps=8",  // the same schedule in the runs of 4 and of 8 steps
                                    "model.n_layer=4",
                                    "model.n_head=8",
                                    llama ? "model.n_kv_head=4" : "model.n_kv_head=8",
                                    "eval.batches=1",
                                    "train.threads=1",
                                    "log.interval=100"};
      o.insert(o.end(), l.set.begin(), l.set.end());
      o.insert(o.end(), more.begin(), more.end());
      return o;
    };
    // runs a layout on the first ranks of the world (the others wait); rank 0's result
    auto run = [&](const ResumeLayout& l, int64_t steps, const std::vector<std::string>& more) {
      const int n = l.tp * l.pp * l.dp;
      MPI_Comm sub = MPI_COMM_NULL;
      MPI_Comm_split(MPI_COMM_WORLD, rank < n ? 0 : MPI_UNDEFINED, rank, &sub);
      TrainResult r;
      if (sub != MPI_COMM_NULL) {
        r = train(preset, overrides(l, steps, more), {l.tp, l.pp, l.dp}, sub);
        MPI_Comm_free(&sub);
      }
      MPI_Barrier(MPI_COMM_WORLD);
      return r;
    };
    std::map<std::string, TrainResult> full;
    for (const ResumeLayout& l : layouts) {
      if (l.tp * l.pp * l.dp > world) continue;
      full[l.name] = run(l, 8, {});
      run(l, 4, {"checkpoint.dir=" + (dir / preset / ("half-" + l.name)).string()});
    }
    for (const ResumeLayout& from : layouts) {
      if (!full.contains(from.name)) continue;
      for (const ResumeLayout& to : layouts) {
        if (!full.contains(to.name)) continue;
        const std::string what = fmt::format("{}: {} -> {}", preset, from.name, to.name);
        const TrainResult r = run(to, 8,
                                  {"checkpoint.dir=" + (dir / preset / (from.name + "-to-" + to.name)).string(),
                                   "checkpoint.resume=" + (dir / preset / ("half-" + from.name)).string()});
        if (rank != 0) continue;
        ++pairs;
        ASSERT_EQ(r.first_step, 4) << what;
        ASSERT_EQ(r.steps.size(), 4U) << what;
        const TrainResult& one = full.at("one");
        for (size_t i = 0; i < 4; ++i) {
          const double ref = one.steps[4 + i].loss;
          const double rel = std::abs(r.steps[i].loss - ref) / ref;
          EXPECT_LT(rel, 1e-4) << what << " step " << 5 + i;
          worst_cross = std::max(worst_cross, rel);
          if (from.name == to.name) {
            EXPECT_EQ(r.steps[i].loss, full.at(to.name).steps[4 + i].loss) << what << " step " << 5 + i;
            EXPECT_EQ(r.steps[i].grad_norm, full.at(to.name).steps[4 + i].grad_norm) << what << " step " << 5 + i;
          }
        }
      }
    }
  }
  if (rank == 0) {
    std::printf("%d resumed runs on %d ranks; worst relative loss difference against one rank %.3g\n", pairs, world,
                worst_cross);
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace tessera
