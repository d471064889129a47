#include "io/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "io/file_sync.hpp"

namespace tessera {
using json = nlohmann::json;

namespace {
constexpr int64_t kMaxHeader = int64_t{100} << 20;  // as the safetensors library allows
constexpr int64_t kMaxDims = 8;

int64_t dtype_size(const std::string& dtype) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  return 0;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000U) << 16;
  uint32_t exp = (h >> 10) & 0x1FU, mant = h & 0x3FFU, bits = 0;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400U) == 0) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3FFU) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000U | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f = 0;
  std::memcpy(&f, &bits, 4);
  return f;
}

void read_at(int fd, void* out, int64_t bytes, int64_t offset, const std::string& path) {
  auto* p = static_cast<char*>(out);
  while (bytes > 0) {
    const ssize_t n = ::pread(fd, p, static_cast<size_t>(std::min<int64_t>(bytes, int64_t{1} << 30)), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) TESSERA_RAISE("{}: cannot read {} bytes at offset {} (truncated?)", path, bytes, offset);
    p += n;
    bytes -= n;
    offset += n;
  }
}

struct Fd {
  int fd;
  explicit Fd(const std::string& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd < 0) TESSERA_RAISE("{}: cannot open ({})", path, std::strerror(errno));
  }
  ~Fd() { ::close(fd); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};
}  // namespace

SafetensorsHeader parse_safetensors_header(std::string_view text, int64_t data_start, int64_t file_size,
                                           const std::string& source) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    TESSERA_RAISE("{}: the safetensors header is not valid JSON ({})", source, e.what());
  }
  if (!j.is_object()) TESSERA_RAISE("{}: the safetensors header is not a JSON object", source);
  SafetensorsHeader h;
  h.data_start = data_start;
  const int64_t data_bytes = file_size - data_start;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) TESSERA_RAISE("{}: __metadata__ is not an object", source);
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string()) TESSERA_RAISE("{}: __metadata__.{} is not a string", source, k);
        h.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      TESSERA_RAISE("{}: tensor {} lacks dtype, shape or data_offsets", source, name);
    SafetensorsEntry e;
    e.name = name;
    if (!v["dtype"].is_string()) TESSERA_RAISE("{}: tensor {}: dtype is not a string", source, name);
    e.dtype = v["dtype"].get<std::string>();
    const int64_t size = dtype_size(e.dtype);
    if (size == 0)
      TESSERA_RAISE("{}: tensor {} has dtype {}; tessera reads F32, F16 and BF16", source, name, e.dtype.substr(0, 16));
    const json& shape = v["shape"];
    if (!shape.is_array() || static_cast<int64_t>(shape.size()) > kMaxDims)
      TESSERA_RAISE("{}: tensor {}: shape is not an array of at most {} sizes", source, name, kMaxDims);
    int64_t elements = 1;
    for (const json& d : shape) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 40))
        TESSERA_RAISE("{}: tensor {}: shape holds {}, not a size", source, name, d.dump());
      e.shape.push_back(d.get<int64_t>());
      elements = e.shape.back() == 0
                     ? 0
                     : (elements > (int64_t{1} << 50) / e.shape.back() ? int64_t{1} << 50 : elements * e.shape.back());
    }
    const json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      TESSERA_RAISE("{}: tensor {}: data_offsets is not [begin, end]", source, name);
    const uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    if (b > en || en > static_cast<uint64_t>(std::max<int64_t>(data_bytes, 0)))
      TESSERA_RAISE("{}: tensor {}: bytes [{}, {}) lie outside the {} bytes of data in the file", source, name, b, en,
                    data_bytes);
    e.begin = static_cast<int64_t>(b);
    e.end = static_cast<int64_t>(en);
    if (elements >= (int64_t{1} << 50) || elements * size != e.end - e.begin)
      TESSERA_RAISE("{}: tensor {}: shape {} of {} takes {} bytes, its data_offsets {}", source, name,
                    shape_string(e.shape), e.dtype, elements * size, e.end - e.begin);
    h.tensors.push_back(std::move(e));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < h.tensors.size(); ++i)
    if (h.tensors[i].begin < h.tensors[i - 1].end)
      TESSERA_RAISE("{}: tensors {} and {} overlap", source, h.tensors[i - 1].name, h.tensors[i].name);
  return h;
}

