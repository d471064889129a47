#include "io/token_dataset.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "core/check.hpp"
#include "core/rng.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {
constexpr auto kChunk = static_cast<uint64_t>(TokenDataset::kCacheBlock);  // elements per HDF5 chunk: one cache block
}

ShardWriter::ShardWriter(std::string dir, std::string split, TokenizerInfo tokenizer, std::string sources,
                         int64_t shard_tokens)
    : dir_(std::move(dir)),
      split_(std::move(split)),
      sources_(std::move(sources)),
      tokenizer_(std::move(tokenizer)),
      shard_tokens_(shard_tokens) {
  TESSERA_CHECK(shard_tokens_ > 0, "shard size {}", shard_tokens_);
}

void ShardWriter::add_document(const std::vector<int32_t>& tokens, const std::vector<uint8_t>& mask) {
  const int with_mask = mask.empty() ? 0 : 1;
  TESSERA_CHECK(has_mask_ < 0 || has_mask_ == with_mask, "a document {} a loss mask among documents {} one",
                with_mask ? "with" : "without", has_mask_ ? "with" : "without");
  TESSERA_CHECK(mask.empty() || mask.size() == tokens.size(), "a loss mask of {} for {} tokens", mask.size(),
                tokens.size());
  has_mask_ = with_mask;
  if (!tokens_.empty() && static_cast<int64_t>(tokens_.size() + tokens.size()) > shard_tokens_) flush_shard();
  mask_.insert(mask_.end(), mask.begin(), mask.end());
  for (int32_t t : tokens) {
    TESSERA_CHECK(t >= 0 && t < tokenizer_.vocab_size, "token {} outside the vocabulary", t);
    tokens_.push_back(static_cast<uint32_t>(t));
  }
  offsets_.push_back(tokens_.size());
  total_tokens_ += static_cast<int64_t>(tokens.size());
  ++total_docs_;
}

void ShardWriter::flush_shard() {
  if (tokens_.empty()) return;
  const std::string path = (fs::path(dir_) / fmt::format("{}-{:05d}.h5", split_, shard_index_)).string();
  h5::File f(path, h5::Mode::kCreate);
  const std::vector<uint64_t> dims{tokens_.size()};
  if (tokenizer_.vocab_size <= 65536) {
    std::vector<uint16_t> narrow(tokens_.begin(), tokens_.end());
    f.write("/tokens", narrow.data(), dims, kChunk);
  } else {
    f.write("/tokens", tokens_.data(), dims, kChunk);
  }
  f.write("/doc_offsets", offsets_.data(), {offsets_.size()}, kChunk);
  if (has_mask_ == 1) f.write("/loss_mask", mask_.data(), dims, kChunk);
  f.set_attr("/", "format", std::string(kDatasetFormat));
  f.set_attr("/", "format_version", kDatasetFormatVersion);
  f.set_attr("/", "split", split_);
  f.set_attr("/", "shard_index", static_cast<int64_t>(shard_index_));
  write_tokenizer_attributes(f, tokenizer_);
  f.set_attr("/", "num_tokens", static_cast<int64_t>(tokens_.size()));
  f.set_attr("/", "num_documents", static_cast<int64_t>(offsets_.size() - 1));
  // the input files: as many whole lines as fit in 16 KiB (an HDF5 attribute holds 64 KiB), their count and a hash
  // of the whole list, so that a million inputs still fit
  constexpr size_t kSourcesShown = size_t{16} << 10;
  int64_t count = sources_.empty() ? 0 : 1 + std::count(sources_.begin(), sources_.end(), '\n');
  std::string shown = sources_;
  if (shown.size() > kSourcesShown) {
    const size_t cut = shown.rfind('\n', kSourcesShown);
    shown.resize(cut != std::string::npos ? cut : kSourcesShown);
  }
  f.set_attr("/", "sources", shown);
  f.set_attr("/", "num_sources", count);
  f.set_attr("/", "sources_hash", fmt::format("{:016x}", stream_id(sources_)));
  f.flush();
  tokens_.clear();
  mask_.clear();
  offsets_.assign(1, 0);
  ++shard_index_;
}

