#include "io/checkpoint/reader.hpp"

#include <algorithm>
#include <filesystem>

#include "core/check.hpp"
#include "io/read_file.hpp"
#include "model/model_shard.hpp"
#include "model/transformer.hpp"

namespace tessera {
namespace fs = std::filesystem;

CheckpointReader::CheckpointReader(const std::string& path) : dir_(resolve_checkpoint(path)) {
  const std::string manifest_path = (fs::path(dir_) / kManifestName).string();
  manifest_ = parse_manifest(read_small_file(manifest_path, int64_t{64} << 20, "checkpoint manifest"), manifest_path);
  const CheckpointLayout& lay = manifest_.layout;

  const std::string config_path = (fs::path(dir_) / kConfigName).string();
  config_ = parse_run_config(read_small_file(config_path, int64_t{1} << 20, "run config"), config_path, {});
  check_tp_divides_model(config_.model, lay.tp);
  config_.model.finalize();
  const std::vector<int> layers = chunk_layers(config_.model.n_layer, lay.pp, lay.virtual_stages, lay.chunk_layers);
  if (layers != lay.chunk_layers)
    TESSERA_RAISE("{}: layout.chunk_layers does not split the {} layers of {}", manifest_path, config_.model.n_layer,
                  config_path);
  if (manifest_.tokenizer.vocab_size > config_.model.vocab_size)
    TESSERA_RAISE("{}: the tokenizer's {} tokens exceed model.vocab_size = {} of {}", manifest_path,
                  manifest_.tokenizer.vocab_size, config_.model.vocab_size, config_path);

  // every file the layout implies is listed and present at its size; the model fits in them (so a stranger's
  // config cannot make us allocate more than the files hold)
  std::map<std::string, int64_t> listed;
  for (const CheckpointFile& f : manifest_.files) listed[f.name] = f.bytes;
  auto expect = [&](const std::string& name) {
    if (listed.count(name) == 0)
      TESSERA_RAISE("{}: the layout (tp {}, pp {}, dp {}) needs {}, which the manifest does not list", manifest_path,
                    lay.tp, lay.pp, lay.dp, name);
  };
  for (int p = 0; p < lay.pp; ++p)
    for (int t = 0; t < lay.tp; ++t) {
      expect(shard_file_name(t, p));
      if (lay.zero1 && manifest_.optimizer_state)
        for (int d = 0; d < lay.dp; ++d) expect(optimizer_file_name(t, p, d));
    }
  int64_t total = 0;
  std::error_code ec;
  for (const auto& [name, bytes] : listed) {
    const fs::path file = fs::path(dir_) / name;
    if (!fs::is_regular_file(file, ec)) TESSERA_RAISE("{}: missing (the checkpoint is incomplete)", file.string());
    const auto size = static_cast<int64_t>(fs::file_size(file, ec));
    if (size != bytes)
      TESSERA_RAISE("{}: {} bytes, the manifest says {} (truncated or replaced)", file.string(), size, bytes);
    total += size;
  }
  const ModelSizes sizes = Transformer<float>::sizes(config_.model, 1);
  if (sizes.model_parameters * static_cast<int64_t>(sizeof(float)) > total)
    TESSERA_RAISE(
        "{}: its model (model.vocab_size = {}, model.max_seq_len = {}, model.d_model = {}, model.n_layer = {}) has {} "
        "parameters, more than the {} bytes of the checkpoint's files hold",
        config_path, config_.model.vocab_size, config_.model.max_seq_len, config_.model.d_model, config_.model.n_layer,
        sizes.model_parameters, total);

  tables_.reserve(static_cast<size_t>(lay.tp) * lay.pp);
  for (int p = 0; p < lay.pp; ++p)
    for (int t = 0; t < lay.tp; ++t)
      tables_.push_back(Transformer<float>::plan_table(config_.model, source_shard(t, p)));
  for (int p = 0; p < lay.pp; ++p)
    for (const TensorInfo& info : source_table(0, p).entries())
      if (!info.pp_copy) owner_stage_.emplace(info.name, p);
}

CheckpointReader::~CheckpointReader() = default;

TokenizerInfo CheckpointReader::tokenizer() const {
  TokenizerInfo t = manifest_.tokenizer;
  t.files = manifest_.tokenizer_files.empty() ? "" : (fs::path(dir_) / kTokenizerDir).string();
  return t;
}

int64_t CheckpointReader::bytes() const {
  int64_t total = 0;
  for (const CheckpointFile& f : manifest_.files) total += f.bytes;
  return total;
}

std::vector<std::pair<TensorInfo, int>> CheckpointReader::tensors() const {
  std::vector<std::pair<TensorInfo, int>> out;
  const TensorTable model = Transformer<float>::plan_table(config_.model);
  for (const TensorInfo& whole : model.entries()) {
    const auto owner = owner_stage_.find(whole.name);
    TESSERA_CHECK(owner != owner_stage_.end(), "tensor {} of the model has no stage in the checkpoint", whole.name);
    const int p = owner->second;
    const TensorTable& table = source_table(0, p);
    out.emplace_back(table[table.find(whole.name)], p);
  }
  return out;
}

ModelShard CheckpointReader::source_shard(int tp_rank, int pp_rank) const {
  ModelShard s = even_shard(tp_rank, manifest_.layout.tp, pp_rank, manifest_.layout.pp);
  s.virtual_stages = manifest_.layout.virtual_stages;
  s.pp_layers = manifest_.layout.chunk_layers;
  return s;
}

const TensorTable& CheckpointReader::source_table(int tp_rank, int pp_rank) const {
  return tables_[static_cast<size_t>(pp_rank) * manifest_.layout.tp + tp_rank];
}

namespace {
const ShardFileReader& open_file(std::map<std::string, std::unique_ptr<ShardFileReader>>& files, const std::string& dir,
                                 const std::string& name) {
  auto it = files.find(name);
  if (it == files.end())
    it = files.emplace(name, std::make_unique<ShardFileReader>((fs::path(dir) / name).string())).first;
  return *it->second;
}
}  // namespace

const ShardFileReader& CheckpointReader::shard_file(int tp_rank, int pp_rank) const {
  const ShardFileReader& f = open_file(files_, dir_, shard_file_name(tp_rank, pp_rank));
  const ShardPosition& at = f.position();
  if (at.tp_rank != tp_rank || at.pp_rank != pp_rank || at.tp != manifest_.layout.tp || at.pp != manifest_.layout.pp)
    TESSERA_RAISE(
        "{}: says it is shard tp {} of {}, pp {} of {}; its name and the manifest say tp {} of {}, pp {} of {}",
        f.path(), at.tp_rank, at.tp, at.pp_rank, at.pp, tp_rank, manifest_.layout.tp, pp_rank, manifest_.layout.pp);
  return f;
}

void CheckpointReader::read_source(StateKind kind, int tp_rank, int pp_rank, const TensorInfo& info, float* out) const {
  if (kind != StateKind::kParams && !manifest_.optimizer_state)
    TESSERA_RAISE("{}: holds the weights only, no optimizer state", dir_);
  const ShardFileReader& main = shard_file(tp_rank, pp_rank);
  if (kind == StateKind::kParams || !manifest_.layout.zero1) {
    main.read(kind, info, out);
    return;
  }
  // ZeRO-1: the moments of this tensor are pieces in the files of the data-parallel ranks that owned them
  int64_t covered = 0;
  std::map<int64_t, std::pair<const ShardFileReader*, int64_t>> pieces;  // begin -> (file, count)
  for (int d = 0; d < manifest_.layout.dp; ++d) {
    const ShardFileReader& f = open_file(files_, dir_, optimizer_file_name(tp_rank, pp_rank, d));
    for (const auto& [begin, count] : f.pieces(kind, info.name)) pieces[begin] = {&f, count};
  }
  for (const auto& [begin, piece] : pieces) {
    if (begin != covered)
      TESSERA_RAISE("{}: the {} of tensor {} (shard tp {}, pp {}) has {} elements [{}, {}) in no optimizer file", dir_,
                    group_name(kind), info.name, tp_rank, pp_rank, begin < covered ? "overlapping" : "missing",
                    std::min(begin, covered), std::max(begin, covered));
    if (piece.second > info.numel - begin)
      TESSERA_RAISE("{}: a piece of the {} of tensor {} ends past the tensor", piece.first->path(), group_name(kind),
                    info.name);
    piece.first->read_piece(kind, info, begin, out + begin);
    covered = begin + piece.second;
  }
  if (covered != info.numel)
    TESSERA_RAISE("{}: the {} of tensor {} (shard tp {}, pp {}) has elements [{}, {}) in no optimizer file", dir_,
                  group_name(kind), info.name, tp_rank, pp_rank, covered, info.numel);
}

bool CheckpointReader::same_layout(const TensorInfo& target, int pp_rank) const {
  if (target.shards != manifest_.layout.tp) return false;
  const TensorTable& table = source_table(target.shard, pp_rank);
  const int i = table.find(target.name);
  if (i < 0) return false;
  const TensorInfo& s = table[i];
  return s.shape == target.shape && s.global_shape == target.global_shape && s.global_offset == target.global_offset &&
         s.parts == target.parts && s.split_dim == target.split_dim;
}

void CheckpointReader::read(StateKind kind, const TensorTable& table, float* flat) const {
  std::vector<float> whole, local;
  for (const TensorInfo& info : table.entries()) {
    const auto owner = owner_stage_.find(info.name);
    if (owner == owner_stage_.end())
      TESSERA_RAISE("{}: holds no tensor {} (a checkpoint of another model?)", dir_, info.name);
    const int p = owner->second;
    if (same_layout(info, p)) {
      const TensorTable& src = source_table(info.shard, p);
      read_source(kind, info.shard, p, src[src.find(info.name)], flat + info.offset);
      continue;
    }
    // the global tensor from the source shards that hold it, then this shard's slice
    const TensorInfo& first = source_table(0, p)[source_table(0, p).find(info.name)];
    const Shape global = first.global_shape;
    if (global.size() != info.global_shape.size())
      TESSERA_RAISE("{}: tensor {} has {} dimensions, the model {}", dir_, info.name, global.size(),
                    info.global_shape.size());
    for (size_t d = 1; d < global.size(); ++d)
      if (global[d] != info.global_shape[d])
        TESSERA_RAISE("{}: tensor {} has global shape {}, the model {}", dir_, info.name, shape_string(global),
                      shape_string(info.global_shape));
    if (global[0] != info.global_shape[0] && info.split_dim > 0)
      TESSERA_RAISE("{}: tensor {} has global shape {}, the model {}", dir_, info.name, shape_string(global),
                    shape_string(info.global_shape));
    whole.assign(static_cast<size_t>(numel(global)), 0.0F);
    const int sources = first.tp_duplicated() ? 1 : manifest_.layout.tp;
    for (int t = 0; t < sources; ++t) {
      const TensorTable& src = source_table(t, p);
      const TensorInfo& s = src[src.find(info.name)];
      local.resize(static_cast<size_t>(s.numel));
      read_source(kind, t, p, s, local.data());
      copy_from_shard(s, local.data(), global, whole.data());
    }
    // vocabulary padding of another tp: rows past the shorter of the two are padding (zero)
    Shape common = global;
    if (!common.empty()) common[0] = std::min(global[0], info.global_shape[0]);
    float* out = flat + info.offset;
    if (info.tp_duplicated()) {
      std::fill(out, out + info.numel, 0.0F);
      std::copy_n(whole.data(), std::min(numel(common), info.numel), out);
    } else {
      copy_to_shard(info, whole.data(), common, out);
    }
  }
}

}  // namespace tessera
