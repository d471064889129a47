#include "io/prepare.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "io/hdf5_file.hpp"
#include "io/input_slices.hpp"
#include "io/progress.hpp"
#include "io/text_source.hpp"
#include "io/token_dataset.hpp"
#include "io/tokenizer.hpp"
#include "io/utf8.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {

// One slice of the input, tokenized: its documents (each ending with end-of-text) and which go to validation.
struct SliceResult {
  int64_t file = 0, bytes = 0, replaced = 0;
  std::vector<int32_t> lengths;  // tokens per document
  std::vector<uint8_t> val;      // 1: validation
  std::vector<int32_t> tokens;
  std::vector<uint8_t> mask;  // fine-tuning pairs: 1 where the token is the response's (the loss's targets)
};

SliceResult tokenize_slice(const InputSlice& slice, const PrepareOptions& opt, const Tokenizer& tokenizer) {
  const std::string mode = opt.jsonl_key.empty() ? opt.doc_boundary : "jsonl";
  SliceText in = read_slice(slice, mode);
  if (slice.whole && in.text.empty()) TESSERA_RAISE("{}: empty file", slice.path);
  SliceResult r;
  r.file = slice.file;
  // split before making the text valid UTF-8, so that offsets are those of the file's bytes whatever the slicing
  std::vector<Document> docs =
      mode == "jsonl" ? jsonl_documents(
                            in.text, opt.jsonl_key, slice.path,
                            [&] {  // lines before this slice, for the error message
                              const std::string head = read_slice({slice.file, slice.path, 0, in.offset}, "line").text;
                              return static_cast<int64_t>(std::count(head.begin(), head.end(), '\n'));
                            },
                            &r.replaced, opt.jsonl_prompt)
                      : split_documents(in.text, opt.doc_boundary);
  if (mode != "jsonl") {
    for (Document& d : docs) d.text = sanitize_utf8(d.text, &r.replaced);
    r.bytes = static_cast<int64_t>(in.text.size());
  } else {
    for (const Document& d : docs) r.bytes += static_cast<int64_t>(d.prompt.size() + d.text.size());  // not the JSON
  }
  const bool pairs = !opt.jsonl_prompt.empty();
  std::vector<std::vector<int32_t>> ids(docs.size());
  std::vector<int32_t> prompt_tokens(docs.size(), 0);
#pragma omp parallel for schedule(dynamic, 4)
  for (size_t i = 0; i < docs.size(); ++i) {
    if (pairs) {  // prompt and response tokenized apart, as fine-tuning frameworks do
      tokenizer.encode(docs[i].prompt, ids[i]);
      prompt_tokens[i] = static_cast<int32_t>(ids[i].size());
      std::vector<int32_t> response;
      tokenizer.encode(docs[i].text, response);
      ids[i].insert(ids[i].end(), response.begin(), response.end());
    } else {
      tokenizer.encode(docs[i].text, ids[i]);
    }
    ids[i].push_back(tokenizer.eot_id());
  }
  for (size_t i = 0; i < docs.size(); ++i) {
    // the draw is keyed by the document's place in its file, so it does not depend on slicing or ranks
    Rng rng(opt.seed, (static_cast<uint64_t>(slice.file) << 40) ^ static_cast<uint64_t>(in.offset + docs[i].offset));
    r.val.push_back(rng.uniform() < opt.val_fraction ? 1 : 0);
    r.lengths.push_back(static_cast<int32_t>(ids[i].size()));
    r.tokens.insert(r.tokens.end(), ids[i].begin(), ids[i].end());
    if (pairs) {
      r.mask.insert(r.mask.end(), static_cast<size_t>(prompt_tokens[i]), uint8_t{0});
      r.mask.insert(r.mask.end(), ids[i].size() - static_cast<size_t>(prompt_tokens[i]), uint8_t{1});
    }
  }
  return r;
}

// Under MPI, slices travel from the rank that tokenized them to rank 0 as files in the output's temporary directory.
constexpr int64_t kSpillMagic = 0x7465737370696c6cLL;

template <class T>
void put(std::ofstream& out, const std::vector<T>& v) {
  if (!v.empty())
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}
template <class T>
void get(std::ifstream& in, std::vector<T>& v, int64_t n) {
  v.resize(static_cast<size_t>(n));
  if (n > 0) in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
}

