#include "train/trainer.hpp"

#include <omp.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/blas.hpp"
#include "core/check.hpp"
#include "core/peak_flops.hpp"
#include "io/blended_sampler.hpp"
#include "io/checkpoint_shard.hpp"
#include "io/progress.hpp"
#include "model/transformer.hpp"
#include "ops/ops.hpp"
#include "optim/adamw.hpp"
#include "optim/lr_schedule.hpp"
#include "parallel/agreement.hpp"
#include "parallel/grad_reducer.hpp"
#include "parallel/pipeline.hpp"
#include "train/batch.hpp"
#include "train/checkpoint_reader.hpp"
#include "train/checkpointer.hpp"
#include "train/evaluate.hpp"
#include "train/grad_norm.hpp"
#include "train/run_data.hpp"
#include "train/stop_signal.hpp"
#include "train/watchdog.hpp"

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
  r.resume = choose_resume(cfg, r.data);
  return r;
}

namespace {
// The processes of `base` on this machine (the caller frees the communicator).
MPI_Comm node_comm(MPI_Comm base) {
  MPI_Comm local = MPI_COMM_NULL;
  MPI_Comm_split_type(base, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
  return local;
}
int cores() {
  return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}
// The cores this process may run on: mpirun binds each rank to one core when it starts one or two of them.
int allowed_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cores();
  return std::max(1, CPU_COUNT(&set));
}
}  // namespace

int set_compute_threads(int threads, std::string* note) {
  if (threads == 0) {
    // the processes of the job on this machine share its cores (also when a run uses a subgroup of the job), and
    // a rank uses no more threads than the cores it is bound to
    MPI_Comm local = node_comm(MPI_COMM_WORLD);
    int local_size = 1;
    MPI_Comm_size(local, &local_size);
    MPI_Comm_free(&local);
    const int share = std::max(1, cores() / local_size);
    threads = std::min(share, allowed_cores());
    if (note != nullptr && threads < share)
      *note = fmt::format(
          "this rank is bound to {} of the {} cores it could use (mpirun binds ranks to cores; mpirun --bind-to none "
          "lets the threads spread)",
          threads, share);
  }
  omp_set_num_threads(threads);
  set_blas_threads(threads);
  return threads;
}

struct Trainer::Impl {
  RunConfig cfg;
  const ParallelState& ps;
  RunData data;
  RunPlan plan;
  std::unique_ptr<BlendedSampler> train_sampler, val_sampler;
  std::unique_ptr<Transformer<float>> model;
  std::unique_ptr<PipelineRunner> pipeline;  // this rank's forwards and backwards of one step
  std::unique_ptr<GradNorm> grad_norm;
  std::unique_ptr<GradReducer> reducer;
  bool overlap = false;  // data-parallel reduction overlapped with backward
  double dp_wait_s = 0;  // time the last step waited for it after backward
  std::unique_ptr<AdamW> optimizer;
  LrSchedule schedule;
  std::unique_ptr<BatchBuilder> batches;
  std::unique_ptr<Checkpointer> checkpointer;  // nullptr: checkpoint.dir is empty
  ResumeChoice resume;
  int64_t start_step = 0;     // steps done before this run (from the checkpoint resumed)
  int64_t consumed = 0;       // training samples read so far: the sampler's position
  std::string pending_error;  // an error met by this rank alone, acted on by every rank at the step boundary
  int T = 0, mb = 0, dp = 1, grad_accum = 1, global_batch = 0;
  double peak_flops = 0;    // of the whole job, FLOP/s
  std::string peak_source;  // where it came from, for the log
  int64_t nodes = 0;        // machines of the job (0: the peak was declared, not measured)
  int threads = 1;
  std::string threads_note;  // why this rank has fewer threads than its share of the cores
  int64_t skipped = 0;       // steps skipped for a non-finite loss or gradient norm
  // this rank's micro-batches of one step: inputs and targets, (grad_accum, mb, T)
  std::vector<int32_t> inputs, targets, seq;
  std::vector<uint8_t> mask;  // the loss mask of a sampled sequence (fine-tuning data), else empty
  std::FILE* metrics = nullptr;
  std::unique_ptr<Watchdog> watchdog;  // several ranks: a stuck peer ends the job instead of hanging it

