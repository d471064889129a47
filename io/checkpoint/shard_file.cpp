#include "io/checkpoint/shard_file.hpp"

// the inline build of XXH3: compiled here with the project's -march (AVX2), several times the speed of the library
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "core/check.hpp"
#include "io/file_sync.hpp"

namespace tessera {

namespace {
constexpr int64_t kShardFormatVersion = 1;

std::string dataset_name(StateKind kind, const std::string& name) {
  return fmt::format("/{}/{}", group_name(kind), name);
}
std::string piece_name(StateKind kind, const std::string& name, int64_t begin) {
  return fmt::format("/{}/{}@{}", group_name(kind), name, begin);
}
Shape ints(const std::vector<int64_t>& v) {
  return {v.begin(), v.end()};
}
}  // namespace

const char* group_name(StateKind kind) {
  switch (kind) {
    case StateKind::kParams:
      return "params";
    case StateKind::kExpAvg:
      return "exp_avg";
    case StateKind::kExpAvgSq:
      return "exp_avg_sq";
  }
  return "?";
}

uint64_t tensor_checksum(const float* data, int64_t n) {
  return XXH3_64bits(data, static_cast<size_t>(n) * sizeof(float));
}

std::string checksum_hex(uint64_t checksum) {
  return fmt::format("{:016x}", checksum);
}

ShardFileWriter::ShardFileWriter(const std::string& path, const ShardPosition& p)
    : path_(path), file_(path, h5::Mode::kCreate) {
  file_.set_attr("/", "format", std::string(kShardFormat));
  file_.set_attr("/", "format_version", kShardFormatVersion);
  file_.set_attr("/", "step", p.step);
  file_.set_attr("/", "tp_rank", int64_t{p.tp_rank});
  file_.set_attr("/", "tp", int64_t{p.tp});
  file_.set_attr("/", "pp_rank", int64_t{p.pp_rank});
  file_.set_attr("/", "pp", int64_t{p.pp});
  file_.set_attr("/", "dp_rank", int64_t{p.dp_rank});
  for (StateKind kind : {StateKind::kParams, StateKind::kExpAvg, StateKind::kExpAvgSq})
    file_.create_group(std::string("/") + group_name(kind));
}

void ShardFileWriter::describe(const std::string& name, const TensorInfo& info, const float* data, int64_t n) {
  file_.set_attr(name, "global_shape", std::vector<int64_t>(info.global_shape.begin(), info.global_shape.end()));
  file_.set_attr(name, "global_offset", std::vector<int64_t>(info.global_offset.begin(), info.global_offset.end()));
  file_.set_attr(name, "split_dim", int64_t{info.split_dim});
  if (!info.parts.empty()) file_.set_attr(name, "parts", std::vector<int64_t>(info.parts.begin(), info.parts.end()));
  file_.set_attr(name, "shard", int64_t{info.shard});
  file_.set_attr(name, "shards", int64_t{info.shards});
  file_.set_attr(name, "xxh3", checksum_hex(tensor_checksum(data, n)));
}

void ShardFileWriter::write(StateKind kind, const TensorInfo& info, const float* data) {
  const std::string name = dataset_name(kind, info.name);
  file_.write(name, data, std::vector<uint64_t>(info.shape.begin(), info.shape.end()));
  describe(name, info, data, info.numel);
}

void ShardFileWriter::write_piece(StateKind kind, const TensorInfo& info, int64_t begin, int64_t count,
                                  const float* data) {
  const std::string name = piece_name(kind, info.name, begin);
  file_.write(name, data, {static_cast<uint64_t>(count)});
  describe(name, info, data, count);
  file_.set_attr(name, "begin", begin);
}

int64_t ShardFileWriter::finish() {
  file_.close();
  sync_path(path_);
  return static_cast<int64_t>(std::filesystem::file_size(path_));
}

int64_t write_model_shard(const std::string& path, const ShardPosition& position, const TensorTable& table,
                          const float* params, const float* m, const float* v) {
  ShardFileWriter w(path, position);
  for (const TensorInfo& info : table.entries())
    if (!info.pp_copy) w.write(StateKind::kParams, info, params + info.offset);
  if (m != nullptr && v != nullptr)
    for (const TensorInfo& info : table.entries()) {
      if (info.pp_copy) continue;
      w.write(StateKind::kExpAvg, info, m + info.offset);
      w.write(StateKind::kExpAvgSq, info, v + info.offset);
    }
  return w.finish();
}

ShardFileReader::ShardFileReader(const std::string& path) : file_(path, h5::Mode::kRead) {
  if (!file_.has_attr("/", "format") || file_.attr_string("/", "format") != kShardFormat)
    TESSERA_RAISE("{}: not a tessera checkpoint shard", path);
  const int64_t version = file_.attr_int("/", "format_version");
  if (version != kShardFormatVersion)
    TESSERA_RAISE("{}: checkpoint shard format version {} is not supported", path, version);
  position_.step = file_.attr_int("/", "step");
  position_.tp_rank = static_cast<int>(file_.attr_int("/", "tp_rank"));
  position_.tp = static_cast<int>(file_.attr_int("/", "tp"));
  position_.pp_rank = static_cast<int>(file_.attr_int("/", "pp_rank"));
  position_.pp = static_cast<int>(file_.attr_int("/", "pp"));
  position_.dp_rank = static_cast<int>(file_.attr_int("/", "dp_rank"));
  for (StateKind kind : {StateKind::kExpAvg, StateKind::kExpAvgSq}) {
    const std::string group = std::string("/") + group_name(kind);
    if (!file_.has(group)) continue;
    for (const std::string& name : file_.list(group)) {
      const size_t at = name.rfind('@');
      if (at == std::string::npos) continue;
      const std::string full = fmt::format("{}/{}", group, name);
      const int64_t begin = file_.attr_int(full, "begin");
      const std::vector<uint64_t> dims = file_.dims(full);
      if (dims.size() != 1 || begin < 0 || std::to_string(begin) != name.substr(at + 1))
        TESSERA_RAISE("{}: {} is not a well-formed piece of a tensor", path, full);
      pieces_[{static_cast<int>(kind), name.substr(0, at)}][begin] = static_cast<int64_t>(dims[0]);
    }
  }
}

bool ShardFileReader::has(StateKind kind, const std::string& name) const {
  return file_.has(dataset_name(kind, name));
}

void ShardFileReader::check_attrs(const std::string& dataset, const TensorInfo& expected) const {
  if (!file_.is_float(dataset, sizeof(float))) TESSERA_RAISE("{}: tensor {} is not stored as float32", path(), dataset);
  const Shape global = ints(file_.attr_ints(dataset, "global_shape"));
  const Shape offset = ints(file_.attr_ints(dataset, "global_offset"));
  if (global != expected.global_shape || offset != expected.global_offset)
    TESSERA_RAISE(
        "{}: tensor {} is stored as the shard at {} of a tensor of shape {}; the checkpoint's layout puts it at {} of "
        "{}",
        path(), dataset, shape_string(offset), shape_string(global), shape_string(expected.global_offset),
        shape_string(expected.global_shape));
}

void ShardFileReader::check_checksum(const std::string& dataset, const float* data, int64_t n) const {
  const std::string stored = file_.attr_string(dataset, "xxh3");
  const std::string actual = checksum_hex(tensor_checksum(data, n));
  if (stored != actual)
    TESSERA_RAISE("{}: tensor {} fails its checksum (stored {}, read {}): the file is damaged", path(), dataset, stored,
                  actual);
}

void ShardFileReader::check_finite(const std::string& dataset, const float* data, int64_t n) const {
  // exponent bits all ones: inf or NaN (an integer OR over the bits vectorises; the slow search only on a hit)
  uint32_t any = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits = 0;
    std::memcpy(&bits, data + i, sizeof bits);
    any |= static_cast<uint32_t>((bits & 0x7F800000U) == 0x7F800000U);
  }
  if (any == 0) return;
  const float* bad = std::find_if(data, data + n, [](float x) { return !std::isfinite(x); });
  if (bad != data + n)
    TESSERA_RAISE("{}: tensor {} holds a non-finite value ({} at element {}), under a valid checksum", path(), dataset,
                  *bad, bad - data);
}