int ShardWriter::finish() {
  flush_shard();
  return shard_index_;
}

bool same_tokenizer(const TokenizerInfo& a, const TokenizerInfo& b) {
  return a.name == b.name && a.hash == b.hash && a.vocab_size == b.vocab_size;
}

std::string describe(const TokenizerInfo& t) {
  return t.hash.empty() ? fmt::format("{} (vocabulary {})", t.name, t.vocab_size)
                        : fmt::format("{} (files {}, vocabulary {})", t.name, t.hash, t.vocab_size);
}

TokenizerInfo read_tokenizer_info(const h5::File& f) {
  if (!f.has_attr("/", "format") || f.attr_string("/", "format") != kDatasetFormat)
    TESSERA_RAISE("{}: not a tessera token dataset (no format = \"{}\" attribute)", f.path(), kDatasetFormat);
  const int64_t version = f.attr_int("/", "format_version");
  if (version != kDatasetFormatVersion)
    TESSERA_RAISE("{}: dataset format version {} is not supported (this build reads {})", f.path(), version,
                  kDatasetFormatVersion);
  return read_tokenizer_attributes(f);
}

void write_tokenizer_attributes(h5::File& f, const TokenizerInfo& t) {
  f.set_attr("/", "tokenizer", t.name);
  f.set_attr("/", "tokenizer_hash", t.hash);
  f.set_attr("/", "tokenizer_files", t.files);
  f.set_attr("/", "vocab_size", t.vocab_size);
  f.set_attr("/", "regular_vocab_size", t.regular_vocab_size);
  f.set_attr("/", "eot_id", t.eot_id);
  f.set_attr("/", "mask_id", t.mask_id);
  f.set_attr("/", "pad_id", t.pad_id);
}

TokenizerInfo read_tokenizer_attributes(const h5::File& f) {
  TokenizerInfo t;
  t.name = f.attr_string("/", "tokenizer");
  t.hash = f.attr_string("/", "tokenizer_hash");
  t.files = f.attr_string("/", "tokenizer_files");
  t.vocab_size = f.attr_int("/", "vocab_size");
  t.regular_vocab_size = f.attr_int("/", "regular_vocab_size");
  t.eot_id = f.attr_int("/", "eot_id");
  t.mask_id = f.attr_int("/", "mask_id");
  t.pad_id = f.attr_int("/", "pad_id");
  return t;
}

std::vector<std::string> shard_paths(const std::string& dir, const std::string& split) {
  if (!fs::is_directory(dir)) TESSERA_RAISE("{}: no such dataset directory", dir);
  std::vector<std::string> paths;
  for (int i = 0;; ++i) {
    const fs::path p = fs::path(dir) / fmt::format("{}-{:05d}.h5", split, i);
    if (!fs::exists(p)) break;
    paths.push_back(p.string());
  }
  // a gap: SPLIT-00001.h5 missing while SPLIT-00002.h5 is there
  int64_t named = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.starts_with(split + "-") && n.ends_with(".h5")) ++named;
  }
  if (named != static_cast<int64_t>(paths.size()))
    TESSERA_RAISE("{}: {} holds {} {} shards, but {}-{:05d}.h5 is missing", dir, dir, named, split, split,
                  paths.size());
  return paths;
}

void check_tokenizer_ids(const TokenizerInfo& t, const std::string& where) {
  if (t.vocab_size <= 0 || t.regular_vocab_size < 0 || t.regular_vocab_size > t.vocab_size)
    TESSERA_RAISE("{}: vocabulary attributes out of range (vocab_size {}, regular_vocab_size {})", where, t.vocab_size,
                  t.regular_vocab_size);
  for (const auto& [key, id] : {std::pair{"eot_id", t.eot_id}, {"mask_id", t.mask_id}, {"pad_id", t.pad_id}}) {
    if (id < -1 || id >= t.vocab_size || (id == -1 && std::string(key) == "eot_id"))
      TESSERA_RAISE("{}: {} = {} lies outside the vocabulary of {}", where, key, id, t.vocab_size);
  }
}

