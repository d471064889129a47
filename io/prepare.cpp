#include "io/prepare.hpp"

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "io/text_source.hpp"
#include "io/token_dataset.hpp"
#include "io/tokenizer.hpp"
#include "io/utf8.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {

// group: null for one process without MPI
PrepareSummary prepare(const PrepareOptions& opt, const ProcessGroup* group) {
  const auto start = std::chrono::steady_clock::now();
  if (opt.output.empty()) TESSERA_RAISE("prepare: no output directory (--output)");
  if (opt.val_fraction < 0 || opt.val_fraction >= 1)
    TESSERA_RAISE("prepare: --val-fraction must be in [0, 1), got {}", opt.val_fraction);
  if (fs::exists(opt.output) && !opt.force)
    TESSERA_RAISE("{}: already exists (pass --force to replace it)", opt.output);
  const std::unique_ptr<Tokenizer> tokenizer = make_tokenizer(opt.tokenizer, opt.tokenizer_files);
  const std::vector<std::string> files = list_input_files(opt.inputs);

  PrepareSummary sum;
  std::vector<std::string> docs;
  for (const std::string& f : files) {
    std::string raw = read_input(f);
    if (raw.empty()) TESSERA_RAISE("{}: empty file", f);
    sum.bytes += static_cast<int64_t>(raw.size());
    std::string text = sanitize_utf8(raw, &sum.replaced_bytes);
    std::vector<std::string> d =
        opt.jsonl_key.empty() ? split_documents(text, opt.doc_boundary) : jsonl_documents(text, opt.jsonl_key, f);
    if (d.empty()) TESSERA_RAISE("{}: holds only whitespace", f);
    for (auto& s : d) docs.push_back(std::move(s));
    ++sum.files;
  }

  // Tokenize this rank's documents (r, r + size, ...) in parallel; each keeps its own slot.
  const auto ranks = static_cast<size_t>(group != nullptr ? group->size() : 1);
  const auto rank = static_cast<size_t>(group != nullptr ? group->rank() : 0);
  std::vector<std::vector<int32_t>> tokens(docs.size());
#pragma omp parallel for schedule(dynamic, 16)
  for (size_t i = rank; i < docs.size(); i += ranks) {
    tokenizer->encode(docs[i], tokens[i]);
    tokens[i].push_back(tokenizer->eot_id());
  }
  if (ranks > 1) {
    // to rank 0, which keeps its own: every other rank sends its documents' lengths, then their tokens
    std::vector<int32_t> packed;
    if (rank != 0) {
      for (size_t i = rank; i < docs.size(); i += ranks) packed.push_back(static_cast<int32_t>(tokens[i].size()));
      for (size_t i = rank; i < docs.size(); i += ranks) {
        packed.insert(packed.end(), tokens[i].begin(), tokens[i].end());
        std::vector<int32_t>().swap(tokens[i]);
      }
    }
    const std::vector<std::vector<int32_t>> all = group->gather(packed, 0);
    if (rank != 0) {
      group->barrier();  // returns once rank 0 has the dataset in place
      return sum;
    }
    for (size_t r = 1; r < ranks; ++r) {
      const std::vector<int32_t>& p = all[r];
      size_t offset = (docs.size() - r + ranks - 1) / ranks;  // the tokens start after one length per document
      size_t k = 0;
      for (size_t i = r; i < docs.size(); i += ranks, ++k) {
        const auto n = static_cast<size_t>(p[k]);
        tokens[i].assign(p.begin() + static_cast<std::ptrdiff_t>(offset),
                         p.begin() + static_cast<std::ptrdiff_t>(offset + n));
        offset += n;
      }
    }
  }

  // Held-out documents: chosen by a per-document draw, so the split does not depend on shard sizes.
  std::vector<bool> is_val(docs.size(), false);
  size_t n_val = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    Rng rng(opt.seed, i);
    is_val[i] = rng.uniform() < opt.val_fraction;
    n_val += is_val[i] ? 1 : 0;
  }
  if (opt.val_fraction > 0 && n_val == 0) {
    if (docs.size() < 2)
      TESSERA_RAISE(
          "prepare: one document cannot give both a train and a validation split "
          "(use --doc-boundary line or blank, or --val-fraction 0)");
    is_val.back() = true;
  }
  if (n_val == docs.size()) is_val.front() = false;

  TokenizerInfo info;
  info.name = tokenizer->name();
  info.hash = tokenizer->hash();
  info.files = tokenizer->files();
  info.vocab_size = tokenizer->vocab_size();
  info.regular_vocab_size = tokenizer->regular_vocab_size();
  info.eot_id = tokenizer->eot_id();
  info.mask_id = tokenizer->mask_id();
  info.pad_id = tokenizer->pad_id();
  std::string sources;
  for (const std::string& f : files) {
    if (!sources.empty()) sources.push_back('\n');
    sources.append(fs::absolute(f).string());
  }

  const fs::path out(opt.output);
  const fs::path tmp = out.string() + ".partial-" + std::to_string(getpid());
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  try {
    ShardWriter train(tmp.string(), "train", info, sources, opt.shard_tokens);
    ShardWriter val(tmp.string(), "val", info, sources, opt.shard_tokens);
    for (size_t i = 0; i < docs.size(); ++i) (is_val[i] ? val : train).add_document(tokens[i]);
    sum.train_shards = train.finish();
    sum.val_shards = val.finish();
    sum.train_documents = train.documents();
    sum.train_tokens = train.tokens();
    sum.val_documents = val.documents();
    sum.val_tokens = val.tokens();
  } catch (...) {
    fs::remove_all(tmp);
    throw;
  }
  // Swap into place: the old dataset (with --force) is removed only once the new one is complete.
  if (fs::exists(out)) {
    const fs::path old = out.string() + ".old-" + std::to_string(getpid());
    fs::rename(out, old);
    fs::rename(tmp, out);
    fs::remove_all(old);
  } else {
    if (out.has_parent_path()) fs::create_directories(out.parent_path());
    fs::rename(tmp, out);
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (ranks > 1) group->barrier();
  return sum;
}

}  // namespace

PrepareSummary prepare_dataset(const PrepareOptions& opt) {
  return prepare(opt, nullptr);
}

PrepareSummary prepare_dataset(const PrepareOptions& opt, const ProcessGroup& group) {
  return prepare(opt, &group);
}

}  // namespace tessera
