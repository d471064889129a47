#include "io/model_file.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/check.hpp"
#include "io/hdf5_file.hpp"

namespace tessera {
namespace fs = std::filesystem;

void save_model(const std::string& path, const TensorTable& table, const float* params, const ModelFileMeta& meta) {
  const fs::path final_path(path);
  if (final_path.has_parent_path()) fs::create_directories(final_path.parent_path());
  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  try {
    h5::File f(tmp, h5::Mode::kCreate);
    f.set_attr("/", "format", std::string(kModelFormat));
    f.set_attr("/", "format_version", kModelFormatVersion);
    f.set_attr("/", "config", meta.config_toml);
    f.set_attr("/", "step", meta.step);
    f.set_attr("/", "consumed_samples", meta.consumed_samples);
    write_tokenizer_attributes(f, meta.tokenizer);
    f.create_group("/params");
    for (const TensorInfo& info : table.entries()) {
      const std::string name = "/params/" + info.name;
      std::vector<uint64_t> dims(info.shape.begin(), info.shape.end());
      f.write(name, params + info.offset, dims);
      f.set_attr(name, "global_shape", std::vector<int64_t>(info.global_shape.begin(), info.global_shape.end()));
      f.set_attr(name, "global_offset", std::vector<int64_t>(info.global_offset.begin(), info.global_offset.end()));
    }
    f.flush();
  } catch (...) {
    fs::remove(tmp);
    throw;
  }
  fs::rename(tmp, final_path);  // atomic on one file system: the old file stays until the new one is complete
}

ModelFileMeta read_model_meta(const std::string& path) {
  h5::File f(path, h5::Mode::kRead);
  if (!f.has_attr("/", "format") || f.attr_string("/", "format") != kModelFormat)
    TESSERA_RAISE("{}: not a tessera model file", path);
  if (f.attr_int("/", "format_version") != kModelFormatVersion)
    TESSERA_RAISE("{}: model format version {} is not supported", path, f.attr_int("/", "format_version"));
  ModelFileMeta meta;
  meta.config_toml = f.attr_string("/", "config");
  meta.step = f.attr_int("/", "step");
  meta.consumed_samples = f.attr_int("/", "consumed_samples");
  meta.tokenizer = read_tokenizer_attributes(f);
  check_tokenizer_ids(meta.tokenizer, path);
  return meta;
}

void load_model(const std::string& path, const TensorTable& table, float* params) {
  h5::File f(path, h5::Mode::kRead);
  for (const TensorInfo& info : table.entries()) {
    const std::string name = "/params/" + info.name;
    if (!f.has(name)) TESSERA_RAISE("{}: tensor {} is missing", path, info.name);
    const std::vector<uint64_t> dims = f.dims(name);
    const Shape stored(dims.begin(), dims.end());
    if (stored != info.shape)
      TESSERA_RAISE("{}: tensor {} has shape {}, the model expects {}", path, info.name, shape_string(stored),
                    shape_string(info.shape));
    std::vector<float> data = f.read<float>(name);
    const auto bad = std::find_if(data.begin(), data.end(), [](float x) { return !std::isfinite(x); });
    if (bad != data.end())
      TESSERA_RAISE("{}: tensor {} holds a non-finite weight ({} at element {}); the file is damaged", path, info.name,
                    *bad, bad - data.begin());
    std::copy(data.begin(), data.end(), params + info.offset);
  }
  const int64_t stored = f.count_links("/params");
  if (stored != table.size())
    TESSERA_RAISE(
        "{}: holds {} tensors, but its config describes a model of {} (n_layer and the stored layers "
        "disagree?)",
        path, stored, table.size());
}

}  // namespace tessera