namespace {
// The attributes and arrays of one shard agree with each other: its split and index, the tokenizer's ids, the
// token type, and document offsets that rise from 0 to the token count.
void check_shard(const h5::File& f, const std::string& split, int index, const TokenizerInfo& t, int64_t n) {
  const std::string& p = f.path();
  if (f.attr_string("/", "split") != split)
    TESSERA_RAISE("{}: its split attribute says \"{}\", its name says {}", p, f.attr_string("/", "split"), split);
  if (f.attr_int("/", "shard_index") != index)
    TESSERA_RAISE("{}: its shard_index attribute says {}, its name says {}", p, f.attr_int("/", "shard_index"), index);
  check_tokenizer_ids(t, p);
  if (!f.is_unsigned_integer("/tokens"))
    TESSERA_RAISE("{}: /tokens does not hold unsigned integers (expected uint16 or uint32 token ids)", p);
  const std::vector<uint64_t> offsets = f.read<uint64_t>("/doc_offsets");
  const int64_t docs = f.attr_int("/", "num_documents");
  if (static_cast<int64_t>(offsets.size()) != docs + 1)
    TESSERA_RAISE("{}: /doc_offsets holds {} offsets for {} documents", p, offsets.size(), docs);
  if (offsets.front() != 0 || static_cast<int64_t>(offsets.back()) != n)
    TESSERA_RAISE("{}: /doc_offsets runs from {} to {}, not from 0 to the {} tokens", p, offsets.front(),
                  offsets.back(), n);
  for (size_t i = 1; i < offsets.size(); ++i) {
    if (offsets[i] < offsets[i - 1])
      TESSERA_RAISE("{}: /doc_offsets falls at document {} ({} after {})", p, i, offsets[i], offsets[i - 1]);
  }
}
}  // namespace

TokenDataset::TokenDataset(const std::string& dir, const std::string& split, int64_t cache_tokens)
    : max_blocks_(static_cast<size_t>(std::max<int64_t>(1, cache_tokens / kCacheBlock))) {
  const std::vector<std::string> paths = shard_paths(dir, split);
  if (paths.empty()) TESSERA_RAISE("{}: no {} shards ({}-00000.h5 missing)", dir, split, split);
  for (const std::string& p : paths) {
    auto f = std::make_unique<h5::File>(p, h5::Mode::kRead);
    TokenizerInfo t = read_tokenizer_info(*f);
    if (files_.empty()) {
      tokenizer_ = t;
    } else if (!same_tokenizer(t, tokenizer_)) {
      TESSERA_RAISE("{}: made with tokenizer {}, but {} was made with {}", p, describe(t), path(0),
                    describe(tokenizer_));
    }
    const std::vector<uint64_t> dims = f->dims("/tokens");
    if (dims.size() != 1) TESSERA_RAISE("{}: /tokens is not 1-D", p);
    const auto n = static_cast<int64_t>(dims[0]);
    if (n != f->attr_int("/", "num_tokens"))
      TESSERA_RAISE("{}: /tokens holds {} tokens, attributes say {} (truncated?)", p, n,
                    f->attr_int("/", "num_tokens"));
    const size_t width = f->element_size("/tokens");
    if (width != 2 && width != 4)
      TESSERA_RAISE("{}: /tokens has {}-byte elements (expected uint16 or uint32)", p, width);
    check_shard(*f, split, static_cast<int>(files_.size()), t, n);
    // a loss mask in every shard or in none; of the tokens' length, 0s and 1s
    const bool masked = f->has("/loss_mask");
    if (!files_.empty() && masked != has_mask_)
      TESSERA_RAISE("{}: {} a loss mask, but {} {} (shards of different datasets?)", p, masked ? "holds" : "lacks",
                    path(0), has_mask_ ? "holds one" : "does not");
    has_mask_ = masked;
    if (masked) {
      const std::vector<uint64_t> mask_dims = f->dims("/loss_mask");
      if (mask_dims.size() != 1 || static_cast<int64_t>(mask_dims[0]) != n || f->element_size("/loss_mask") != 1 ||
          !f->is_unsigned_integer("/loss_mask"))
        TESSERA_RAISE("{}: /loss_mask is not {} uint8 values, one per token", p, n);
    }
    documents_ += f->attr_int("/", "num_documents");
    shard_tokens_.push_back(n);
    narrow_.push_back(width == 2);
    files_.push_back(std::move(f));
  }
}