  Impl(RunConfig c, const ParallelState& p) : cfg(std::move(c)), ps(p) {}
  ~Impl() {
    if (metrics != nullptr) std::fclose(metrics);
  }

  bool main() const { return ps.is_main(); }
  int64_t step_now = 0;  // 1-based step being run, for the watchdog's message
  void phase(int64_t step, const char* what) const {
    if (watchdog) watchdog->enter(step, what);
  }

  void setup();
  void check_outputs() const;
  void check_val_tokens();
  void measure_peak();
  int64_t eval_samples() const;
  EvalResult evaluate();
  void load_checkpoint(const std::string& dir, bool resume_run);
  void save(int64_t step);
  std::string save_after_error(int64_t step);
  Checkpointer::Poll poll_ranks(bool signalled, bool error);
  void reduce_tied_embedding();
  void write_metrics(const nlohmann::json& j, int64_t step);
  TrainResult run();
};

void Trainer::Impl::setup() {
  ParallelConfig layout = cfg.parallel;  // the groups' layout, checked as a config's would be
  layout.tp = ps.layout.tp;
  layout.pp = ps.layout.pp;
  layout.dp = ps.layout.dp;
  resolve_layout(layout, ps.world.size());
  threads = set_compute_threads(cfg.train.threads, &threads_note);
  ResolvedRun resolved = resolve_run(cfg, ps.layout);
  data = std::move(resolved.data);
  plan = resolved.plan;
  resume = resolved.resume;
  if (data.val.empty() && main()) fmt::print("note: {} has no val split: no validation loss\n", data.describe());

  dp = ps.dp.size();
  mb = plan.micro_batch;
  T = plan.seq_len;
  global_batch = plan.global_batch;
  grad_accum = plan.grad_accum;

  train_sampler =
      std::make_unique<BlendedSampler>(data.train_sets(), data.weights, T, cfg.train.seed, cfg.data.shuffle);
  if (!data.val.empty())
    val_sampler = std::make_unique<BlendedSampler>(data.val_sets(), data.weights, T, cfg.train.seed, false);

  check_fits_in_memory(plan);
  const ModelShard shard = plan_shard(cfg, plan, ps.coord);
  model = std::make_unique<Transformer<float>>(cfg.model, mb, T, &ps.tp, shard);
  pipeline = std::make_unique<PipelineRunner>(
      *model, pipeline_order(plan.schedule, shard.pp, shard.pp_rank, grad_accum, shard.virtual_stages), grad_accum,
      ps.pp);
  // a checkpoint read below sets every tensor: the (costly) initialisation only for a fresh start
  if (resume.checkpoint.empty() && resume.init_from.empty()) model->init_weights(cfg.train.seed);
  grad_norm = std::make_unique<GradNorm>(model->table(), Transformer<float>::plan_table(cfg.model).size());
  AdamWConfig oc;
  oc.beta1 = cfg.train.beta1;
  oc.beta2 = cfg.train.beta2;
  oc.eps = cfg.train.eps;
  oc.weight_decay = cfg.train.weight_decay;
  oc.decay_embeddings = cfg.train.decay_embeddings;
  // data-parallel reduction in buckets (overlapped with backward), ZeRO-1's ranges; the tied embedding's gradient
  // is reduced over the embedding group first, so its bucket waits for the end of backward
  std::vector<int> late;
  if (cfg.model.tie_embeddings && ps.embedding.size() > 1 && model->embedding_index() >= 0)
    late.push_back(model->embedding_index());
  const auto bucket = static_cast<int64_t>(cfg.parallel.bucket_mb * 1024 * 1024 / sizeof(float));
  reducer = std::make_unique<GradReducer>(model->table(), model->grads(), ps.dp, bucket, cfg.parallel.zero1, late);
  overlap = cfg.parallel.overlap_grad_reduce && ps.dp.size() > 1;
  if (overlap) {
    model->set_grads_ready_hook([this](int first, int last) {
      model->reduce_sequence_parallel_grads(first, last);
      reducer->tensors_ready(first, last);
    });
  }
  optimizer = std::make_unique<AdamW>(model->table(), oc, reducer->owned());
  schedule.max_lr = cfg.train.lr;
  schedule.min_lr = cfg.train.min_lr;
  schedule.warmup_steps = cfg.train.warmup_steps;
  schedule.total_steps = cfg.train.decay_steps == 0 ? cfg.train.steps : cfg.train.decay_steps;
  schedule.decay = parse_decay(cfg.train.lr_decay);
  MlmMasking masking;
  masking.mask_id = cfg.model.mask_token_id;
  masking.random_vocab = static_cast<int32_t>(data.tokenizer.regular_vocab_size);
  batches = std::make_unique<BatchBuilder>(cfg.model.objective, masking, cfg.train.seed);

  const size_t n = static_cast<size_t>(grad_accum) * mb * T;
  inputs.assign(n, 0);
  targets.assign(n, -1);
  seq.assign(static_cast<size_t>(T) + 1, 0);
  if (train_sampler->has_loss_mask()) mask.assign(static_cast<size_t>(T) + 1, 1);

  check_outputs();
  if (!cfg.checkpoint.dir.empty()) {
    checkpointer = std::make_unique<Checkpointer>(cfg, ps, data, plan);
    checkpointer->reserve_snapshot(model->table().total());
  }
  if (!resume.checkpoint.empty()) load_checkpoint(resume.checkpoint, true);
  if (!resume.init_from.empty()) load_checkpoint(resume.init_from, false);
  check_val_tokens();
  measure_peak();
  if (main() && !cfg.log.metrics.empty()) {
    const std::filesystem::path parent = std::filesystem::path(cfg.log.metrics).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent);
    // a resumed run appends to its metrics, after the lines of the steps its checkpoint holds
    if (start_step > 0) truncate_metrics(cfg.log.metrics, start_step);
    metrics = std::fopen(cfg.log.metrics.c_str(), start_step > 0 ? "a" : "w");
    if (metrics == nullptr) TESSERA_RAISE("{}: cannot open the metrics file for writing", cfg.log.metrics);
  }
}

