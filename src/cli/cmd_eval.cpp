// tessera eval: validation loss and perplexity of a trained model on a dataset split.
#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/model_loader.hpp"
#include "core/check.hpp"
#include "io/blended_sampler.hpp"
#include "parallel/device_groups.hpp"
#include "train/compute_threads.hpp"
#include "train/evaluate.hpp"

namespace tessera::cli {

namespace {
struct EvalFlags {
  std::string model, data, split = "val", device = "auto";
  int micro_batch = 8;
  int64_t samples = 0;
  int threads = 0;
  int tp = 1;
  int pp = 1;
};
}  // namespace

void add_eval(CLI::App& app, const MpiRuntime& mpi) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand("eval", "Loss and perplexity of a trained model on a dataset split");
  add_model_option(cmd, f->model);
  cmd->add_option("--data", f->data, "Dataset directory (default: the one the model was trained on)");
  cmd->add_option("--split", f->split, "Split to evaluate")->check(CLI::IsMember({"train", "val"}));
  cmd->add_option("--micro-batch", f->micro_batch, "Sequences per forward pass")->check(whole_at_least(1));
  cmd->add_option("--samples", f->samples, "Evaluate the first N sequences (0: all)")->check(whole_at_least(0));
  cmd->add_option("--threads", f->threads, "Threads per rank (0: the cores, shared among ranks)")
      ->check(non_negative_finite());
  cmd->add_option("--tp", f->tp, "Tensor-parallel ranks holding the model together (the others share the data)")
      ->check(whole_at_least(1));
  cmd->add_option("--pp", f->pp, "Pipeline stages the model's layers are split into")->check(whole_at_least(1));
  add_device_option(cmd, f->device);
  cmd->callback([f, &mpi] {
    LoadedModel lm;
    agree_on_setup(mpi, [&] {  // one line for an error every rank meets
      if (mpi.size() % (f->tp * f->pp) != 0)
        TESSERA_RAISE("eval: --tp {} x --pp {} does not divide the {} ranks of this job", f->tp, f->pp, mpi.size());
      lm = inspect_trained_model(f->model, f->micro_batch, even_shard(0, f->tp, 0, f->pp));
    });
    ParallelState ps = ParallelState::create({f->tp, f->pp, mpi.size() / (f->tp * f->pp)});  // the data over dp
    set_compute_threads(f->threads);
    lm.backend = open_agreed_backend(f->device, ps.world, "--device");
    const DeviceGroups devices(*lm.backend, ps);
    load_weights(lm, &devices.tp(), even_shard(ps.coord.tp_rank, f->tp, ps.coord.pp_rank, f->pp));
    const std::string data = f->data.empty() ? lm.config.data.path : f->data;
    if (data.empty())
      TESSERA_RAISE("eval: {} {}; pass --data DIR", f->model,
                    lm.config.data.paths.empty() ? "does not say which data it was trained on"
                                                 : "was trained on a blend of datasets");
    TokenDataset dataset(data, f->split);
    const TokenizerInfo& t = dataset.tokenizer();
    if (!same_tokenizer(t, lm.tokenizer))
      TESSERA_RAISE("{}: made with tokenizer {}, but the model was trained with {}", data, describe(t),
                    describe(lm.tokenizer));
    const int T = lm.config.train.seq_len > 0 ? lm.config.train.seq_len : lm.config.model.max_seq_len;
    BlendedSampler sampler({&dataset}, {1.0}, T, lm.config.train.seed, false);
    MlmMasking masking;
    masking.mask_id = lm.config.model.mask_token_id;
    masking.random_vocab = static_cast<int32_t>(t.regular_vocab_size);
    BatchBuilder batches(lm.config.model.objective, masking, lm.config.train.seed);
    const EvalResult r = evaluate_loss(*lm.model, sampler, batches, f->split == "val" ? kValStream : kTrainStream,
                                       ps.dp, ps.pp, f->samples, {}, &devices.pp());
    if (ps.is_main()) {
      fmt::print("model {} (step {}) on {} [{}]: {} sequences of {} tokens, {} targeted positions\n", f->model, lm.step,
                 data, f->split, r.samples, T, r.positions);
      fmt::print("loss {:.4f} | perplexity {:.2f}\n", r.loss, std::exp(r.loss));
    }
  });
}

}  // namespace tessera::cli
