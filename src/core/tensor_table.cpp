#include "core/tensor_table.hpp"

#include <algorithm>
#include <numeric>

#include "core/check.hpp"

namespace tessera {

int64_t numel(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

std::string shape_string(const Shape& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + ")";
}

std::vector<ShardSpan> shard_spans(const TensorInfo& info) {
  if (info.split_dim < 0) return {{0, 0, info.shape.empty() ? 1 : info.shape[0]}};
  std::vector<ShardSpan> spans;
  int64_t global_start = 0, local_start = 0;
  for (const int64_t part : info.parts) {
    const int64_t length = part / info.shards;
    spans.push_back({global_start + info.shard * length, local_start, length});
    global_start += part;
    local_start += length;
  }
  return spans;
}

namespace {
// Calls f(global index, local index, count) for every run of contiguous elements the shard shares with a whole
// tensor of shape `global` (row-major).
template <typename F>
void for_each_run(const TensorInfo& info, const Shape& global, F&& f) {
  TESSERA_CHECK(global.size() == info.shape.size(), "tensor {}: rank {} against {}", info.name, global.size(),
                info.shape.size());
  if (info.split_dim < 0) {
    TESSERA_CHECK(global == info.shape, "tensor {}: shape {} against {}", info.name, shape_string(global),
                  shape_string(info.shape));
    f(int64_t{0}, int64_t{0}, info.numel);
    return;
  }
  const auto d = static_cast<size_t>(info.split_dim);
  for (size_t i = 0; i < global.size(); ++i)
    TESSERA_CHECK(i == d || global[i] == info.shape[i], "tensor {}: shape {} against {}", info.name,
                  shape_string(global), shape_string(info.shape));
  // outer: the dimensions before the split one; inner: the elements of one index along it
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < d; ++i) outer *= global[i];
  for (size_t i = d + 1; i < global.size(); ++i) inner *= global[i];
  const int64_t G = global[d], L = info.shape[d];
  for (const ShardSpan& s : shard_spans(info)) {
    const int64_t length = std::clamp(G - s.global_start, int64_t{0}, s.length);  // rows past `global`: padding
    if (length == 0) continue;
    for (int64_t o = 0; o < outer; ++o)
      f((o * G + s.global_start) * inner, (o * L + s.local_start) * inner, length * inner);
  }
}
}  // namespace

template <typename T>
void copy_to_shard(const TensorInfo& info, const T* whole, const Shape& global, T* local) {
  std::fill(local, local + info.numel, T(0));
  for_each_run(info, global, [&](int64_t g, int64_t l, int64_t n) { std::copy(whole + g, whole + g + n, local + l); });
}

template <typename T>
void copy_from_shard(const TensorInfo& info, const T* local, const Shape& global, T* whole) {
  for_each_run(info, global, [&](int64_t g, int64_t l, int64_t n) { std::copy(local + l, local + l + n, whole + g); });
}

template void copy_to_shard<float>(const TensorInfo&, const float*, const Shape&, float*);
template void copy_to_shard<double>(const TensorInfo&, const double*, const Shape&, double*);
template void copy_from_shard<float>(const TensorInfo&, const float*, const Shape&, float*);
template void copy_from_shard<double>(const TensorInfo&, const double*, const Shape&, double*);

int TensorTable::add(std::string name, Shape shape, const TensorKind& kind) {
  TensorInfo info;
  info.name = std::move(name);
  info.global_shape = shape;
  info.global_offset = Shape(shape.size(), 0);
  info.shape = std::move(shape);
  info.kind = kind;
  return push(std::move(info));
}

int TensorTable::add_split(std::string name, Shape global_shape, int split_dim, Shape parts, int shard, int shards,
                           const TensorKind& kind) {
  TESSERA_CHECK(split_dim >= 0 && split_dim < static_cast<int>(global_shape.size()), "tensor {}: split dimension {}",
                name, split_dim);
  TESSERA_CHECK(shard >= 0 && shard < shards, "tensor {}: shard {} of {}", name, shard, shards);
  const auto d = static_cast<size_t>(split_dim);
  if (parts.empty()) parts = {global_shape[d]};
  TESSERA_CHECK(std::accumulate(parts.begin(), parts.end(), int64_t{0}) == global_shape[d],
                "tensor {}: parts do not add up to {}", name, global_shape[d]);
  TensorInfo info;
  info.name = std::move(name);
  info.shape = global_shape;
  info.shape[d] = 0;
  for (const int64_t part : parts) info.shape[d] += divide(part, shards, "a tensor-parallel part");
  info.global_offset = Shape(global_shape.size(), 0);
  info.global_offset[d] = shard * (parts.front() / shards);
  info.global_shape = std::move(global_shape);
  info.split_dim = split_dim;
  info.parts = std::move(parts);
  info.shard = shard;
  info.shards = shards;
  info.kind = kind;
  return push(std::move(info));
}

int TensorTable::push(TensorInfo info) {
  TESSERA_CHECK(find(info.name) < 0, "tensor {} added twice", info.name);
  info.numel = numel(info.shape);
  info.offset = total_;
  info.global_index = size();
  total_ += (info.numel + kAlign - 1) / kAlign * kAlign;
  index_.emplace(info.name, size());
  entries_.push_back(std::move(info));
  return size() - 1;
}

int TensorTable::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it != index_.end() ? it->second : -1;
}

int64_t TensorTable::count() const {
  int64_t n = 0;
  for (const auto& e : entries_) n += e.numel;
  return n;
}

int64_t TensorTable::count_in_matmul() const {
  int64_t n = 0;
  for (const auto& e : entries_) n += e.kind.in_matmul ? e.numel : 0;
  return n;
}

}  // namespace tessera