// A checkpoint read into this rank's shard (any layout): resume_run: its weights, AdamW's state and the data
// position (the run goes on); else (checkpoint.init_from) its weights, and its moments with
// checkpoint.init_optimizer, for a new run from step 0. Every rank reads its own tensors; a damaged file found by any
// rank stops every rank with one line.
void Trainer::Impl::load_checkpoint(const std::string& dir, bool resume_run) {
  int64_t steps_stored = 0, bytes = 0;
  bool has_optimizer = false;
  const auto start = std::chrono::steady_clock::now();
  agree_on_error(ps.world, [&] {
    const std::unique_ptr<WeightSource> source = open_weights(dir);
    const WeightSource& reader = *source;
    const CheckpointManifest& m = reader.manifest();
    bytes = reader.bytes();
    reader.read(StateKind::kParams, model->table(), model->params());
    steps_stored = m.step;
    has_optimizer = m.optimizer_state && (resume_run || cfg.checkpoint.init_optimizer);
    if (has_optimizer && optimizer->owns_all()) {  // straight into AdamW's state
      reader.read(StateKind::kExpAvg, model->table(), optimizer->m().data());
      reader.read(StateKind::kExpAvgSq, model->table(), optimizer->v().data());
      optimizer->set_steps_taken(m.optimizer_steps);
    } else if (has_optimizer) {  // ZeRO-1: this rank's ranges of them
      std::vector<float> mom(static_cast<size_t>(model->table().total())), var(mom.size());
      reader.read(StateKind::kExpAvg, model->table(), mom.data());
      reader.read(StateKind::kExpAvgSq, model->table(), var.data());
      optimizer->import_state(mom.data(), var.data(), m.optimizer_steps);
    }
    if (!resume_run) return;
    start_step = m.step;
    consumed = m.consumed_samples;
    skipped = m.skipped_steps;
  });
  ps.world.barrier();  // every rank has its part
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string took = fmt::format("{} read in {:.2f} s, {:.0f} MB/s", bytes_string(bytes), seconds,
                                       static_cast<double>(bytes) / 1e6 / std::max(seconds, 1e-9));
  if (main() && resume_run)
    fmt::print("resumed from {}: step {}, {} consumed{} ({})\n", dir, steps_stored,
               plural(consumed, "sample", "samples"),
               has_optimizer ? "" : " (it holds no optimizer state: AdamW starts afresh)", took);
  if (main() && !resume_run)
    fmt::print("initialised from {} (step {} of its run): a new run from step 0, data position 0, {} ({})\n", dir,
               steps_stored, has_optimizer ? "its AdamW moments" : "a fresh optimizer", took);
  std::fflush(stdout);
}

