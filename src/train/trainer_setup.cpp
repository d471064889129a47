// The trainer before step 1: the data opened and checked, the model, pipeline, reducer and optimizer built, the
// outputs tested, a checkpoint read, the MFU's peak measured. Everything a step needs is allocated here.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/blas.hpp"
#include "core/check.hpp"
#include "core/peak_flops.hpp"
#include "core/readable.hpp"
#include "io/checkpoint/weight_source.hpp"
#include "ops/cuda/ops_cuda.hpp"
#include "parallel/agreement.hpp"
#include "train/compute_threads.hpp"
#include "train/trainer_impl.hpp"

namespace tessera {

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
  dp = ps.dp.size();
  mb = plan.micro_batch;
  T = plan.seq_len;
  global_batch = plan.global_batch;
  grad_accum = plan.grad_accum;

  open_backend();  // first: a machine without the device asked for is told before any data is read
  open_data();
  build_model();
  build_optimizer();
  check_outputs();
  if (!cfg.checkpoint.dir.empty()) {
    writer = std::make_unique<CheckpointWriter>(cfg, ps, manifest_base());
    writer->reserve_snapshot(model->table().total());
  }
  if (!resume.checkpoint.empty()) load_checkpoint(resume.checkpoint, true);
  if (!resume.init_from.empty()) load_checkpoint(resume.init_from, false);
  check_val_tokens();
  measure_peak();
  open_outputs();
}

// The samplers of the splits, the batch builder and this rank's batch buffers.
void Trainer::Impl::open_data() {
  if (data.val.empty() && main()) fmt::print("note: {} has no val split: no validation loss\n", data.describe());
  train_sampler =
      std::make_unique<BlendedSampler>(data.train_sets(), data.weights, T, cfg.train.seed, cfg.data.shuffle);
  if (!data.val.empty())
    val_sampler = std::make_unique<BlendedSampler>(data.val_sets(), data.weights, T, cfg.train.seed, false);
  MlmMasking masking;
  masking.mask_id = cfg.model.mask_token_id;
  masking.random_vocab = static_cast<int32_t>(data.tokenizer.regular_vocab_size);
  batches = std::make_unique<BatchBuilder>(cfg.model.objective, masking, cfg.train.seed);

  const size_t n = static_cast<size_t>(grad_accum) * mb * T;
  inputs.assign(n, 0);
  targets.assign(n, -1);
  seq.assign(static_cast<size_t>(T) + 1, 0);
  if (train_sampler->has_loss_mask()) mask.assign(static_cast<size_t>(T) + 1, 1);
}

// The run's backend (train.device) and the communicators that carry its device buffers. On CUDA a rank takes the GPU
// of its rank on the node (modulo the GPUs it sees). A rank that cannot have the device stops every rank.
void Trainer::Impl::open_backend() {
  backend = open_agreed_backend(cfg.train.device, ps.world, "train.device");
  devices = std::make_unique<DeviceGroups>(*backend, ps);
  int64_t staged = devices->staged() ? 1 : 0;
  ps.world.all_reduce_sum(&staged, 1);
  if (staged > 0)
    staged_note =
        "ranks of a process group share a GPU: NCCL takes one rank per GPU, so their device buffers go through host "
        "memory over MPI (slow; for trying layouts on fewer GPUs than ranks)";
}

// This rank's shard of the model and the runner of its pipeline schedule.
void Trainer::Impl::build_model() {
  const ModelShard shard = plan_shard(cfg, plan, ps.coord);
  const int heads = cfg.model.n_head / ps.tp.size();
  int64_t attention_workspace = 0;             // cuDNN's, where train.attention = "cudnn" (0 on the CPU)
  if (shard.attention == Attention::kCudnn) {  // the backend runs it at this run's shapes, or every rank stops
    const std::string why = backend->ops().flash_attention_bf16_check(
        mb, T, heads, cfg.model.n_kv_head / ps.tp.size(), cfg.model.head_size(),
        cfg.model.objective == Objective::kCausal, &attention_workspace);
    agree_on_error(ps.world, why.empty() ? "" : fmt::format("train.attention = \"cudnn\": {}", why));
  }
  if (backend->device() == Device::kCpu) {
    check_fits_in_memory(plan);
  } else {  // the GPU's memory: the plan, attention's backward scratch or workspace and cuBLASLt's workspace
    const int64_t extra =
        (shard.attention == Attention::kCudnn
             ? attention_workspace
             : ops::cuda::attention_scratch_bytes(mb, heads, T, shard.attention == Attention::kFlash)) +
        ops::cuda::kLtWorkspaceBytes;
    check_fits_in_memory(plan, backend->memory().total_bytes, extra, "the GPU's");
  }
  model = std::make_unique<Transformer<float>>(cfg.model, mb, T, &devices->tp(), shard, backend.get());
  pipeline = std::make_unique<PipelineRunner>(*model, plan.schedule, grad_accum, devices->pp());
  // a checkpoint read later sets every tensor: the (costly) initialisation only for a fresh start
  if (resume.checkpoint.empty() && resume.init_from.empty()) model->init_weights(cfg.train.seed);
}

