// The training loop, and what the trainer resolves before it allocates anything. The loop's steps live beside it:
// trainer_setup.cpp, trainer_step.cpp, trainer_report.cpp (see trainer_impl.hpp).
#include "train/trainer.hpp"

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "core/check.hpp"
#include "train/stop_signal.hpp"
#include "train/trainer_impl.hpp"

namespace tessera {

void fit_model_to_data(ModelConfig& model, const TokenizerInfo& tok, const std::string& data_path, bool loss_mask) {
  if (loss_mask && model.objective == Objective::kMasked)
    TESSERA_RAISE(
        "{}: fine-tuning pairs (a loss mask on the responses) train a causal model; model.objective is \"mlm\"",
        data_path);
  if (model.vocab_size == 0) model.vocab_size = static_cast<int>(tok.vocab_size);
  if (tok.vocab_size > model.vocab_size)
    TESSERA_RAISE("{}: the dataset's vocabulary ({} tokens, tokenizer {}) exceeds model.vocab_size = {}", data_path,
                  tok.vocab_size, tok.name, model.vocab_size);
  if (model.objective == Objective::kMasked && model.mask_token_id < 0) {
    if (tok.mask_id < 0)
      TESSERA_RAISE("{}: model.objective = \"mlm\" but the dataset's tokenizer has no mask token", data_path);
    model.mask_token_id = static_cast<int>(tok.mask_id);
  }
}

void make_paths_absolute(RunConfig& cfg) {
  auto absolute = [](std::string& p) {
    if (!p.empty()) p = std::filesystem::absolute(p).lexically_normal().string();
  };
  absolute(cfg.data.path);
  for (std::string& p : cfg.data.paths) absolute(p);
  absolute(cfg.checkpoint.dir);
  absolute(cfg.log.metrics);
}

ResolvedRun resolve_run(RunConfig& cfg, const Layout& layout) {
  make_paths_absolute(cfg);
  ResolvedRun r;
  r.data = open_run_data(cfg.data);
  bool loss_mask = false;
  for (const TokenDataset* d : r.data.train_sets()) loss_mask = loss_mask || d->has_loss_mask();
  fit_model_to_data(cfg.model, r.data.tokenizer, r.data.paths[0], loss_mask);
  cfg.model.finalize();
  r.plan = plan_run(cfg, layout);
  r.resume = choose_resume(cfg, r.data.tokenizer, r.data.identity());
  return r;
}

TrainResult Trainer::Impl::run() {
  print_start();
  TrainResult result;
  result.first_step = start_step;
  result.peak_flops = peak_flops;
  result.device = backend->name();
  result.staged = devices->staged();
  const int64_t steps = cfg.train.steps;
  if (start_step >= steps) {
    if (main()) fmt::print("nothing to train: the checkpoint is at step {}, train.steps = {}\n", start_step, steps);
    return result;
  }
  const StopSignals signals;  // SIGTERM, SIGUSR1: a checkpoint at the next step boundary, then a clean stop
  run_start = Clock::now();
  if (ps.world.size() > 1 && cfg.parallel.timeout_s > 0)
    watchdog = std::make_unique<Watchdog>(cfg.parallel.timeout_s, ps.world.rank());
  for (int64_t step = start_step; step < steps; ++step) {
    const StepRecord record = train_step(step);
    result.steps.push_back(record);
    train_seconds += record.seconds;
    if (watchdog) watchdog->observe_step(record.seconds);
    const int64_t done = record.step;
    const bool last = done == steps;
    if (done % cfg.log.interval == 0 || last || done == 1) log_step(record);
    if (val_sampler && ((cfg.eval.interval > 0 && done % cfg.eval.interval == 0) || last))
      result.val_losses.emplace_back(done, evaluate(done));
    if ((cfg.checkpoint.interval > 0 && done % cfg.checkpoint.interval == 0) || last) save(done);
    if (!step_boundary(done, result)) break;
  }
  if (writer) writer->wait();
  watchdog.reset();
  result.peak_flops = peak_flops;
  return result;
}

Trainer::Trainer(RunConfig config, const ParallelState& parallel)
    : impl_(std::make_unique<Impl>(std::move(config), parallel)) {
  impl_->setup();
}

Trainer::~Trainer() = default;

const RunConfig& Trainer::config() const {
  return impl_->cfg;
}

TrainResult Trainer::run() {
  return impl_->run();
}

}  // namespace tessera
