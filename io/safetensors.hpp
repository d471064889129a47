// safetensors, Hugging Face's weight format: an 8-byte little-endian header size N, N bytes of JSON
// ({"NAME": {"dtype": "F32", "shape": [...], "data_offsets": [BEGIN, END]}, ..., "__metadata__": {...}}), then the
// tensors' raw little-endian bytes (offsets relative to the end of the header). Loading runs no code: the header is
// data, checked field by field against the file's size before any byte of a tensor is read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor_table.hpp"

namespace tessera {

struct SafetensorsEntry {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16"
  Shape shape;
  int64_t begin = 0;  // byte offsets into the data region
  int64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> tensors;  // in data order
  std::map<std::string, std::string> metadata;
  int64_t data_start = 0;  // 8 + header size
};

// Parses a header (the JSON text) of a file of file_size bytes whose data starts at data_start. Throws
// tessera::Error naming `source` and the tensor for malformed JSON, an unknown dtype, a shape whose size is not its
// byte range, a range outside the file, or two tensors that overlap.
SafetensorsHeader parse_safetensors_header(std::string_view json, int64_t data_start, int64_t file_size,
                                           const std::string& source);

// The header of a whole file held in memory (the 8-byte size, then the JSON), checked as above.
SafetensorsHeader parse_safetensors(std::string_view file, const std::string& source);
// A tensor's bytes (dtype F32, F16 or BF16, as the entry says) widened to float32: count = (end - begin) / size.
void widen_to_float(const SafetensorsEntry& entry, const void* bytes, float* out);

class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::string& path);  // reads and checks the header
  const std::string& path() const { return path_; }
  const SafetensorsHeader& header() const { return header_; }
  const SafetensorsEntry* find(const std::string& name) const;  // nullptr if absent
  // The tensor as float32 (F16 and BF16 widened exactly); out holds numel(shape) elements.
  void read(const SafetensorsEntry& entry, float* out) const;

 private:
  std::string path_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;
};

// Writes float32 tensors to one safetensors file: the header lists them in the order given. Returns its size.
struct SafetensorsTensor {
  std::string name;
  Shape shape;
  const float* data = nullptr;
};
int64_t write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                          const std::map<std::string, std::string>& metadata);

}  // namespace tessera
