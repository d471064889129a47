// tessera train: pretrain a model from a config, on every rank of the MPI job.
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "core/check.hpp"
#include "train/trainer.hpp"

namespace tessera::cli {

std::string toml_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

namespace {
struct TrainFlags {
  std::string config;
  std::vector<std::string> sets;
  std::string data, metrics, checkpoint_dir;
  int64_t steps = 0, seed = -1;
  int tp = 0, pp = 0, dp = -1;
};
}  // namespace

void add_train(CLI::App& app, const MpiRuntime& mpi) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand("train", "Pretrain a model (run under mpirun for several ranks)");
  cmd->add_option("-c,--config", flags->config, "Config file, or a preset name from configs/ (e.g. tiny-gpt2)");
  cmd->add_option("--set", flags->sets, "Override a config key: section.key=value (repeatable)");
  cmd->add_option("--data", flags->data, "Dataset directory (data.path)");
  cmd->add_option("--steps", flags->steps, "Optimizer steps (train.steps)");
  cmd->add_option("--seed", flags->seed, "Seed of initialisation, sampling and masking (train.seed)");
  cmd->add_option("--tp", flags->tp, "Tensor-parallel ranks (parallel.tp)");
  cmd->add_option("--pp", flags->pp, "Pipeline-parallel stages (parallel.pp)");
  cmd->add_option("--dp", flags->dp, "Data-parallel ranks (parallel.dp; 0: the rest of the world)");
  cmd->add_option("--metrics", flags->metrics, "Write metrics as JSON lines to this file (log.metrics)");
  cmd->add_option("--checkpoint-dir", flags->checkpoint_dir, "Save the model here (checkpoint.dir)");
  cmd->callback([flags, &mpi] {
    std::vector<std::string> overrides = flags->sets;
    if (!flags->data.empty()) overrides.push_back("data.path=" + toml_quote(flags->data));
    if (flags->steps > 0) overrides.push_back("train.steps=" + std::to_string(flags->steps));
    if (flags->seed >= 0) overrides.push_back("train.seed=" + std::to_string(flags->seed));
    if (flags->tp > 0) overrides.push_back("parallel.tp=" + std::to_string(flags->tp));
    if (flags->pp > 0) overrides.push_back("parallel.pp=" + std::to_string(flags->pp));
    if (flags->dp >= 0) overrides.push_back("parallel.dp=" + std::to_string(flags->dp));
    if (!flags->metrics.empty()) overrides.push_back("log.metrics=" + toml_quote(flags->metrics));
    if (!flags->checkpoint_dir.empty()) overrides.push_back("checkpoint.dir=" + toml_quote(flags->checkpoint_dir));
    RunConfig config = load_run_config(flags->config, overrides);
    Layout layout{config.parallel.tp, config.parallel.pp, config.parallel.dp};
    if (layout.dp == 0) layout.dp = std::max(1, mpi.size() / (layout.tp * layout.pp));
    ParallelState ps = ParallelState::create(layout);
    Trainer trainer(std::move(config), ps);
    trainer.run();
  });
}

}  // namespace tessera::cli
