// tessera train: pretrain a model from a config, on every rank of the MPI job.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "backend/backend.hpp"
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
  std::string data, metrics, checkpoint_dir, resume, init_from;
  int64_t steps = 0, seed = 0;
  int tp = 0, pp = 0, dp = 0;
  bool dry_run = false, force = false;
  // the numeric flags given on the command line (any value they hold goes to the config, where it is checked)
  CLI::Option *steps_given = nullptr, *seed_given = nullptr, *tp_given = nullptr, *pp_given = nullptr,
              *dp_given = nullptr;
};

// The flags given as --set overrides, after the --set ones (a flag not given overrides nothing).
std::vector<std::string> overrides_of(const TrainFlags& f) {
  std::vector<std::string> overrides = f.sets;
  auto given = [](const CLI::Option* o) { return o != nullptr && o->count() > 0; };
  if (!f.data.empty()) overrides.push_back("data.path=" + toml_quote(f.data));
  if (given(f.steps_given)) overrides.push_back("train.steps=" + std::to_string(f.steps));
  if (given(f.seed_given)) overrides.push_back("train.seed=" + std::to_string(f.seed));
  if (given(f.tp_given)) overrides.push_back("parallel.tp=" + std::to_string(f.tp));
  if (given(f.pp_given)) overrides.push_back("parallel.pp=" + std::to_string(f.pp));
  if (given(f.dp_given)) overrides.push_back("parallel.dp=" + std::to_string(f.dp));
  if (!f.metrics.empty()) overrides.push_back("log.metrics=" + toml_quote(f.metrics));
  if (!f.checkpoint_dir.empty()) overrides.push_back("checkpoint.dir=" + toml_quote(f.checkpoint_dir));
  if (!f.resume.empty()) overrides.push_back("checkpoint.resume=" + toml_quote(f.resume));
  if (f.force) overrides.push_back("checkpoint.force=true");
  if (!f.init_from.empty()) overrides.push_back("checkpoint.init_from=" + toml_quote(f.init_from));
  return overrides;
}

}  // namespace

void add_train(CLI::App& app, const MpiRuntime& mpi) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand("train", "Pretrain a model (run under mpirun for several ranks)");
  cmd->footer(
      "Every flag but --config and --dry-run sets a config key (in brackets); a flag not given leaves the key to the "
      "config (defaults: docs/config.md; `tessera train -c PRESET --dry-run` prints them all). Presets: " +
      [] {
        std::string list;
        for (const std::string& n : preset_names()) list += (list.empty() ? "" : ", ") + n;
        return list;
      }());
  cmd->add_option("-c,--config", flags->config, "Config file, or a preset name (configs/; see below)");
  cmd->add_option("--set", flags->sets, "Override a config key: section.key=value (repeatable)")->default_str("");
  cmd->add_option("--data", flags->data, "Dataset directory [data.path]")->default_str("");
  flags->steps_given = cmd->add_option("--steps", flags->steps, "Optimizer steps [train.steps]")->default_str("");
  flags->seed_given =
      cmd->add_option("--seed", flags->seed, "Seed of initialisation, sampling and masking [train.seed]")
          ->default_str("");
  flags->tp_given = cmd->add_option("--tp", flags->tp, "Tensor-parallel ranks [parallel.tp]")->default_str("");
  flags->pp_given = cmd->add_option("--pp", flags->pp, "Pipeline-parallel stages [parallel.pp]")->default_str("");
  flags->dp_given = cmd->add_option("--dp", flags->dp, "Data-parallel ranks; 0: the rest of the world [parallel.dp]")
                        ->default_str("");
  cmd->add_option("--metrics", flags->metrics, "Write metrics as JSON lines to this file [log.metrics]")
      ->default_str("");
  cmd->add_option("--checkpoint-dir", flags->checkpoint_dir,
                  "Save checkpoints here (DIR/step-NNNNNNNN/, DIR/latest); a rerun resumes from it [checkpoint.dir]")
      ->default_str("");
  cmd->add_option("--resume", flags->resume,
                  "auto: from --checkpoint-dir's latest checkpoint if any; never; or a checkpoint's path "
                  "[checkpoint.resume]")
      ->default_str("");
  cmd->add_option("--init-from", flags->init_from,
                  "Start a new run (step 0, fresh optimizer and schedule) from this checkpoint's weights: continual "
                  "pretraining, fine-tuning [checkpoint.init_from]")
      ->default_str("");
  cmd->add_flag("--force", flags->force,
                "Train into a --checkpoint-dir that holds another run's checkpoints (or this run's, with --resume "
                "never) [checkpoint.force]");
  cmd->add_flag("--dry-run", flags->dry_run,
                "Print the resolved config and the plan (layout, parameters, memory per rank, FLOPs, tokens), then "
                "exit");
  cmd->callback([flags, &mpi] {
    // Errors of the config, the layout and the data are found before any communication and are the same on every
    // rank: reported once, exit 2, no rank left waiting.
    RunConfig config, resolved_config;
    Layout layout;
    std::optional<ResolvedRun> resolved;
    agree_on_setup(mpi, [&] {
      config = load_run_config(flags->config, overrides_of(*flags));
      // a dry run plans the layout it is given on any number of ranks (a 64-rank job from a laptop): tp * pp * dp
      // ranks, or with dp left open this job's ranks if tp * pp divides them, else tp * pp
      const ParallelConfig& p = config.parallel;
      int world = mpi.size();
      if (flags->dry_run && p.dp > 0) world = p.tp * p.pp * p.dp;
      if (flags->dry_run && p.dp == 0 && world % (p.tp * p.pp) != 0) world = p.tp * p.pp;
      layout = resolve_layout(config.parallel, world);
      resolved_config = config;
      resolved = resolve_run(resolved_config, layout);  // datasets opened and checked, the run planned
      if (!flags->dry_run && resolve_device(config.train.device) == "cpu") check_fits_in_memory(resolved->plan);
    });
    if (flags->dry_run) {  // the plan from the config and the dataset's metadata alone
      if (mpi.rank() != 0) return;
      fmt::print("# resolved config ({})\n{}\n\n", resolved_config.source, to_toml(resolved_config));
      fmt::print("{}\n", describe_run(resolved_config, resolved->plan, resolved->data));
      try {
        check_fits_in_memory(resolved->plan);
      } catch (const Error& e) {
        fmt::print("warning: on this machine: {}\n", e.what());
      }
      fmt::print("dry run: nothing allocated, nothing trained\n");
      return;
    }
    resolved.reset();
    ParallelState ps = ParallelState::create(layout);
    Trainer trainer(std::move(config), ps);
    trainer.run();
  });
}

}  // namespace tessera::cli