// The gradient norm, the data-parallel reducer (ZeRO-1's ranges), AdamW and the learning-rate schedule.
void Trainer::Impl::build_optimizer() {
  grad_norm =
      std::make_unique<GradNorm>(model->table(), Transformer<float>::plan_table(cfg.model).size(), backend.get());
  // data-parallel reduction in buckets (overlapped with backward), ZeRO-1's ranges; the tied embedding's gradient
  // is reduced over the embedding group first, so its bucket waits for the end of backward
  std::vector<int> late;
  if (cfg.model.tie_embeddings && ps.embedding.size() > 1 && model->embedding_index() >= 0)
    late.push_back(model->embedding_index());
  const auto bucket = static_cast<int64_t>(cfg.parallel.bucket_mb * 1024 * 1024 / sizeof(float));
  reducer = std::make_unique<GradReducer>(model->table(), model->grads(), devices->dp(), bucket, cfg.parallel.zero1,
                                          late, backend.get());
  overlap = cfg.parallel.overlap_grad_reduce && ps.dp.size() > 1;
  if (overlap) {
    model->set_grads_ready_hook([this](int first, int last) {
      model->reduce_sequence_parallel_grads(first, last);
      reducer->tensors_ready(first, last);
    });
  }
  AdamWConfig oc;
  oc.beta1 = cfg.train.beta1;
  oc.beta2 = cfg.train.beta2;
  oc.eps = cfg.train.eps;
  oc.weight_decay = cfg.train.weight_decay;
  oc.decay_embeddings = cfg.train.decay_embeddings;
  optimizer = std::make_unique<AdamW>(model->table(), oc, reducer->owned(), backend.get());
  schedule = lr_schedule(cfg.train);
}

// Rank 0's metrics file: a resumed run appends after the lines of the steps its checkpoint holds.
void Trainer::Impl::open_outputs() {
  if (main() && !cfg.log.metrics.empty()) metrics = MetricsLog(cfg.log.metrics, start_step);
}

