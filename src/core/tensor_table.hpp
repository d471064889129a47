// The tensor table: names, shapes and offsets of every tensor in one flat buffer.
//
// Parameters, gradients and optimizer state each live in one allocation of the same layout, addressed through this
// table. Each entry also records where this rank's shard sits in the global tensor (global shape and offset), so
// that data-parallel reduction, the sharded optimizer and checkpoints can all be driven by the table alone. On one
// rank, local and global shapes are equal and the global offset is zero.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace tessera {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& shape);
std::string shape_string(const Shape& shape);

struct TensorInfo {
  std::string name;    // e.g. "layers.3.attn.qkv.weight"
  Shape shape;         // local shape (this rank's shard)
  int64_t offset = 0;  // into the flat buffer, in elements
  int64_t numel = 0;
  Shape global_shape;         // the unsharded tensor
  Shape global_offset;        // where this shard starts in the global tensor, per dimension
  bool weight_decay = false;  // AdamW decays it
  bool in_matmul = false;     // takes part in a matrix multiply (counts in the MFU's N)
};

class TensorTable {
 public:
  // Every offset is a multiple of kAlign elements, so each tensor starts on a 64-byte boundary.
  static constexpr int64_t kAlign = 16;

  // Adds an unsharded tensor; returns its index.
  int add(std::string name, Shape shape, bool weight_decay, bool in_matmul);
  // Adds a shard of a global tensor.
  int add_shard(std::string name, Shape shape, Shape global_shape, Shape global_offset, bool weight_decay,
                bool in_matmul);

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
  std::vector<TensorInfo> entries_;
  std::unordered_map<std::string, int> index_;  // name -> entry (find in O(1): a model may have a million tensors)
  int64_t total_ = 0;
};

}  // namespace tessera