void write_spill(const fs::path& path, const SliceResult& r) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    const int64_t head[] = {kSpillMagic,
                            r.file,
                            r.bytes,
                            r.replaced,
                            static_cast<int64_t>(r.lengths.size()),
                            static_cast<int64_t>(r.tokens.size()),
                            static_cast<int64_t>(r.mask.size())};
    out.write(reinterpret_cast<const char*>(head), sizeof(head));
    put(out, r.lengths);
    put(out, r.val);
    put(out, r.tokens);
    put(out, r.mask);
    if (!out) TESSERA_RAISE("{}: cannot write", tmp.string());
  }
  fs::rename(tmp, path);
}

SliceResult read_spill(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    TESSERA_RAISE("{}: missing (under mpirun the output directory must be on a filesystem that every rank sees)",
                  path.string());
  int64_t head[7] = {};
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  if (!in || head[0] != kSpillMagic) TESSERA_RAISE("{}: corrupt", path.string());
  SliceResult r;
  r.file = head[1];
  r.bytes = head[2];
  r.replaced = head[3];
  get(in, r.lengths, head[4]);
  get(in, r.val, head[4]);
  get(in, r.tokens, head[5]);
  get(in, r.mask, head[6]);
  if (!in) TESSERA_RAISE("{}: truncated", path.string());
  return r;
}

// Sends documents to the train or validation writer by their drawn flags. The last document is held back until
// the end, and goes to validation if no other did, so that a small corpus still gets both splits.
class SplitRouter {
 public:
  SplitRouter(ShardWriter& train, ShardWriter& val, double val_fraction)
      : train_(train), val_(val), fraction_(val_fraction) {}

  void add(std::span<const int32_t> tokens, std::span<const uint8_t> mask, bool val) {
    if (has_held_) (held_val_ ? val_ : train_).add_document(held_, held_mask_);
    held_.assign(tokens.begin(), tokens.end());
    held_mask_.assign(mask.begin(), mask.end());
    held_val_ = val;
    has_held_ = true;
    ++documents_;
  }
  void finish() {
    if (!has_held_) return;
    if (fraction_ > 0 && val_.documents() == 0) {
      if (documents_ == 1)
        TESSERA_RAISE(
            "prepare: one document cannot give both a train and a validation split "
            "(use --doc-boundary line or blank, or --val-fraction 0)");
      val_.add_document(held_, held_mask_);
    } else {
      (held_val_ ? val_ : train_).add_document(held_, held_mask_);
    }
    has_held_ = false;
    if (train_.documents() == 0)
      TESSERA_RAISE("prepare: all {} documents drew the validation split; use a smaller --val-fraction", documents_);
  }

 private:
  ShardWriter &train_, &val_;
  double fraction_;
  std::vector<int32_t> held_;
  std::vector<uint8_t> held_mask_;
  bool held_val_ = false, has_held_ = false;
  int64_t documents_ = 0;
};

// --force replaces a tessera dataset and nothing else: a directory holding only shards (train-NNNNN.h5,
// val-NNNNN.h5) whose format attribute says so. Anything else at the output is somebody's data.
void check_replaceable_dataset(const std::string& output) {
  const fs::path out(output);
  if (fs::is_symlink(out) || !fs::is_directory(out))
    TESSERA_RAISE("{}: exists and is not a tessera dataset; --force replaces only a dataset directory", output);
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    const bool shard_name = (name.starts_with("train-") || name.starts_with("val-")) && name.ends_with(".h5");
    if (!shard_name || !e.is_regular_file() || e.is_symlink())
      TESSERA_RAISE("{}: holds {}, which is not a dataset shard; --force replaces only a tessera dataset", output,
                    e.path().string());
    bool ours = false;
    try {
      const h5::File f(e.path().string(), h5::Mode::kRead);
      ours = f.has_attr("/", "format") && f.attr_string("/", "format") == kDatasetFormat;
    } catch (const Error&) {
      ours = false;
    }
    if (!ours)
      TESSERA_RAISE("{}: {} is not a tessera dataset shard; --force replaces only a tessera dataset", output,
                    e.path().string());
  }  // an empty directory holds nothing to lose
}

// OUTPUT.partial-PID and OUTPUT.old-PID left by a prepare that was killed (SIGKILL, an MPI abort) are removed by the
// next prepare of the same output once process PID is gone, and it says so.
void remove_leftovers(const fs::path& out) {
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) return;
  const std::string name = out.filename().string();
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string n = e.path().filename().string();
    std::string pid_text;
    for (const char* kind : {".partial-", ".old-"}) {
      if (n.starts_with(name + kind)) pid_text = n.substr(name.size() + std::string(kind).size());
    }
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::stol(pid_text);
    if (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // still running (or not ours to ask)
    fs::remove_all(e.path(), ec);
    if (!ec)
      std::fprintf(stderr, "note: removed %s, left by an interrupted prepare (pid %ld)\n", e.path().c_str(), pid);
  }
}