namespace {
// The header's size from the file's first 8 bytes, checked against the file.
int64_t header_size(const unsigned char* first8, int64_t file_size, const std::string& source) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | first8[i];
  if (n > static_cast<uint64_t>(std::min(kMaxHeader, file_size - 8)))
    TESSERA_RAISE("{}: a safetensors header of {} bytes does not fit the file ({} bytes)", source, n, file_size);
  return static_cast<int64_t>(n);
}
}  // namespace

SafetensorsHeader parse_safetensors(std::string_view file, const std::string& source) {
  const auto size = static_cast<int64_t>(file.size());
  if (size < 8) TESSERA_RAISE("{}: {} bytes: too short for a safetensors file", source, size);
  const int64_t n = header_size(reinterpret_cast<const unsigned char*>(file.data()), size, source);
  return parse_safetensors_header(file.substr(8, static_cast<size_t>(n)), 8 + n, size, source);
}

void widen_to_float(const SafetensorsEntry& e, const void* bytes, float* out) {
  const int64_t n = e.end - e.begin;
  if (e.dtype == "F32") {
    std::memcpy(out, bytes, static_cast<size_t>(n));
    return;
  }
  const auto* half = static_cast<const unsigned char*>(bytes);
  for (int64_t i = 0; i < n / 2; ++i) {
    const auto h = static_cast<uint16_t>(half[2 * i] | (half[2 * i + 1] << 8));
    if (e.dtype == "BF16") {
      const uint32_t bits = static_cast<uint32_t>(h) << 16;
      std::memcpy(out + i, &bits, 4);
    } else {
      out[i] = half_to_float(h);
    }
  }
}

SafetensorsReader::SafetensorsReader(const std::string& path) : path_(path) {
  std::error_code ec;
  const auto file_size = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (ec) TESSERA_RAISE("{}: cannot read ({})", path, ec.message());
  if (file_size < 8) TESSERA_RAISE("{}: {} bytes: too short for a safetensors file", path, file_size);
  const Fd f(path);
  unsigned char len_bytes[8];
  read_at(f.fd, len_bytes, 8, 0, path);
  const int64_t n = header_size(len_bytes, file_size, path);
  std::string text(static_cast<size_t>(n), '\0');
  read_at(f.fd, text.data(), n, 8, path);
  header_ = parse_safetensors_header(text, 8 + n, file_size, path);
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

const SafetensorsEntry* SafetensorsReader::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

void SafetensorsReader::read(const SafetensorsEntry& e, float* out) const {
  const Fd f(path_);
  const int64_t bytes = e.end - e.begin;
  if (e.dtype == "F32") {
    read_at(f.fd, out, bytes, header_.data_start + e.begin, path_);
    return;
  }
  std::vector<unsigned char> half(static_cast<size_t>(bytes));
  read_at(f.fd, half.data(), bytes, header_.data_start + e.begin, path_);
  widen_to_float(e, half.data(), out);
}

int64_t write_safetensors(const std::string& path, const std::vector<SafetensorsTensor>& tensors,
                          const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  int64_t offset = 0;
  for (const SafetensorsTensor& t : tensors) {
    const int64_t bytes = numel(t.shape) * 4;
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string prefix(8, '\0');
  for (int i = 0; i < 8; ++i) prefix[static_cast<size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) TESSERA_RAISE("{}: cannot create ({})", tmp, std::strerror(errno));
  auto put = [&](const void* data, int64_t bytes) {
    const auto* p = static_cast<const char*>(data);
    while (bytes > 0) {
      const ssize_t n = ::write(fd, p, static_cast<size_t>(std::min<int64_t>(bytes, int64_t{1} << 30)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        ::unlink(tmp.c_str());
        TESSERA_RAISE("{}: cannot write (disk full?)", tmp);
      }
      p += n;
      bytes -= n;
    }
  };
  put(prefix.data(), 8);
  put(text.data(), static_cast<int64_t>(text.size()));
  for (const SafetensorsTensor& t : tensors) put(t.data, numel(t.shape) * 4);
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    TESSERA_RAISE("{}: cannot write to disk (disk full?)", tmp);
  }
  std::filesystem::rename(tmp, path);
  return 8 + static_cast<int64_t>(text.size()) + offset;
}

}  // namespace tessera