// The MFU denominator of the job. Declared: log.peak_flops per rank. Measured: on each machine one process
// measures the sgemm rate of all its cores (cached per machine) while the others wait, and the machines add up.
void Trainer::Impl::measure_peak() {
  if (cfg.log.peak_flops > 0) {
    peak_flops = cfg.log.peak_flops * ps.world.size();
    peak_source = fmt::format("log.peak_flops x {}", plural(ps.world.size(), "rank", "ranks"));
    return;
  }
  MPI_Comm local = node_comm(ps.world.comm());  // this run's processes on this machine
  int local_rank = 0;
  MPI_Comm_rank(local, &local_rank);
  double node_peak = 0;
  PeakFlops peak;
  if (local_rank == 0) {
    peak = machine_peak_flops(0, false);
    node_peak = peak.flops;
  }
  // the others wait asleep (a blocking collective would spin on the cores being measured)
  MPI_Request done = MPI_REQUEST_NULL;
  MPI_Ibarrier(local, &done);
  for (int finished = 0; MPI_Test(&done, &finished, MPI_STATUS_IGNORE) == MPI_SUCCESS && finished == 0;)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  MPI_Comm_free(&local);
  nodes = local_rank == 0 ? 1 : 0;
  peak_flops = node_peak;
  ps.world.all_reduce_sum(&peak_flops, 1);
  ps.world.all_reduce_sum(&nodes, 1);
  peak_source =
      fmt::format("sgemm peak of {}, {} {}; `tessera info --peak --refresh` measures again",
                  plural(nodes, "machine", "machines"), peak.from_cache ? "cached" : "measured", peak.measured_at);
  omp_set_num_threads(threads);  // the measurement used every core
  set_blas_threads(threads);
}

// Validation sequences an evaluation reads: eval.batches global batches (so that every layout evaluates the same
// samples), at most the split.
int64_t Trainer::Impl::eval_samples() const {
  const int64_t available = val_sampler->samples_per_epoch();
  return cfg.eval.batches > 0 ? std::min(available, int64_t{cfg.eval.batches} * global_batch) : available;
}

EvalResult Trainer::Impl::evaluate() {
  return evaluate_loss(*model, *val_sampler, *batches, kValStream, ps.dp, ps.pp, eval_samples(),
                       [this] { phase(step_now, "evaluation"); });
}