void TokenDataset::read_mask(int shard, int64_t start, int64_t count, uint8_t* out) const {
  if (!has_mask_) {
    std::fill(out, out + count, uint8_t{1});
    return;
  }
  const h5::File& f = *files_[static_cast<size_t>(shard)];
  f.read_range("/loss_mask", static_cast<uint64_t>(start), static_cast<uint64_t>(count), out);
  for (int64_t i = 0; i < count; ++i)
    if (out[i] > 1) TESSERA_RAISE("{}: /loss_mask holds {} at {}, not 0 or 1", f.path(), out[i], start + i);
}

int64_t TokenDataset::tokens() const {
  int64_t n = 0;
  for (int64_t s : shard_tokens_) n += s;
  return n;
}

const std::vector<int32_t>& TokenDataset::block(int shard, int64_t index) const {
  const uint64_t key = (static_cast<uint64_t>(shard) << 40) | static_cast<uint64_t>(index);
  if (const auto it = index_.find(key); it != index_.end()) {
    blocks_.splice(blocks_.begin(), blocks_, it->second);
    ++hits_;
    return blocks_.front().tokens;
  }
  ++misses_;
  if (blocks_.size() >= max_blocks_) {  // reuse the least recently used block's memory
    index_.erase(blocks_.back().key);
    blocks_.splice(blocks_.begin(), blocks_, std::prev(blocks_.end()));
  } else {
    blocks_.emplace_front();
  }
  Block& b = blocks_.front();
  b.key = key;
  index_[key] = blocks_.begin();
  const int64_t start = index * kCacheBlock;
  const int64_t count = std::min(kCacheBlock, shard_tokens(shard) - start);
  b.tokens.resize(static_cast<size_t>(count));
  const h5::File& f = *files_[static_cast<size_t>(shard)];
  try {
    if (narrow_[static_cast<size_t>(shard)]) {
      buffer16_.resize(static_cast<size_t>(count));
      f.read_range("/tokens", static_cast<uint64_t>(start), static_cast<uint64_t>(count), buffer16_.data());
      std::copy(buffer16_.begin(), buffer16_.end(), b.tokens.begin());
    } else {
      f.read_range("/tokens", static_cast<uint64_t>(start), static_cast<uint64_t>(count),
                   reinterpret_cast<uint32_t*>(b.tokens.data()));
    }
    for (int64_t i = 0; i < count; ++i) {
      const int32_t t = b.tokens[static_cast<size_t>(i)];
      if (t < 0 || t >= tokenizer_.vocab_size)
        TESSERA_RAISE("{}: token {} at {} outside the vocabulary of {} (corrupt file?)", f.path(), t, start + i,
                      tokenizer_.vocab_size);
    }
  } catch (...) {
    index_.erase(key);
    blocks_.pop_front();
    throw;
  }
  return b.tokens;
}

void TokenDataset::read(int shard, int64_t start, int64_t count, int32_t* out) const {
  TESSERA_CHECK(shard >= 0 && shard < shards() && start >= 0 && start + count <= shard_tokens(shard),
                "read [{}, {}) outside shard {}", start, start + count, shard);
  while (count > 0) {
    const int64_t index = start / kCacheBlock, offset = start % kCacheBlock;
    const std::vector<int32_t>& b = block(shard, index);
    const int64_t n = std::min(count, kCacheBlock - offset);
    std::copy_n(b.begin() + offset, n, out);
    out += n;
    start += n;
    count -= n;
  }
}

}  // namespace tessera