// What every checkpoint of this run records besides its step (the writer adds the process groups' layout).
CheckpointManifest Trainer::Impl::manifest_base() const {
  CheckpointManifest m;
  m.seed = cfg.train.seed;
  m.layout.virtual_stages = cfg.parallel.virtual_stages;
  m.layout.chunk_layers = plan.chunk_layers;
  m.tokenizer = data.tokenizer;
  m.data = data.identity();
  return m;
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
  // one name for every run: a probe left by a run killed between its write and its removal goes with the next run's
  const std::filesystem::path probe = dir / ".tessera-write-test";
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

// A checkpoint read into this rank's shard (any layout): resume_run: its weights, AdamW's state and the data
// position (the run goes on); else (checkpoint.init_from) its weights, and its moments with
// checkpoint.init_optimizer, for a new run from step 0. Every rank reads its own tensors; a damaged file found by any
// rank stops every rank with one line.
void Trainer::Impl::load_checkpoint(const std::string& dir, bool resume_run) {
  int64_t steps_stored = 0, bytes = 0;
  bool has_optimizer = false;
  const auto start = Clock::now();
  agree_on_error(ps.world, [&] {
    const std::unique_ptr<WeightSource> source = open_weights(dir);
    const WeightSource& reader = *source;
    const CheckpointManifest& m = reader.manifest();
    bytes = reader.bytes();
    const bool on_host = backend->device() == Device::kCpu;
    if (on_host) {
      reader.read(StateKind::kParams, model->table(), model->params());
    } else {  // through host memory (start-up only)
      std::vector<float> host(static_cast<size_t>(model->table().total()));
      reader.read(StateKind::kParams, model->table(), host.data());
      backend->upload(model->params(), host.data(), static_cast<int64_t>(host.size() * sizeof(float)));
    }
    steps_stored = m.step;
    has_optimizer = m.optimizer_state && (resume_run || cfg.checkpoint.init_optimizer);
    if (has_optimizer && optimizer->owns_all() && on_host) {  // straight into AdamW's state
      reader.read(StateKind::kExpAvg, model->table(), optimizer->m());
      reader.read(StateKind::kExpAvgSq, model->table(), optimizer->v());
      optimizer->set_steps_taken(m.optimizer_steps);
    } else if (has_optimizer) {  // ZeRO-1 (this rank's ranges of them) or GPU memory: through host buffers
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
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
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

// The MFU denominator of the job. Declared: log.peak_flops per rank. On GPUs: each GPU's datasheet peak for the
// products of train.dtype (ranks sharing a GPU share its peak), added up. On CPUs, measured: on each machine one
// process measures the sgemm rate of all its cores (cached per machine) while the others wait, and the machines add
// up.
void Trainer::Impl::measure_peak() {
  if (cfg.log.peak_flops > 0) {
    peak_flops = cfg.log.peak_flops * ps.world.size();
    peak_source = fmt::format("log.peak_flops x {}", plural(ps.world.size(), "rank", "ranks"));
    return;
  }
  if (backend->device() == Device::kCuda) {
    const GpuPeak gpu = backend->stated_peak_flops(cfg.train.dtype == "bf16");
    const ProcessGroup local = ProcessGroup::node_local(ps.world);
    const std::vector<int64_t> uids = device_uids(*backend, local);  // the GPU of each rank on this machine
    const auto sharing =
        static_cast<double>(std::count(uids.begin(), uids.end(), uids[static_cast<size_t>(local.rank())]));
    peak_flops = gpu.flops / sharing;
    double gpus = 1.0 / sharing;
    ps.world.all_reduce_sum(&peak_flops, 1);
    ps.world.all_reduce_sum(&gpus, 1);
    nodes = 0;  // stated, not measured: no machine's cache to raise
    peak_source = fmt::format("{} x {}", gpu.source, plural(std::llround(gpus), "GPU", "GPUs"));
    return;
  }
  const ProcessGroup local = ProcessGroup::node_local(ps.world);  // this run's processes on this machine
  double node_peak = 0;
  PeakFlops peak;
  if (local.rank() == 0) {
    peak = machine_peak_flops(0, false);
    node_peak = peak.flops;
  }
  local.barrier_asleep();  // the others must not spin on the cores being measured
  nodes = local.rank() == 0 ? 1 : 0;
  peak_flops = node_peak;
  ps.world.all_reduce_sum(&peak_flops, 1);
  ps.world.all_reduce_sum(&nodes, 1);
  peak_source =
      fmt::format("sgemm peak of {}, {} {}; `tessera info --peak --refresh` measures again",
                  plural(nodes, "machine", "machines"), peak.from_cache ? "cached" : "measured", peak.measured_at);
  omp_set_num_threads(threads);  // the measurement used every core
  set_blas_threads(threads);
}

// The resolved config, the run's plan and where its numbers come from (rank 0).
void Trainer::Impl::print_start() const {
  if (!main()) return;
  fmt::print("# resolved config ({})\n{}\n\n", cfg.source, to_toml(cfg));
  fmt::print("{}\n", describe_run(cfg, plan, data));
  fmt::print("device: {}\n", backend->description());
  const std::string denominator = peak_flops >= 1e12 ? fmt::format("{:.1f} TFLOP/s", peak_flops / 1e12)
                                                     : fmt::format("{:.1f} GFLOP/s", peak_flops / 1e9);
  fmt::print("threads: {} per rank | MFU denominator {} ({}; OpenBLAS {} kernel)\n", threads, denominator, peak_source,
             blas_core_name());
  if (const std::string w = blas_kernel_warning(); !w.empty()) fmt::print("warning: {}\n", w);
  if (!threads_note.empty()) fmt::print("note: {}\n", threads_note);
  if (!resume.note.empty()) fmt::print("note: {}\n", resume.note);
  if (!staged_note.empty()) fmt::print("note: {}\n", staged_note);
  std::fflush(stdout);
}

}  // namespace tessera