// Whether `file` lies inside the output or its temporary siblings (OUTPUT.partial-*, OUTPUT.old-*); `out` is the
// output's canonical path.
bool inside_output(const std::string& file, const fs::path& out) {
  const std::string out_name = out.filename().string();
  const fs::path f = fs::weakly_canonical(fs::absolute(file));
  for (fs::path p = f; p.has_relative_path(); p = p.parent_path()) {
    if (p.parent_path() != out.parent_path()) continue;
    const std::string n = p.filename().string();
    if (n == out_name || n.starts_with(out_name + ".partial-") || n.starts_with(out_name + ".old-")) return true;
  }
  return false;
}

// Outputs are never inputs: an input named inside the output is an error, and files found there while searching an
// input directory are left out.
std::vector<std::string> inputs_apart_from_output(const std::vector<std::string>& inputs, const std::string& output) {
  const fs::path out = fs::weakly_canonical(fs::absolute(output));  // once, not per input file
  for (const std::string& in : inputs) {
    if (inside_output(in, out)) TESSERA_RAISE("{}: lies inside the output {}; outputs are never inputs", in, output);
  }
  std::vector<std::string> kept;
  for (const std::string& f : list_input_files(inputs)) {
    if (!inside_output(f, out)) kept.push_back(f);
  }
  if (kept.empty()) TESSERA_RAISE("prepare: the inputs hold no files outside the output {}", output);
  return kept;
}

}  // namespace

PrepareInputs check_prepare_inputs(const PrepareOptions& opt) {
  if (opt.output.empty()) TESSERA_RAISE("prepare: no output directory (--output)");
  if (!(opt.val_fraction >= 0 && opt.val_fraction < 1))  // NaN too
    TESSERA_RAISE("prepare: --val-fraction must be in [0, 1), got {}", opt.val_fraction);
  if (opt.batch_bytes <= 0) TESSERA_RAISE("prepare: batch size must be positive, got {}", opt.batch_bytes);
  if (opt.jsonl_key.empty() && opt.doc_boundary != "auto") check_document_boundary(opt.doc_boundary);
  if (!opt.jsonl_prompt.empty() && opt.jsonl_key.empty())
    TESSERA_RAISE("prepare: --jsonl-prompt needs --jsonl-response (the key of the responses)");
  if (!opt.jsonl_prompt.empty() && opt.jsonl_prompt == opt.jsonl_key)
    TESSERA_RAISE("prepare: --jsonl-prompt and --jsonl-response name the same key \"{}\"", opt.jsonl_key);
  // the output's nearest existing ancestor must be a directory we can create it in
  for (fs::path a = fs::absolute(opt.output).parent_path(); !a.empty(); a = a.parent_path()) {
    if (!fs::exists(a)) continue;
    if (!fs::is_directory(a))
      TESSERA_RAISE("{}: cannot create the output: {} is not a directory", opt.output, a.string());
    if (access(a.c_str(), W_OK | X_OK) != 0)
      TESSERA_RAISE("{}: cannot create the output: no permission to write in {}", opt.output, a.string());
    break;
  }
  if (fs::exists(opt.output) || fs::is_symlink(opt.output)) {
    if (!opt.force) TESSERA_RAISE("{}: already exists (pass --force to replace it)", opt.output);
    check_replaceable_dataset(opt.output);
  }
  PrepareInputs in;
  in.tokenizer = make_tokenizer(opt.tokenizer, opt.tokenizer_files);
  in.files = inputs_apart_from_output(opt.inputs, opt.output);
  if (!opt.jsonl_key.empty()) {
    in.doc_boundary = "jsonl";  // one document per line, whatever --doc-boundary says
  } else if (opt.doc_boundary == "auto") {
    in.doc_boundary = choose_document_boundary(in.files);
  } else {
    in.doc_boundary = opt.doc_boundary;
  }
  return in;
}

