// Tokenized datasets in HDF5 (the format is in docs/formats.md).
//
// A dataset is a directory of shard files, `train-00000.h5`, `train-00001.h5`, ..., `val-00000.h5`. Each shard holds
// a 1-D token array (uint16 when the vocabulary fits, else uint32), the document offsets into it, and attributes
// naming the tokenizer (name, hash of its files, vocabulary size, special ids) and the counts.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/hdf5_file.hpp"

namespace tessera {

constexpr const char* kDatasetFormat = "tessera-tokens";
constexpr int64_t kDatasetFormatVersion = 1;

struct TokenizerInfo {
  std::string name;   // "gpt2", "byte"
  std::string hash;   // hex digest of the vocabulary files
  std::string files;  // where the vocabulary files were read from (for decoding samples)
  int64_t vocab_size = 0;
  int64_t regular_vocab_size = 0;
  int64_t eot_id = -1;
  int64_t mask_id = -1;
  int64_t pad_id = -1;
};

// Writes the shards of one split. Tokens go to a shard until it holds `shard_tokens`; a document never spans two
// shards unless it alone is larger than a shard.
class ShardWriter {
 public:
  ShardWriter(std::string dir, std::string split, TokenizerInfo tokenizer, std::string sources, int64_t shard_tokens);
  // One document (its end-of-text token already appended); mask: its loss mask (fine-tuning pairs: 1 on the
  // response), empty for none. Every document of a writer has a mask, or none has.
  void add_document(const std::vector<int32_t>& tokens, const std::vector<uint8_t>& mask = {});
  // Writes the last shard; returns the number of shards.
  int finish();
  int64_t tokens() const { return total_tokens_; }
  int64_t documents() const { return total_docs_; }

 private:
  void flush_shard();
  std::string dir_, split_, sources_;
  TokenizerInfo tokenizer_;
  int64_t shard_tokens_;
  std::vector<uint32_t> tokens_;
  std::vector<uint8_t> mask_;
  int has_mask_ = -1;  // unknown until the first document
  std::vector<uint64_t> offsets_{0};
  int shard_index_ = 0;
  int64_t total_tokens_ = 0, total_docs_ = 0;
};

// The shards of one split, opened for reading. Reads go through a cache of blocks of kCacheBlock tokens (aligned
// with the HDF5 chunks, checked against the vocabulary once when loaded, least recently used evicted), never the
// whole array: memory stays at cache_tokens * 4 bytes whatever the dataset's size. Reads change the cache: one
// TokenDataset per thread.
class TokenDataset {
 public:
  static constexpr int64_t kCacheBlock = int64_t{1} << 16;
  static constexpr int64_t kDefaultCacheTokens = int64_t{1} << 24;  // 64 MiB

  // Throws tessera::Error if the directory or split is missing, a shard is not a tessera dataset, or the shards
  // disagree on the tokenizer.
  TokenDataset(const std::string& dir, const std::string& split, int64_t cache_tokens = kDefaultCacheTokens);

  const TokenizerInfo& tokenizer() const { return tokenizer_; }
  int shards() const { return static_cast<int>(files_.size()); }
  int64_t shard_tokens(int shard) const { return shard_tokens_[static_cast<size_t>(shard)]; }
  int64_t tokens() const;
  int64_t documents() const { return documents_; }
  const std::string& path(int shard) const { return files_[static_cast<size_t>(shard)]->path(); }
  // tokens [start, start + count) of a shard, as int32. Throws tessera::Error for a token outside the vocabulary.
  void read(int shard, int64_t start, int64_t count, int32_t* out) const;
  // Whether the shards hold a loss mask (/loss_mask: fine-tuning pairs, 1 on the response tokens).
  bool has_loss_mask() const { return has_mask_; }
  // Its elements [start, start + count) of a shard (all 1 without a mask).
  void read_mask(int shard, int64_t start, int64_t count, uint8_t* out) const;
  // Blocks read from HDF5 and blocks served from the cache so far.
  int64_t cache_misses() const { return misses_; }
  int64_t cache_hits() const { return hits_; }

 private:
  struct Block {
    uint64_t key = 0;  // shard << 40 | block index
    std::vector<int32_t> tokens;
  };
  const std::vector<int32_t>& block(int shard, int64_t index) const;

  std::vector<std::unique_ptr<h5::File>> files_;
  std::vector<int64_t> shard_tokens_;
  std::vector<bool> narrow_;  // uint16 storage
  TokenizerInfo tokenizer_;
  int64_t documents_ = 0;
  bool has_mask_ = false;
  size_t max_blocks_ = 1;
  mutable std::list<Block> blocks_;  // most recently used first
  mutable std::unordered_map<uint64_t, std::list<Block>::iterator> index_;
  mutable std::vector<uint16_t> buffer16_;
  mutable int64_t misses_ = 0, hits_ = 0;
};

// Whether two datasets (or a dataset and a model) were made with the same tokenizer: name, files' hash, vocabulary.
bool same_tokenizer(const TokenizerInfo& a, const TokenizerInfo& b);
// "gpt2 (files 1a2b3c4d5e6f7a8b, vocabulary 50259)", "byte (vocabulary 259)": what same_tokenizer compares.
std::string describe(const TokenizerInfo& tokenizer);
// Reads the tokenizer attributes of a shard (and checks the format attributes).
TokenizerInfo read_tokenizer_info(const h5::File& file);
// The tokenizer attributes on the root of any tessera file (datasets and model files).
void write_tokenizer_attributes(h5::File& file, const TokenizerInfo& tokenizer);
TokenizerInfo read_tokenizer_attributes(const h5::File& file);
// Throws tessera::Error naming `where` unless the vocabulary size and the special ids lie inside the vocabulary.
void check_tokenizer_ids(const TokenizerInfo& tokenizer, const std::string& where);
// Shard paths of a split in a dataset directory, in order (an error if one in the middle is missing).
std::vector<std::string> shard_paths(const std::string& dir, const std::string& split);

}  // namespace tessera
