// tessera generate: sample text from a trained causal model.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "cli/model_loader.hpp"
#include "core/check.hpp"
#include "core/rng.hpp"
#include "io/utf8.hpp"
#include "parallel/device_groups.hpp"

namespace tessera::cli {

namespace {
struct GenerateFlags {
  std::string model, prompt, tokenizer_files, logits, device = "auto";
  std::vector<int32_t> prompt_ids;
  int max_tokens = 200;
  double temperature = 0.8;
  int top_k = 40;
  int64_t seed = 1234;
  int samples = 1;
  bool stop_at_eot = true;
  int tp = 1;
};

// Draws the next token from the logits (V of them): temperature, then the top-k, then the softmax.
int32_t sample_token(const float* logits, int V, double temperature, int top_k, Rng& rng, std::vector<int32_t>& order,
                     std::vector<double>& probs) {
  if (temperature <= 0) return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  const int k = top_k > 0 ? std::min(top_k, V) : V;
  order.resize(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  probs.resize(static_cast<size_t>(k));
  const double mx = logits[order[0]];
  double sum = 0;
  for (int i = 0; i < k; ++i)
    sum += probs[static_cast<size_t>(i)] = std::exp((logits[order[static_cast<size_t>(i)]] - mx) / temperature);
  double u = rng.uniform() * sum;
  for (int i = 0; i < k; ++i) {
    u -= probs[static_cast<size_t>(i)];
    if (u <= 0) return order[static_cast<size_t>(i)];
  }
  return order[static_cast<size_t>(k - 1)];
}
}  // namespace

void add_generate(CLI::App& app, const MpiRuntime& mpi) {
  auto f = std::make_shared<GenerateFlags>();
  CLI::App* cmd = app.add_subcommand("generate", "Sample text from a trained model");
  add_model_option(cmd, f->model);
  cmd->add_option("-p,--prompt", f->prompt, "Text to continue (empty: start a new document)");
  cmd->add_option("-n,--max-tokens", f->max_tokens, "Tokens to generate per sample")->check(whole_at_least(1));
  cmd->add_option("-t,--temperature", f->temperature, "Softmax temperature (0: greedy)")->check(non_negative_finite());
  cmd->add_option("-k,--top-k", f->top_k, "Sample among the k most likely tokens (0: all)")->check(whole_at_least(0));
  cmd->add_option("--seed", f->seed, "Sampling seed");
  cmd->add_option("--samples", f->samples, "Number of samples")->check(whole_at_least(1));
  cmd->add_option("--stop-at-eot", f->stop_at_eot, "End a sample at the end-of-text token (true or false)")
      ->default_str("true");
  cmd->add_option("--tokenizer-files", f->tokenizer_files, "Directory of the tokenizer's files, if moved");
  cmd->add_option("--tp", f->tp, "Tensor-parallel ranks holding the model together (the job's ranks)")
      ->check(whole_at_least(1));
  add_device_option(cmd, f->device);
  cmd->add_option("--prompt-ids", f->prompt_ids, "The prompt as token ids (instead of --prompt)")->delimiter(',');
  cmd->add_option("--logits", f->logits,
                  "Write the logits of every prompt position (float32, positions x vocabulary, row-major) to this "
                  "file and print the prompt's ids, instead of sampling: for comparing with other implementations");
  cmd->callback([f, &mpi] {
    LoadedModel lm;
    agree_on_setup(mpi, [&] {  // one line for an error every rank meets
      if (f->tp > 1 && f->tp != mpi.size())
        TESSERA_RAISE("generate: --tp {} needs a job of {} ranks (it has {})", f->tp, f->tp, mpi.size());
      lm = inspect_trained_model(f->model, 1, even_shard(0, f->tp));
      if (lm.config.model.objective != Objective::kCausal)
        TESSERA_RAISE("{}: generate needs a causal (clm) model; this one was trained with objective = \"mlm\"",
                      f->model);
    });
    if (f->tp == 1 && mpi.rank() != 0) return;  // one process samples
    const ProcessGroup tp = ProcessGroup::borrow(f->tp > 1 ? MPI_COMM_WORLD : MPI_COMM_SELF);
    lm.backend = open_agreed_backend(f->device, tp, "--device");
    std::unique_ptr<Communicator> nccl;  // the tensor-parallel group's device communicator on CUDA
    load_weights(lm, &device_communicator(*lm.backend, tp, nccl));
    std::unique_ptr<Tokenizer> tok = load_model_tokenizer(lm.tokenizer, f->tokenizer_files);
    int64_t replaced = 0;
    const std::string prompt = sanitize_utf8(f->prompt, &replaced);
    if (replaced > 0) fmt::print(stderr, "warning: the prompt had {} invalid UTF-8 sequences (replaced)\n", replaced);
    std::vector<int32_t> prompt_ids = f->prompt_ids.empty() ? tok->encode(prompt) : f->prompt_ids;
    if (prompt_ids.empty()) prompt_ids.push_back(tok->eot_id());
    const ModelConfig& m = lm.config.model;
    for (const int32_t id : prompt_ids)
      if (id < 0 || id >= m.vocab_size)
        TESSERA_RAISE("--prompt-ids: {} is not a token id (vocabulary {})", id, m.vocab_size);
    const int Vp = lm.model->dims().Vp;                           // this rank's vocabulary rows
    std::vector<float> row(static_cast<size_t>(Vp) * tp.size());  // the last position's logits, every rank's rows
    std::vector<float> local(static_cast<size_t>(Vp));
    auto gather_row = [&](int position) {  // the logits of one position of the last forward, every rank's rows
      lm.backend->download(local.data(), lm.model->logits() + static_cast<int64_t>(position) * Vp,
                           Vp * static_cast<int64_t>(sizeof(float)));
      tp.all_gather(local.data(), row.data(), Vp);
    };
    if (!f->logits.empty()) {
      const int n = static_cast<int>(prompt_ids.size());
      if (n > m.max_seq_len) TESSERA_RAISE("--logits: the prompt has {} tokens, the context {}", n, m.max_seq_len);
      lm.model->forward(prompt_ids.data(), nullptr, 1, n);
      std::vector<float> out(static_cast<size_t>(n) * m.vocab_size);
      for (int i = 0; i < n; ++i) {
        gather_row(i);
        std::copy_n(row.data(), m.vocab_size, out.data() + static_cast<int64_t>(i) * m.vocab_size);
      }
      if (tp.rank() != 0) return;
      std::FILE* file = std::fopen(f->logits.c_str(), "wb");
      const bool ok = file != nullptr && std::fwrite(out.data(), sizeof(float), out.size(), file) == out.size();
      if (file != nullptr && std::fclose(file) != 0) TESSERA_RAISE("{}: cannot write (disk full?)", f->logits);
      if (!ok) TESSERA_RAISE("{}: cannot write the logits", f->logits);
      fmt::print("logits: {} positions x {} to {}\nids: {}\n", n, m.vocab_size, f->logits, fmt::join(prompt_ids, ","));
      return;
    }
    std::vector<int32_t> order;
    std::vector<double> probs;
    for (int s = 0; s < f->samples; ++s) {
      Rng rng(static_cast<uint64_t>(f->seed), static_cast<uint64_t>(s));
      std::vector<int32_t> ids = prompt_ids;
      std::vector<int32_t> generated;
      for (int i = 0; i < f->max_tokens; ++i) {
        const int n = std::min(static_cast<int>(ids.size()), m.max_seq_len);  // the last window of context
        lm.model->forward(ids.data() + ids.size() - n, nullptr, 1, n);
        gather_row(n - 1);
        int32_t next = sample_token(row.data(), m.vocab_size, f->temperature, f->top_k, rng, order, probs);
        tp.broadcast(&next, sizeof next, 0);  // every rank draws alike; rank 0's word is final
        if (next == tok->eot_id() && f->stop_at_eot) break;
        ids.push_back(next);
        generated.push_back(next);
      }
      if (tp.rank() != 0) continue;
      if (f->samples > 1) fmt::print("--- sample {} ---\n", s + 1);
      fmt::print("{}{}\n", prompt, sanitize_utf8(tok->decode(generated), nullptr));
    }
  });
}

}  // namespace tessera::cli