// Where the run writes, tested before step 1 (a run must not train for hours and then fail to save): the checkpoint
// directory is created and a file written in it and removed.
void Trainer::Impl::check_outputs() const {
  if (!main() || cfg.checkpoint.dir.empty()) return;
  const std::filesystem::path dir(cfg.checkpoint.dir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    TESSERA_RAISE("checkpoint.dir {}: cannot create the directory ({})", cfg.checkpoint.dir,
                  ec ? ec.message() : "a file of that name is in the way");
  const std::filesystem::path probe = dir / fmt::format(".tessera-write-test-{}", getpid());
  std::FILE* f = std::fopen(probe.c_str(), "w");
  const bool ok = f != nullptr && std::fputs("tessera\n", f) >= 0 && std::fflush(f) == 0;
  if (f != nullptr) std::fclose(f);
  std::filesystem::remove(probe, ec);
  if (!ok) TESSERA_RAISE("checkpoint.dir {}: cannot write in it", cfg.checkpoint.dir);
}

// Reads, before step 1, every validation token the evaluations will read (this rank's share): a damaged validation
// shard is found now, not after the last step.
void Trainer::Impl::check_val_tokens() {
  if (!val_sampler) return;
  const int64_t total = eval_samples();
  for (int64_t j = ps.dp.rank(); j < total; j += ps.dp.size()) val_sampler->read(j, seq.data());
}

// A checkpoint of this step (collective over the world); nothing if the run saves none or has just saved it.
void Trainer::Impl::save(int64_t step) {
  if (!checkpointer || checkpointer->last_step() == step) return;
  phase(step, "saving a checkpoint");
  checkpointer->save({step, consumed, consumed * T, skipped}, *model, *optimizer);
}

// On an error met inside a collective phase (an evaluation), the model is saved only where that needs no other rank
// (a run of one rank); returns what to add to the error message.
std::string Trainer::Impl::save_after_error(int64_t step) {
  if (!checkpointer) return "";
  if (ps.world.size() > 1) return "; no checkpoint saved (a save needs every rank)";
  save(step);
  return "; the model trained so far is saved";
}

// Whether any rank was signalled or met an error since the last step boundary (one small all-reduce, which also
// completes a background checkpoint every rank has written).
Checkpointer::Poll Trainer::Impl::poll_ranks(bool signalled, bool error) {
  if (checkpointer) return checkpointer->poll(signalled, error);
  int64_t flags[2] = {signalled ? 1 : 0, error ? 1 : 0};
  ps.world.all_reduce_sum(flags, 2);
  return {flags[0] > 0, flags[1] > 0};
}

// Tied embeddings under pipeline parallelism: the first stage's embedding and the last stage's head copy each hold
// half of the gradient; the sum over the two keeps the copies equal after the update.
void Trainer::Impl::reduce_tied_embedding() {
  const int wte = model->embedding_index();
  if (!cfg.model.tie_embeddings || ps.embedding.size() == 1 || wte < 0) return;
  const TensorInfo& info = model->table()[wte];
  ps.embedding.all_reduce_sum(model->grads() + info.offset, info.numel);
}

// A metrics line that cannot be written (a full disk) ends the run with an error at the step boundary, after every
// rank has saved a checkpoint.
void Trainer::Impl::write_metrics(const nlohmann::json& j, int64_t step) {
  if (metrics == nullptr || !pending_error.empty()) return;
  const std::string line = j.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), metrics) == line.size() && std::fflush(metrics) == 0) return;
  pending_error = fmt::format("{}: cannot write the metrics at step {} (disk full?)", cfg.log.metrics, step);
}

