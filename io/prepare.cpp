#include "io/prepare.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "io/progress.hpp"
#include "io/text_source.hpp"
#include "io/token_dataset.hpp"
#include "io/tokenizer.hpp"
#include "io/utf8.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {

// Tokenizes one batch of documents: this rank's share (documents r, r + size, ... of the batch) on all its threads,
// then, under MPI, everything gathered on rank 0 in document order. On other ranks the result is left empty.
std::vector<std::vector<int32_t>> tokenize_batch(const std::vector<std::string>& docs, const Tokenizer& tokenizer,
                                                 const ProcessGroup* group) {
  const auto ranks = static_cast<size_t>(group != nullptr ? group->size() : 1);
  const auto rank = static_cast<size_t>(group != nullptr ? group->rank() : 0);
  std::vector<std::vector<int32_t>> tokens(docs.size());
#pragma omp parallel for schedule(dynamic, 4)
  for (size_t i = rank; i < docs.size(); i += ranks) {
    tokenizer.encode(docs[i], tokens[i]);
    tokens[i].push_back(tokenizer.eot_id());
  }
  if (ranks == 1) return tokens;
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
  if (rank != 0) return {};
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
  return tokens;
}

// Sends documents to the train or validation writer by a per-document draw (so the split does not depend on batch
// or shard sizes). The last document is held back until the end, and goes to validation if no other did, so that a
// small corpus still gets both splits.
class SplitRouter {
 public:
  SplitRouter(ShardWriter& train, ShardWriter& val, double val_fraction, uint64_t seed)
      : train_(train), val_(val), fraction_(val_fraction), seed_(seed) {}

  void add(std::vector<int32_t> tokens) {
    if (held_) route(*held_, held_index_);
    held_ = std::move(tokens);
    held_index_ = next_++;
  }
  void finish() {
    if (!held_) return;
    if (fraction_ > 0 && val_.documents() == 0) {
      if (held_index_ == 0)
        TESSERA_RAISE(
            "prepare: one document cannot give both a train and a validation split "
            "(use --doc-boundary line or blank, or --val-fraction 0)");
      val_.add_document(*held_);
    } else {
      route(*held_, held_index_);
    }
    held_.reset();
    if (train_.documents() == 0)
      TESSERA_RAISE("prepare: all {} documents drew the validation split; use a smaller --val-fraction", next_);
  }

 private:
  void route(const std::vector<int32_t>& tokens, uint64_t index) {
    Rng rng(seed_, index);
    const bool val = rng.uniform() < fraction_;
    (val ? val_ : train_).add_document(tokens);
  }
  ShardWriter &train_, &val_;
  double fraction_;
  uint64_t seed_;
  std::optional<std::vector<int32_t>> held_;
  uint64_t held_index_ = 0, next_ = 0;
};

// group: null for one process without MPI
PrepareSummary prepare(const PrepareOptions& opt, const ProcessGroup* group) {
  const auto start = std::chrono::steady_clock::now();
  if (opt.output.empty()) TESSERA_RAISE("prepare: no output directory (--output)");
  if (opt.val_fraction < 0 || opt.val_fraction >= 1)
    TESSERA_RAISE("prepare: --val-fraction must be in [0, 1), got {}", opt.val_fraction);
  if (opt.batch_bytes <= 0) TESSERA_RAISE("prepare: batch size must be positive, got {}", opt.batch_bytes);
  if (fs::exists(opt.output) && !opt.force)
    TESSERA_RAISE("{}: already exists (pass --force to replace it)", opt.output);
  const std::unique_ptr<Tokenizer> tokenizer = make_tokenizer(opt.tokenizer, opt.tokenizer_files);
  const std::vector<std::string> files = list_input_files(opt.inputs);
  const bool writer = group == nullptr || group->rank() == 0;

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
  int64_t input_bytes = 0;
  for (const std::string& f : files) {
    if (!sources.empty()) sources.push_back('\n');
    sources.append(fs::absolute(f).string());
    input_bytes += static_cast<int64_t>(fs::file_size(f));
  }

  const fs::path out(opt.output);
  const fs::path tmp = out.string() + ".partial-" + std::to_string(getpid());
  if (writer) {
    fs::remove_all(tmp);
    fs::create_directories(tmp);
  }
  PrepareSummary sum;
  try {
    // Only rank 0 writes; the writers of other ranks stay empty and are never flushed.
    ShardWriter train(tmp.string(), "train", info, sources, opt.shard_tokens);
    ShardWriter val(tmp.string(), "val", info, sources, opt.shard_tokens);
    SplitRouter router(train, val, opt.val_fraction, opt.seed);
    Progress progress("prepare", input_bytes, writer && opt.progress);
    std::vector<std::string> batch;
    int64_t batch_bytes = 0, files_bytes = 0;  // text in the batch; input bytes of the files done
    auto flush = [&](int64_t position) {       // position: input bytes read so far, for the progress line
      std::vector<std::vector<int32_t>> tokens = tokenize_batch(batch, *tokenizer, group);
      for (auto& t : tokens) {
        sum.tokens += static_cast<int64_t>(t.size());
        router.add(std::move(t));
      }
      sum.documents += static_cast<int64_t>(batch.size());
      batch.clear();
      batch_bytes = 0;
      progress.update(position, sum.tokens);
    };
    for (const std::string& f : files) {
      std::string text = read_input(f);
      if (text.empty()) TESSERA_RAISE("{}: empty file", f);
      sum.bytes += static_cast<int64_t>(text.size());
      text = sanitize_utf8(text, &sum.replaced_bytes);
      std::vector<std::string> docs =
          opt.jsonl_key.empty() ? split_documents(text, opt.doc_boundary) : jsonl_documents(text, opt.jsonl_key, f);
      if (docs.empty()) TESSERA_RAISE("{}: holds only whitespace", f);
      ++sum.files;
      const auto file_bytes = static_cast<int64_t>(fs::file_size(f));
      int64_t file_done = 0;
      for (std::string& d : docs) {
        batch_bytes += static_cast<int64_t>(d.size());
        file_done += static_cast<int64_t>(d.size());
        batch.push_back(std::move(d));
        if (batch_bytes >= opt.batch_bytes)
          flush(files_bytes + file_bytes * file_done / static_cast<int64_t>(text.size()));
      }
      files_bytes += file_bytes;
    }
    flush(files_bytes);
    router.finish();
    progress.finish(sum.tokens);
    if (writer) {
      sum.train_shards = train.finish();
      sum.val_shards = val.finish();
      sum.train_documents = train.documents();
      sum.train_tokens = train.tokens();
      sum.val_documents = val.documents();
      sum.val_tokens = val.tokens();
    }
  } catch (...) {
    if (writer) fs::remove_all(tmp);
    throw;
  }
  if (writer) {
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
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (group != nullptr && group->size() > 1) group->barrier();  // returns once rank 0 has the dataset in place
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
