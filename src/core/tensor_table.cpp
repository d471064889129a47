#include "core/tensor_table.hpp"

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

int TensorTable::add(std::string name, Shape shape, bool weight_decay, bool in_matmul) {
  Shape zeros(shape.size(), 0);
  Shape global = shape;
  return add_shard(std::move(name), std::move(shape), std::move(global), std::move(zeros), weight_decay, in_matmul);
}

int TensorTable::add_shard(std::string name, Shape shape, Shape global_shape, Shape global_offset, bool weight_decay,
                           bool in_matmul) {
  TESSERA_CHECK(find(name) < 0, "tensor {} added twice", name);
  TESSERA_CHECK(shape.size() == global_shape.size() && shape.size() == global_offset.size(), "tensor {}: rank mismatch",
                name);
  TensorInfo info;
  info.name = std::move(name);
  info.numel = numel(shape);
  info.shape = std::move(shape);
  info.global_shape = std::move(global_shape);
  info.global_offset = std::move(global_offset);
  info.offset = total_;
  info.weight_decay = weight_decay;
  info.in_matmul = in_matmul;
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
  for (const auto& e : entries_) n += e.in_matmul ? e.numel : 0;
  return n;
}

}  // namespace tessera