TrainResult Trainer::Impl::run() {
  using clock = std::chrono::steady_clock;
  const double flops_per_token = model->flops_per_token(T);
  if (main()) {
    fmt::print("# resolved config ({})\n{}\n\n", cfg.source, to_toml(cfg));
    fmt::print("{}\n", describe_run(cfg, plan, data));
    fmt::print("threads: {} per rank | MFU denominator {:.1f} GFLOP/s ({}; OpenBLAS {} kernel)\n", threads,
               peak_flops / 1e9, peak_source, blas_core_name());
    if (const std::string w = blas_kernel_warning(); !w.empty()) fmt::print("warning: {}\n", w);
    if (!threads_note.empty()) fmt::print("note: {}\n", threads_note);
    if (!resume.note.empty()) fmt::print("note: {}\n", resume.note);
    std::fflush(stdout);
  }

  TrainResult result;
  result.first_step = start_step;
  const int64_t steps = cfg.train.steps;
  if (start_step >= steps) {
    if (main()) fmt::print("nothing to train: the checkpoint is at step {}, train.steps = {}\n", start_step, steps);
    result.peak_flops = peak_flops;
    return result;
  }
  const StopSignals signals;  // SIGTERM, SIGUSR1: a checkpoint at the next step boundary, then a clean stop
  const double tokens_per_step = static_cast<double>(global_batch) * T;
  const auto start = clock::now();
  double train_seconds = 0;  // step time only (no evaluation or saving)
  bool peak_raised = false;
  if (ps.world.size() > 1 && cfg.parallel.timeout_s > 0)
    watchdog = std::make_unique<Watchdog>(cfg.parallel.timeout_s, ps.world.rank());
  for (int64_t step = start_step; step < steps; ++step) {
    const auto t0 = clock::now();
    step_now = step + 1;
    phase(step_now, "reading the batch");
    // 1. this rank's micro-batches (global_sample: every dp-th sample of this step's global batch)
    double counts[2] = {0, 0};  // loss sum, targeted positions (over the global batch after the reduction)
    for (int m = 0; m < grad_accum; ++m) {
      for (int i = 0; i < mb; ++i) {
        const int64_t k = global_sample(consumed, mb, m, i, dp, ps.dp.rank());
        const int64_t off = (static_cast<int64_t>(m) * mb + i) * T;
        uint8_t* sample_mask = mask.empty() ? nullptr : mask.data();
        train_sampler->read(k, seq.data(), sample_mask);
        counts[1] += static_cast<double>(batches->make(seq.data(), T, kTrainStream ^ static_cast<uint64_t>(k),
                                                       inputs.data() + off, targets.data() + off, sample_mask));
      }
    }
    phase(step_now, "the all-reduce of the target count over dp");
    ps.dp.all_reduce_sum(&counts[1], 1);
    const auto dloss = static_cast<float>(counts[1] > 0 ? 1.0 / counts[1] : 0.0);  // 0: a batch of prompts only
    // 2. forward and backward of the micro-batches through the pipeline, gradients accumulating
    phase(step_now, "forward and backward");
    model->zero_grads();
    reducer->start_step();
    counts[0] = pipeline->step({inputs.data(), targets.data(), grad_accum, mb, T}, dloss);
    if (!overlap) model->reduce_sequence_parallel_grads();  // (with overlap: as each layer finished)
    reduce_tied_embedding();
    // 3. data-parallel reduction: the sum over ranks is the gradient of the global mean loss
    phase(step_now, "the gradient reduction over dp");
    const auto wait_start = clock::now();
    reducer->finish();
    dp_wait_s = std::chrono::duration<double>(clock::now() - wait_start).count();
    ps.pp.all_reduce_sum(&counts[0], 1);  // the loss is known on the last stage
    ps.dp.all_reduce_sum(&counts[0], 1);
    phase(step_now, "the optimizer step");
    const double loss = counts[1] > 0 ? counts[0] / counts[1] : 0.0;
    // 4. global gradient norm, non-finite check, clipping, update
    const double grad_norm =
        this->grad_norm->compute(model->grads(), reducer->owned(), ps.tp, ps.pp, reducer->zero1() ? &ps.dp : nullptr);
    const float lr = schedule.at(step);
    StepRecord rec{step + 1, loss, grad_norm, lr, false};
    if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
      const std::string what = fmt::format("step {}: non-finite {} (loss {}, grad norm {})", step + 1,
                                           std::isfinite(loss) ? "gradient norm" : "loss", loss, grad_norm);
      if (cfg.train.on_nonfinite == "stop")
        TESSERA_RAISE("{}; stopping (train.on_nonfinite = \"skip\" skips such steps instead)", what);
      if (main()) fmt::print("warning: {}; step skipped\n", what);
      rec.skipped = true;
      ++skipped;
    } else {
      if (cfg.train.grad_clip > 0 && grad_norm > cfg.train.grad_clip) {
        for (const FlatRange& r : reducer->owned())
          ops::scale(model->grads() + r.begin, static_cast<float>(cfg.train.grad_clip / grad_norm), r.end - r.begin);
      }
      optimizer->step(model->params(), model->grads(), lr);
      reducer->gather_params(model->params());  // ZeRO-1: every rank's parameters from their owners
    }
    result.steps.push_back(rec);
    consumed += global_batch;
    const double step_s = std::chrono::duration<double>(clock::now() - t0).count();
    train_seconds += step_s;
    if (watchdog) watchdog->observe_step(step_s);

    const int64_t done = step + 1;
    if (done % cfg.log.interval == 0 || done == steps || done == 1) {
      const double tps = tokens_per_step / step_s;
      const double achieved = flops_per_token * tps;  // model FLOP/s of the job
      if (achieved > peak_flops) {
        // a peak below what the job just did was measured at a slow moment: the step is a better lower bound
        if (main() && !peak_raised)
          fmt::print(
              "note: step {} ran at {:.1f} GFLOP/s, above the MFU denominator {:.1f}; raised to it "
              "(`tessera info --peak --refresh` measures the peak again)\n",
              done, achieved / 1e9, peak_flops / 1e9);
        peak_raised = true;
        peak_flops = achieved;
        if (nodes == 1 && main()) raise_machine_peak(0, achieved);  // the next run starts from it
      }
      const double mfu = achieved / peak_flops;
      const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
      const double eta = train_seconds / static_cast<double>(done - start_step) * static_cast<double>(steps - done);
      const std::string now = utc_timestamp();
      if (main()) {
        fmt::print(
            "[{}] step {:>{}}/{} | loss {:.4f} | lr {:.3e} | grad norm {:.3f} | {:.0f} tok/s | {:.1f} GFLOP/s | "
            "MFU {:.1f}% | {:.0f} ms | elapsed {} | ETA {}{}\n",
            now, done, std::to_string(steps).size(), steps, loss, lr, grad_norm, tps, achieved / 1e9, 100 * mfu,
            step_s * 1e3, clock_string(elapsed), clock_string(eta),
            skipped > 0 ? fmt::format(" | skipped {}", skipped) : std::string());
        std::fflush(stdout);
      }
      write_metrics({{"step", done},
                     {"loss", loss},
                     {"lr", lr},
                     {"grad_norm", grad_norm},
                     {"tokens", consumed * T},
                     {"tokens_per_s", tps},
                     {"gflops", achieved / 1e9},
                     {"mfu", mfu},
                     {"step_ms", step_s * 1e3},
                     {"dp_wait_ms", dp_wait_s * 1e3},
                     {"pp_wait_ms", pipeline->last_wait_seconds() * 1e3},
                     {"pp_step_ms", pipeline->last_step_seconds() * 1e3},
                     {"skipped", skipped},
                     {"time", now}},
                    done);
    }
    if (val_sampler && ((cfg.eval.interval > 0 && done % cfg.eval.interval == 0) || done == steps)) {
      EvalResult val;
      try {
        val = evaluate();
      } catch (const Error& e) {  // what was trained is saved before the error ends the run
        const std::string saved = save_after_error(done);
        TESSERA_RAISE("{} (at the evaluation of step {}{})", e.what(), done, saved);
      }
      result.val_losses.emplace_back(done, val.loss);
      const int64_t val_batches = (val.samples + global_batch - 1) / global_batch;
      if (main()) {
        const bool whole = val.samples == val_sampler->samples_per_epoch();
        fmt::print("step {} | val loss {:.4f} | val ppl {:.2f} | {} = {}{}\n", done, val.loss, std::exp(val.loss),
                   plural(val_batches, "batch", "batches"), plural(val.samples, "sequence", "sequences"),
                   whole ? " (the whole val split)" : fmt::format(" (eval.batches = {})", cfg.eval.batches));
        std::fflush(stdout);
      }
      write_metrics({{"step", done},
                     {"val_loss", val.loss},
                     {"val_batches", val_batches},
                     {"val_sequences", val.samples},
                     {"tokens", consumed * T},
                     {"time", utc_timestamp()}},
                    done);
    }
    if ((cfg.checkpoint.interval > 0 && done % cfg.checkpoint.interval == 0) || done == steps) save(done);
    phase(done, "the step boundary");
    const Checkpointer::Poll poll = poll_ranks(StopSignals::received() != 0, !pending_error.empty());
    if (poll.error) {  // one rank's error (metrics not written): every rank saves, then stops with it
      save(done);
      agree_on_error(ps.world, pending_error.empty() ? std::string()
                                                     : pending_error + (checkpointer ? "; a checkpoint of this step "
                                                                                       "is saved"
                                                                                     : ""));
    }
    if (poll.signalled && done < steps) {
      save(done);
      if (checkpointer) checkpointer->wait();
      result.stop_signal = StopSignals::received() != 0 ? StopSignals::received() : -1;
      if (main()) {
        fmt::print("stopped at step {} of {} on {}{}\n", done, steps,
                   StopSignals::received() != 0 ? signal_name(StopSignals::received()) : "another rank's signal",
                   checkpointer ? "; rerun the same command to resume" : " (no checkpoint.dir: nothing saved)");
        std::fflush(stdout);
      }
      break;
    }
  }
  if (checkpointer) checkpointer->wait();
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