void ShardFileReader::read(StateKind kind, const TensorInfo& expected, float* out) const {
  const std::string name = dataset_name(kind, expected.name);
  if (!file_.has(name)) TESSERA_RAISE("{}: tensor {} is missing", path(), name);
  const std::vector<uint64_t> dims = file_.dims(name);
  const Shape stored(dims.begin(), dims.end());
  if (stored != expected.shape)
    TESSERA_RAISE("{}: tensor {} has shape {}, the checkpoint's config and layout say {}", path(), name,
                  shape_string(stored), shape_string(expected.shape));
  check_attrs(name, expected);
  file_.read_into(name, out, static_cast<uint64_t>(expected.numel));
  check_checksum(name, out, expected.numel);
  check_finite(name, out, expected.numel);
}

std::map<int64_t, int64_t> ShardFileReader::pieces(StateKind kind, const std::string& name) const {
  const auto it = pieces_.find({static_cast<int>(kind), name});
  return it == pieces_.end() ? std::map<int64_t, int64_t>{} : it->second;
}

void ShardFileReader::read_piece(StateKind kind, const TensorInfo& expected, int64_t begin, float* out) const {
  const std::string name = piece_name(kind, expected.name, begin);
  const int64_t count = pieces(kind, expected.name).at(begin);
  if (begin + count > expected.numel)
    TESSERA_RAISE("{}: piece {} ends at element {}, past the {} elements of the tensor", path(), name, begin + count,
                  expected.numel);
  check_attrs(name, expected);
  file_.read_into(name, out, static_cast<uint64_t>(count));
  check_checksum(name, out, count);
  check_finite(name, out, count);
}

std::vector<ShardFileReader::Entry> ShardFileReader::verify() const {
  std::vector<Entry> out;
  std::vector<float> data;
  for (StateKind kind : {StateKind::kParams, StateKind::kExpAvg, StateKind::kExpAvgSq}) {
    const std::string group = std::string("/") + group_name(kind);
    if (!file_.has(group)) continue;
    for (const std::string& name : file_.list(group)) {
      Entry e;
      e.dataset = fmt::format("{}/{}", group, name);
      uint64_t n = 1;
      constexpr uint64_t kCap = uint64_t{1} << 50;  // a stranger's dims must not overflow the count
      for (uint64_t d : file_.dims(e.dataset)) n = d != 0 && n > kCap / d ? kCap : n * d;
      e.elements = static_cast<int64_t>(n);
      try {
        if (!file_.is_float(e.dataset, sizeof(float))) throw Error("not float32");
        if (n * sizeof(float) > std::filesystem::file_size(path())) throw Error("larger than the file");
        data.resize(n);
        file_.read_into(e.dataset, data.data(), n);
        check_checksum(e.dataset, data.data(), e.elements);
        e.checksum_ok = true;
      } catch (const Error&) {
        e.checksum_ok = false;
      }
      out.push_back(e);
    }
  }
  return out;
}

}  // namespace tessera
