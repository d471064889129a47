#include "io/checkpoint/writer.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/readable.hpp"
#include "core/version.hpp"
#include "io/checkpoint/run_dir.hpp"
#include "io/checkpoint/shard_file.hpp"
#include "parallel/agreement.hpp"

namespace tessera {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct CheckpointWriter::Job {
  TrainPosition at;
  int64_t optimizer_steps = 0;
  const TensorTable* table = nullptr;
  std::vector<FlatRange> owned;
  // what this rank writes, in the weights' layout: the live buffers (a synchronous save without ZeRO-1) or the
  // writer's snapshot buffers (reused from save to save: no page faults after the first)
  const float* params = nullptr;
  const float* m = nullptr;
  const float* v = nullptr;
  std::string partial;
  Clock::time_point start;
  std::thread thread;
  std::atomic<bool> done{false};
  std::string error;  // of this rank's writing
};

CheckpointWriter::CheckpointWriter(const RunConfig& config, const ParallelState& parallel, CheckpointManifest base)
    : cfg_(config), ps_(parallel), base_(std::move(base)), tokenizer_(base_.tokenizer) {
  zero1_files_ = cfg_.parallel.zero1 && ps_.dp.size() > 1;
  base_.layout.tp = ps_.layout.tp;
  base_.layout.pp = ps_.layout.pp;
  base_.layout.dp = ps_.layout.dp;
  base_.layout.zero1 = zero1_files_;
  base_.tokenizer.files.clear();
  base_.tokenizer_files.clear();
  for (const auto& file : tokenizer_files(tokenizer_)) base_.tokenizer_files.push_back(file.second);
  base_.writer = fmt::format("tessera {} ({})", version(), git_commit());
  if (ps_.is_main() && !cfg_.checkpoint.dir.empty()) remove_leftovers(cfg_.checkpoint.dir);
  // the tokenizer's files are copied at every save: check now that they are there
  for (const auto& [source, name] : tokenizer_files(tokenizer_))
    if (ps_.is_main() && !cfg_.checkpoint.dir.empty() && !fs::is_regular_file(source))
      TESSERA_RAISE("tokenizer {}: file {} is missing (a checkpoint carries the tokenizer's files)", tokenizer_.name,
                    source);
}

CheckpointWriter::~CheckpointWriter() {
  if (job_ && job_->thread.joinable()) job_->thread.join();
}

void CheckpointWriter::write_files(Job& job) const {
  const Coord& c = ps_.coord;
  ShardPosition pos{c.tp_rank, ps_.layout.tp, c.pp_rank, ps_.layout.pp, c.dp_rank, job.at.step};
  const fs::path dir(job.partial);
  if (c.dp_rank == 0)
    write_model_shard((dir / shard_file_name(c.tp_rank, c.pp_rank)).string(), pos, *job.table, job.params,
                      zero1_files_ ? nullptr : job.m, zero1_files_ ? nullptr : job.v);
  if (zero1_files_) {
    ShardFileWriter w((dir / optimizer_file_name(c.tp_rank, c.pp_rank, c.dp_rank)).string(), pos);
    for (const FlatRange& r : job.owned)
      for (const TensorInfo& info : job.table->entries()) {
        const int64_t b = std::max(r.begin, info.offset), e = std::min(r.end, info.offset + info.numel);
        if (info.pp_copy || b >= e) continue;
        w.write_piece(StateKind::kExpAvg, info, b - info.offset, e - b, job.m + b);
        w.write_piece(StateKind::kExpAvgSq, info, b - info.offset, e - b, job.v + b);
      }
    w.finish();
  }
}

void CheckpointWriter::finish_directory(const Job& job) const {
  const fs::path run(cfg_.checkpoint.dir);
  const fs::path partial(job.partial);
  CheckpointManifest m = base_;
  m.step = job.at.step;
  m.consumed_samples = job.at.consumed_samples;
  m.tokens = job.at.tokens;
  m.skipped_steps = job.at.skipped_steps;
  m.optimizer_steps = job.optimizer_steps;
  m.created = utc_timestamp();
  int64_t bytes = 0;
  auto add = [&](const std::string& name) {
    const auto size = static_cast<int64_t>(fs::file_size(partial / name));
    m.files.push_back({name, size});
    bytes += size;
  };
  for (int p = 0; p < ps_.layout.pp; ++p)
    for (int t = 0; t < ps_.layout.tp; ++t) {
      add(shard_file_name(t, p));
      if (zero1_files_)
        for (int d = 0; d < ps_.layout.dp; ++d) add(optimizer_file_name(t, p, d));
    }
  const std::string final_dir = publish_checkpoint(run.string(), partial.string(), m, cfg_.checkpoint.keep);
  const double seconds = std::chrono::duration<double>(Clock::now() - job.start).count();
  fmt::print("checkpoint: saved {} ({} in {:.2f} s, {:.0f} MB/s{})\n", final_dir, bytes_string(bytes), seconds,
             static_cast<double>(bytes) / 1e6 / std::max(seconds, 1e-9),
             cfg_.checkpoint.async ? fmt::format("; training held up {:.3f} s", blocked_s_) : std::string());
  std::fflush(stdout);
}

void CheckpointWriter::save(const TrainPosition& at, const Transformer<float>& model, const AdamW& optimizer) {
  wait();
  const auto start = Clock::now();
  auto job = std::make_unique<Job>();
  job->at = at;
  job->start = start;
  job->optimizer_steps = optimizer.steps_taken();
  job->table = &model.table();
  job->owned = optimizer.owned();
  job->partial = partial_dir(cfg_.checkpoint.dir, at.step);
  agree_on_error(ps_.world, [&] {
    if (ps_.is_main()) begin_checkpoint(cfg_.checkpoint.dir, at.step, to_toml(cfg_), tokenizer_);
  });
  // this rank's moments and weights, where it writes them: the live buffers, or a host snapshot (a background save;
  // the moments of ZeRO-1 laid out as the weights; buffers in GPU memory)
  const auto n = static_cast<size_t>(model.table().total());
  const bool async = cfg_.checkpoint.async;
  const bool on_host = model.backend().device() == Device::kCpu;
  const auto bytes = static_cast<int64_t>(n * sizeof(float));
  job->params = model.params();
  if (ps_.coord.dp_rank == 0 || zero1_files_) {
    if (optimizer.owns_all() && !async && on_host) {
      job->m = optimizer.m();
      job->v = optimizer.v();
    } else {
      snapshot_m_.resize(n);  // kept from the last save, or reserved at start-up
      snapshot_v_.resize(n);
      if (optimizer.owns_all()) {
        optimizer.backend().download(snapshot_m_.data(), optimizer.m(), bytes);
        optimizer.backend().download(snapshot_v_.data(), optimizer.v(), bytes);
      } else {
        optimizer.export_state(snapshot_m_.data(), snapshot_v_.data());
      }
      job->m = snapshot_m_.data();
      job->v = snapshot_v_.data();
    }
  }
  if ((async || !on_host) && ps_.coord.dp_rank == 0) {
    snapshot_params_.resize(n);
    model.backend().download(snapshot_params_.data(), model.params(), bytes);
    job->params = snapshot_params_.data();
  }
  if (async) {
    Job* j = job.get();
    j->thread = std::thread([this, j] {
      try {
        write_files(*j);
      } catch (const std::exception& e) {
        j->error = e.what();
      }
      j->done = true;
    });
    job_ = std::move(job);
    last_step_ = at.step;
    blocked_s_ = std::chrono::duration<double>(Clock::now() - start).count();
    return;
  }
  try {
    write_files(*job);
  } catch (const std::exception& e) {
    job->error = e.what();
  }
  blocked_s_ = std::chrono::duration<double>(Clock::now() - start).count();
  last_step_ = at.step;
  complete(*job);
}

void CheckpointWriter::complete(Job& job) {
  try {
    agree_on_error(ps_.world, job.error.empty()
                                  ? std::string()
                                  : "checkpoint of step " + std::to_string(job.at.step) + ": " + job.error);
    agree_on_error(ps_.world, [&] {
      if (ps_.is_main()) finish_directory(job);
    });
  } catch (const AgreedError&) {
    if (ps_.is_main()) {
      std::error_code ec;
      fs::remove_all(job.partial, ec);  // the previous checkpoint and `latest` are untouched
    }
    throw;
  }
}

bool CheckpointWriter::writing() const {
  return job_ && !job_->done;
}

void CheckpointWriter::reserve_snapshot(int64_t n) {
  if (!cfg_.checkpoint.async) return;
  const auto size = static_cast<size_t>(n);
  if (ps_.coord.dp_rank == 0) snapshot_params_.assign(size, 0.0F);
  if (ps_.coord.dp_rank == 0 || zero1_files_) {
    snapshot_m_.assign(size, 0.0F);
    snapshot_v_.assign(size, 0.0F);
  }
}

void CheckpointWriter::wait() {
  if (!job_) return;
  job_->thread.join();
  std::unique_ptr<Job> job = std::move(job_);
  complete(*job);
}

}  // namespace tessera