namespace {

// group: null for one process without MPI
PrepareSummary prepare(const PrepareOptions& options, const ProcessGroup* group) {
  const auto start = std::chrono::steady_clock::now();
  PrepareInputs checked = check_prepare_inputs(options);
  PrepareOptions opt = options;
  opt.doc_boundary = checked.doc_boundary;
  const std::unique_ptr<Tokenizer> tokenizer = std::move(checked.tokenizer);
  const std::vector<std::string>& files = checked.files;
  const int ranks = group != nullptr ? group->size() : 1;
  // several ranks: at least about four slices each, so that one large file still keeps every rank busy
  int64_t slice_bytes = opt.batch_bytes;
  if (ranks > 1) {
    int64_t total = 0;
    for (const std::string& f : files) total += static_cast<int64_t>(fs::file_size(f));
    slice_bytes = std::min(slice_bytes, std::max<int64_t>(int64_t{1} << 20, total / (4 * int64_t{ranks}) + 1));
  }
  const std::vector<InputSlice> slices =
      plan_slices(files, opt.jsonl_key.empty() ? opt.doc_boundary : "jsonl", slice_bytes);
  const int rank = group != nullptr ? group->rank() : 0;
  const bool writer = rank == 0;

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
    sources.append(fs::absolute(f).lexically_normal().string());
  }

  // rank 0's pid names the temporary directory on every rank
  int64_t pid = getpid();
  if (group != nullptr) group->broadcast(&pid, sizeof(pid), 0);
  const fs::path out(opt.output);
  const fs::path tmp = out.string() + ".partial-" + std::to_string(pid);
  if (writer) {
    remove_leftovers(out);
    fs::remove_all(tmp);
    fs::create_directories(tmp);
  }
  if (group != nullptr) group->barrier();
  auto spill_path = [&](size_t i) { return tmp / fmt::format("slice-{:08d}.bin", i); };

  PrepareSummary sum;
  sum.doc_boundary = opt.doc_boundary;
  try {
    // 1. this rank's slices (i = rank, rank + ranks, ...), tokenized; one process keeps them, several spill them
    int64_t own_bytes = 0;
    for (size_t i = static_cast<size_t>(rank); i < slices.size(); i += static_cast<size_t>(ranks))
      own_bytes += slices[i].end - slices[i].begin;
    Progress progress(ranks > 1 ? fmt::format("prepare (rank 0 of {})", ranks) : "prepare", own_bytes,
                      writer && opt.progress);
    int64_t done_bytes = 0, done_text = 0, done_tokens = 0;
    ShardWriter train(tmp.string(), "train", info, sources, opt.shard_tokens);
    ShardWriter val(tmp.string(), "val", info, sources, opt.shard_tokens);
    SplitRouter router(train, val, opt.val_fraction);
    std::vector<int64_t> file_documents(files.size(), 0);
    auto consume = [&](const SliceResult& r) {
      sum.bytes += r.bytes;
      sum.replaced_bytes += r.replaced;
      size_t at = 0;
      for (size_t d = 0; d < r.lengths.size(); ++d) {
        const auto n = static_cast<size_t>(r.lengths[d]);
        const std::span<const uint8_t> mask =
            r.mask.empty() ? std::span<const uint8_t>() : std::span<const uint8_t>(r.mask.data() + at, n);
        router.add(std::span<const int32_t>(r.tokens.data() + at, n), mask, r.val[d] != 0);
        at += n;
      }
      sum.documents += static_cast<int64_t>(r.lengths.size());
      sum.tokens += static_cast<int64_t>(r.tokens.size());
      file_documents[static_cast<size_t>(r.file)] += static_cast<int64_t>(r.lengths.size());
    };
    for (size_t i = static_cast<size_t>(rank); i < slices.size(); i += static_cast<size_t>(ranks)) {
      SliceResult r = tokenize_slice(slices[i], opt, *tokenizer);
      done_bytes += slices[i].end - slices[i].begin;
      done_text += r.bytes;
      done_tokens += static_cast<int64_t>(r.tokens.size());
      progress.update(done_bytes, done_text, done_tokens);
      if (ranks == 1) {
        consume(r);
      } else {
        write_spill(spill_path(i), r);
      }
    }
    progress.finish(done_text, done_tokens);
    // 2. rank 0 writes every slice in order
    if (group != nullptr) group->barrier();
    if (writer && ranks > 1) {
      for (size_t i = 0; i < slices.size(); ++i) {
        consume(read_spill(spill_path(i)));
        fs::remove(spill_path(i));
      }
    }
    if (writer) {
      for (size_t f = 0; f < files.size(); ++f) {
        if (file_documents[f] == 0) TESSERA_RAISE("{}: holds only whitespace", files[f]);
      }
      sum.files = static_cast<int64_t>(files.size());
      router.finish();
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
  if (group != nullptr && ranks > 1) group->barrier();  // returns once rank 0 has the dataset in place
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
