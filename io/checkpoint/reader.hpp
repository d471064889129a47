// A checkpoint opened for reading, into a model shard of any layout.
//
// The checkpoint's own layout is known from its manifest, so the table of every shard it holds is planned from its
// stored config (Transformer::plan_table), and every stored tensor is checked against that plan: shapes, positions in
// the global tensor and checksums. A tensor of the target shard is read straight from the file of the same shard when
// the layouts agree; otherwise the global tensor is assembled from the source shards that hold it (vocabulary padding
// of another tp trimmed or zero-filled) and this shard's slice taken. Nothing is read into the model until it has
// been checked; a failure names the file and the tensor.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "io/checkpoint/manifest.hpp"
#include "io/checkpoint/shard_file.hpp"
#include "io/checkpoint/weight_source.hpp"
#include "model/model_shard.hpp"

namespace tessera {

class CheckpointReader final : public WeightSource {
 public:
  // path: a checkpoint directory, or a run directory (its latest checkpoint). Reads and checks the manifest, the
  // stored config (a model the files cannot hold is refused before anything is allocated for it) and the files
  // (every shard present, of the size the manifest says). Throws tessera::Error naming the file.
  explicit CheckpointReader(const std::string& path);
  ~CheckpointReader() override;
  CheckpointReader(const CheckpointReader&) = delete;
  CheckpointReader& operator=(const CheckpointReader&) = delete;

  const std::string& dir() const override { return dir_; }
  const CheckpointManifest& manifest() const override { return manifest_; }
  // The stored config, its model finalised.
  const RunConfig& config() const override { return config_; }
  // The tokenizer, its files the checkpoint's own copy.
  TokenizerInfo tokenizer() const override;
  // Bytes of the checkpoint's HDF5 files.
  int64_t bytes() const override;

  // Fills every tensor of `table` (a shard of the same model in any layout; flat laid out by it) with the stored
  // weights (kParams) or moments (kExpAvg, kExpAvgSq). Throws tessera::Error naming the file and tensor.
  void read(StateKind kind, const TensorTable& table, float* flat) const override;

  // Every tensor of the model as the checkpoint holds it (tp rank 0's entry of the stage that saves it: its global
  // shape, split dimension and parts), in the model's order, with that stage.
  std::vector<std::pair<TensorInfo, int>> tensors() const;

  // The shard of the checkpoint's own layout at (tp_rank, pp_rank).
  ModelShard source_shard(int tp_rank, int pp_rank) const;
  const ShardFileReader& shard_file(int tp_rank, int pp_rank) const;

 private:
  const TensorTable& source_table(int tp_rank, int pp_rank) const;
  // The whole local tensor of a source shard, from its shard file or (moments under ZeRO-1) its pieces.
  void read_source(StateKind kind, int tp_rank, int pp_rank, const TensorInfo& info, float* out) const;
  bool same_layout(const TensorInfo& target, int pp_rank) const;

  std::string dir_;
  CheckpointManifest manifest_;
  RunConfig config_;
  std::vector<TensorTable> tables_;         // per source shard, pp_rank * tp + tp_rank
  std::map<std::string, int> owner_stage_;  // tensor name -> the pipeline rank that saves it
  mutable std::map<std::string, std::unique_ptr<ShardFileReader>> files_;  // opened on first use
};

}  // namespace tessera
