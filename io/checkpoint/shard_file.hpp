// The HDF5 files of a checkpoint: tensors stored per name, each with where it sits in the global tensor and a
// checksum (XXH3-64 of its float32 bytes) that every read verifies.
//
//   /params/NAME, /exp_avg/NAME, /exp_avg_sq/NAME      a shard's whole tensor (its local shape), with attributes
//       global_shape, global_offset, split_dim, parts, shard, shards (as in core/tensor_table.hpp) and xxh3
//   /exp_avg/NAME@BEGIN, /exp_avg_sq/NAME@BEGIN         (optim-* files, ZeRO-1) elements [BEGIN, BEGIN + n) of the
//       shard's tensor in row-major order, with the same attributes plus begin
// Root attributes: format, format_version, step, tp_rank, tp, pp_rank, pp, dp_rank.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor_table.hpp"
#include "io/hdf5_file.hpp"

namespace tessera {

constexpr const char* kShardFormat = "tessera-checkpoint-shard";

// What a tensor's values are: the weights, or AdamW's first or second moment.
enum class StateKind { kParams, kExpAvg, kExpAvgSq };
const char* group_name(StateKind kind);  // "params", "exp_avg", "exp_avg_sq"

uint64_t tensor_checksum(const float* data, int64_t n);
std::string checksum_hex(uint64_t checksum);

// Where a file sits in the layout (root attributes).
struct ShardPosition {
  int tp_rank = 0, tp = 1, pp_rank = 0, pp = 1, dp_rank = 0;
  int64_t step = 0;
};

class ShardFileWriter {
 public:
  ShardFileWriter(const std::string& path, const ShardPosition& position);
  // A shard's whole tensor.
  void write(StateKind kind, const TensorInfo& info, const float* data);
  // Elements [begin, begin + count) of a shard's tensor (data points at element begin).
  void write_piece(StateKind kind, const TensorInfo& info, int64_t begin, int64_t count, const float* data);
  // Closes the file and forces it to disk; returns its size in bytes.
  int64_t finish();

 private:
  void describe(const std::string& name, const TensorInfo& info, const float* data, int64_t n);
  std::string path_;
  h5::File file_;
};

// A shard's file as one rank of data-parallel rank 0 writes it: every tensor of `table` but the pipeline copies,
// its weights and (m, v not null) AdamW's moments, laid out as the table says. Returns the file's size.
int64_t write_model_shard(const std::string& path, const ShardPosition& position, const TensorTable& table,
                          const float* params, const float* m, const float* v);

class ShardFileReader {
 public:
  // Throws tessera::Error naming the file unless it is a checkpoint shard.
  explicit ShardFileReader(const std::string& path);
  const std::string& path() const { return file_.path(); }
  const ShardPosition& position() const { return position_; }

  bool has(StateKind kind, const std::string& name) const;
  // The whole tensor as `expected` (this shard's entry in the checkpoint's own table) describes it: an error naming
  // the file and tensor on another shape or position, a non-float32 dataset or a checksum mismatch.
  void read(StateKind kind, const TensorInfo& expected, float* out) const;
  // The pieces of a tensor this file holds: begin -> element count.
  std::map<int64_t, int64_t> pieces(StateKind kind, const std::string& name) const;
  // Reads the piece at `begin` of the tensor into out (sized by pieces()), verifying its checksum.
  void read_piece(StateKind kind, const TensorInfo& expected, int64_t begin, float* out) const;

  // Every dataset of the file: its name, element count and whether its checksum holds.
  struct Entry {
    std::string dataset;
    int64_t elements = 0;
    bool checksum_ok = false;
  };
  std::vector<Entry> verify() const;

 private:
  void check_attrs(const std::string& dataset, const TensorInfo& expected) const;
  void check_checksum(const std::string& dataset, const float* data, int64_t n) const;
  void check_finite(const std::string& dataset, const float* data, int64_t n) const;
  h5::File file_;
  ShardPosition position_;
  // pieces by kind and tensor name: begin -> count
  std::map<std::pair<int, std::string>, std::map<int64_t, int64_t>> pieces_;
};

}  // namespace tessera
