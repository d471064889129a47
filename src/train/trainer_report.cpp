// What a step leaves behind: its log line and metrics, evaluations of the validation split, checkpoints, and the step
// boundary where every rank learns of signals and errors.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/peak_flops.hpp"
#include "core/readable.hpp"
#include "parallel/agreement.hpp"
#include "train/stop_signal.hpp"
#include "train/trainer_impl.hpp"

namespace tessera {

// The log line (rank 0) and the metrics line of a step. A step that ran above the MFU denominator raises it: the
// peak was measured at a slow moment, and the step is a better lower bound.
void Trainer::Impl::log_step(const StepRecord& r) {
  const int64_t steps = cfg.train.steps;
  const double tokens_per_s = static_cast<double>(global_batch) * T / r.seconds;
  const double achieved = model->flops_per_token(T) * tokens_per_s;  // model FLOP/s of the job
  if (achieved > peak_flops) {
    if (main() && !peak_raised)
      fmt::print(
          "note: step {} ran at {:.1f} GFLOP/s, above the MFU denominator {:.1f}; raised to it "
          "(`tessera info --peak --refresh` measures the peak again)\n",
          r.step, achieved / 1e9, peak_flops / 1e9);
    peak_raised = true;
    peak_flops = achieved;
    if (nodes == 1 && main()) raise_machine_peak(0, achieved);  // the next run starts from it
  }
  const double mfu = achieved / peak_flops;
  const double elapsed = std::chrono::duration<double>(Clock::now() - run_start).count();
  const double eta = train_seconds / static_cast<double>(r.step - start_step) * static_cast<double>(steps - r.step);
  const std::string now = utc_timestamp();
  if (main()) {
    fmt::print(
        "[{}] step {:>{}}/{} | loss {:.4f} | lr {:.3e} | grad norm {:.3f} | {:.0f} tok/s | {:.1f} GFLOP/s | "
        "MFU {:.1f}% | {:.0f} ms | elapsed {} | ETA {}{}\n",
        now, r.step, std::to_string(steps).size(), steps, r.loss, r.lr, r.grad_norm, tokens_per_s, achieved / 1e9,
        100 * mfu, r.seconds * 1e3, clock_string(elapsed), clock_string(eta),
        skipped > 0 ? fmt::format(" | skipped {}", skipped) : std::string());
    std::fflush(stdout);
  }
  write_metrics({{"step", r.step},
                 {"loss", r.loss},
                 {"lr", r.lr},
                 {"grad_norm", r.grad_norm},
                 {"tokens", consumed * T},
                 {"tokens_per_s", tokens_per_s},
                 {"gflops", achieved / 1e9},
                 {"mfu", mfu},
                 {"step_ms", r.seconds * 1e3},
                 {"dp_wait_ms", waits.dp_s * 1e3},
                 {"pp_wait_ms", waits.pp_s * 1e3},
                 {"pp_step_ms", waits.pp_step_s * 1e3},
                 {"skipped", skipped},
                 {"time", now}},
                r.step);
}

// Validation sequences an evaluation reads: eval.batches global batches (so that every layout evaluates the same
// samples), at most the split.
int64_t Trainer::Impl::eval_samples() const {
  const int64_t available = val_sampler->samples_per_epoch();
  return cfg.eval.batches > 0 ? std::min(available, int64_t{cfg.eval.batches} * global_batch) : available;
}

// The validation loss after `step`, logged and written to the metrics. An error on the way (a damaged shard) ends
// the run, after saving what was trained where that needs no other rank.
double Trainer::Impl::evaluate(int64_t step) {
  EvalResult val;
  try {
    val = evaluate_loss(
        *model, *val_sampler, *batches, kValStream, ps.dp, ps.pp, eval_samples(),
        [this] { phase(step_now, "evaluation"); }, &devices->pp());
  } catch (const Error& e) {
    const std::string saved = save_after_error(step);
    TESSERA_RAISE("{} (at the evaluation of step {}{})", e.what(), step, saved);
  }
  const int64_t val_batches = (val.samples + global_batch - 1) / global_batch;
  if (main()) {
    const bool whole = val.samples == val_sampler->samples_per_epoch();
    fmt::print("step {} | val loss {:.4f} | val ppl {:.2f} | {} = {}{}\n", step, val.loss, std::exp(val.loss),
               plural(val_batches, "batch", "batches"), plural(val.samples, "sequence", "sequences"),
               whole ? " (the whole val split)" : fmt::format(" (eval.batches = {})", cfg.eval.batches));
    std::fflush(stdout);
  }
  write_metrics({{"step", step},
                 {"val_loss", val.loss},
                 {"val_batches", val_batches},
                 {"val_sequences", val.samples},
                 {"tokens", consumed * T},
                 {"time", utc_timestamp()}},
                step);
  return val.loss;
}

// A checkpoint of this step (collective over the world); nothing if the run saves none or has just saved it.
void Trainer::Impl::save(int64_t step) {
  if (!writer || writer->last_step() == step) return;
  phase(step, "saving a checkpoint");
  writer->save({step, consumed, consumed * T, skipped}, *model, *optimizer);
}

// On an error met inside a collective phase (an evaluation), the model is saved only where that needs no other rank
// (a run of one rank); returns what to add to the error message.
std::string Trainer::Impl::save_after_error(int64_t step) {
  if (!writer) return "";
  if (ps.world.size() > 1) return "; no checkpoint saved (a save needs every rank)";
  save(step);
  return "; the model trained so far is saved";
}

// The end of a step, on every rank at once: one all-reduce tells every rank whether any was signalled, met an error
// of its own or is still writing a background checkpoint (completed once none is). One rank's error: every rank
// saves, then the run stops with it. A signal: every rank saves and the run stops cleanly. Returns whether the run
// goes on.
bool Trainer::Impl::step_boundary(int64_t step, TrainResult& result) {
  phase(step, "the step boundary");
  BoundaryVote vote;
  vote.signalled = StopSignals::received() != 0 ? 1 : 0;
  vote.errors = pending_error.empty() ? 0 : 1;
  vote.writing = writer && writer->writing() ? 1 : 0;
  ps.world.all_reduce_counters(vote);
  if (writer && vote.writing == 0) writer->wait();
  if (vote.errors > 0) {
    save(step);
    agree_on_error(ps.world, pending_error.empty()
                                 ? std::string()
                                 : pending_error + (writer ? "; a checkpoint of this step is saved" : ""));
  }
  if (vote.signalled == 0 || step >= cfg.train.steps) return true;
  save(step);
  if (writer) writer->wait();
  const int signal = StopSignals::received();
  result.stop_signal = signal != 0 ? signal : -1;
  if (main()) {
    fmt::print("stopped at step {} of {} on {}{}\n", step, cfg.train.steps,
               signal != 0 ? signal_name(signal) : "another rank's signal",
               writer ? "; rerun the same command to resume" : " (no checkpoint.dir: nothing saved)");
    std::fflush(stdout);
  }
  return false;
}

// A metrics line that cannot be written (a full disk) ends the run with an error at the step boundary, after every
// rank has saved a checkpoint.
void Trainer::Impl::write_metrics(const nlohmann::json& line, int64_t step) {
  if (!pending_error.empty() || metrics.write(line)) return;
  pending_error = fmt::format("{}: cannot write the metrics at step {} (disk full?)", cfg.log.metrics, step);
}

}  // namespace tessera
