// The tensor table: names, shapes and offsets of every tensor in one flat buffer, and how each is partitioned.
//
// Parameters, gradients and optimizer state each live in one allocation of the same layout, addressed through this
// table. Each entry also records where this rank's shard sits in the global tensor, so that initialisation, the
// gradient norm, data-parallel reduction, the sharded optimizer and checkpoints are all driven by the table alone:
//  - split_dim: the dimension split across tensor-parallel ranks (-1: the whole tensor, duplicated on every tp rank);
//  - parts: for fused tensors, the global sizes of the parts along split_dim, each split evenly across tp
//    (qkv = {NH*HS, NKV*HS, NKV*HS}, SwiGLU's fc = {F, F}): the shard is [part 0 slice | part 1 slice | ...]. This
//    generalises Megatron's partition stride to parts of unequal size (grouped-query attention);
//  - shard / shards: this rank's index along tp, and tp;
//  - global_offset: where the shard starts in the global tensor (for fused tensors: in each part, relative to it).
// On one rank, local and global shapes are equal and the global offset is zero.
// Each entry also says what kind of tensor it is (TensorKind): initialisation, weight decay, the sequence-parallel
// gradient sum and the vocabulary padding all follow the kind, never the name.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessera {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& shape);
std::string shape_string(const Shape& shape);

// How a tensor's values start (init_params).
enum class TensorInit : uint8_t {
  kNormal,          // N(0, model.init_std); rows of vocabulary padding zero
  kResidualNormal,  // N(0, init_std / sqrt(2 L)): a projection that writes into the residual stream (GPT-2)
  kOnes,            // a norm's weight
  kZeros,           // a bias
};

// What a tensor is, for every behaviour that depends on it (a renamed tensor keeps its behaviour).
struct TensorKind {
  TensorInit init = TensorInit::kNormal;
  bool weight_decay = false;  // AdamW decays it (the matrices, and the embeddings unless train.decay_embeddings is off)
  bool in_matmul = false;     // takes part in a matrix multiply (counts in the MFU's N)
  bool norm = false;          // a norm's weight or bias: under sequence parallelism a tp rank's gradient covers its
                              // rows of the sequence only, and is summed over tp
  bool embedding = false;     // an embedding table (tokens, positions): decayed only with train.decay_embeddings
  bool vocab_rows = false;    // rows are the padded vocabulary: rows past model.vocab_size are padding (zero, never
                              // exported; resized when the tensor-parallel size changes)
};

struct TensorInfo {
  std::string name;    // e.g. "layers.3.attn.qkv.weight"
  Shape shape;         // local shape (this rank's shard)
  int64_t offset = 0;  // into the flat buffer, in elements
  int64_t numel = 0;
  Shape global_shape;    // the unsharded tensor
  Shape global_offset;   // where this shard starts in the global tensor, per dimension (see above for fused tensors)
  int split_dim = -1;    // split across tp along this dimension; -1: duplicated on every tp rank
  Shape parts;           // global sizes of the fused parts along split_dim (one part: {global_shape[split_dim]})
  int shard = 0;         // tp rank
  int shards = 1;        // tp size
  int global_index = 0;  // position in the whole model's table, whatever part of it this rank holds
  bool pp_copy = false;  // a copy of a tensor another pipeline stage owns (the tied embedding on the last stage)
  TensorKind kind;

  // The same values on every tensor-parallel rank (norms, row-parallel biases, position embeddings): counted once.
  bool tp_duplicated() const { return split_dim < 0; }
};

// A range [begin, end) of a flat buffer (a gradient bucket, the part of the optimizer state a ZeRO-1 rank owns).
struct FlatRange {
  int64_t begin = 0;
  int64_t end = 0;
};

// Where a shard's slices lie along the split dimension: local [local_start, local_start + length) is global
// [global_start, global_start + length).
struct ShardSpan {
  int64_t global_start = 0;
  int64_t local_start = 0;
  int64_t length = 0;
};
std::vector<ShardSpan> shard_spans(const TensorInfo& info);

// Copies between a shard and the whole tensor laid out row-major with shape `global` (which may have fewer rows
// along the split dimension than info.global_shape: the vocabulary padding of another tensor-parallel size). Local
// elements with no counterpart in `global` are zero (to_shard) or dropped (from_shard, where they must be padding).
template <typename T>
void copy_to_shard(const TensorInfo& info, const T* whole, const Shape& global, T* local);
template <typename T>
void copy_from_shard(const TensorInfo& info, const T* local, const Shape& global, T* whole);

class TensorTable {
 public:
  // Every offset is a multiple of kAlign elements, so each tensor starts on a 64-byte boundary.
  static constexpr int64_t kAlign = 16;

  // Adds a whole tensor (duplicated across tp); returns its index.
  int add(std::string name, Shape shape, const TensorKind& kind);
  // Adds this rank's shard of a tensor split along split_dim across `shards` ranks (parts: see above; {}: one part).
  int add_split(std::string name, Shape global_shape, int split_dim, Shape parts, int shard, int shards,
                const TensorKind& kind);
  // Sets the position of the last tensor added in the whole model's table (pipeline stages hold a range of it).
  void set_global_index(int index, int global_index) {
    entries_[static_cast<size_t>(index)].global_index = global_index;
  }
  // Marks a tensor as a copy that another pipeline stage owns (counted and saved there).
  void set_pp_copy(int index) { entries_[static_cast<size_t>(index)].pp_copy = true; }

  const TensorInfo& operator[](int i) const { return entries_[static_cast<size_t>(i)]; }
  const std::vector<TensorInfo>& entries() const { return entries_; }
  int size() const { return static_cast<int>(entries_.size()); }
  // Index of the tensor with this name, or -1.
  int find(const std::string& name) const;
  // Elements of the flat buffer (with alignment padding).
  int64_t total() const { return total_; }
  // Elements that belong to tensors (without padding).
  int64_t count() const;
  int64_t count_in_matmul() const;

 private:
  int push(TensorInfo info);
  std::vector<TensorInfo> entries_;
  std::unordered_map<std::string, int> index_;  // name -> entry (find in O(1): a model may have a million tensors)
  int64_t total_ = 0;
};

}  // namespace tessera
