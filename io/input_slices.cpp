#include "io/input_slices.hpp"

#include <cstdio>
#include <filesystem>
#include <memory>

#include "core/check.hpp"
#include "io/text_source.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {

using FilePtr = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

bool compressed(const std::string& path) {
  return path.ends_with(".gz") || path.ends_with(".zst");
}

// The first document start at or after `nominal` in a file of `size` bytes.
int64_t document_start(std::FILE* f, int64_t nominal, int64_t size, const std::string& mode, const std::string& path) {
  if (nominal <= 0) return 0;
  if (nominal >= size) return size;
  if (std::fseek(f, static_cast<long>(nominal - 1), SEEK_SET) != 0) TESSERA_RAISE("{}: cannot seek", path);
  int64_t pos = nominal - 1;
  // the first line start at or after nominal: just past the first newline at or after nominal - 1
  for (int c = std::fgetc(f);; c = std::fgetc(f)) {
    if (c == EOF) return size;
    ++pos;
    if (c == '\n') break;
  }
  if (mode != "blank") return pos;
  // then the start of the line after the first blank line
  bool blank = true;
  for (int c = std::fgetc(f);; c = std::fgetc(f)) {
    if (c == EOF) return size;
    ++pos;
    if (c == '\n') {
      if (blank) return pos;
      blank = true;
    } else if (c != ' ' && c != '\t' && c != '\r') {
      blank = false;
    }
  }
}

}  // namespace

std::vector<InputSlice> plan_slices(const std::vector<std::string>& files, const std::string& mode,
                                    int64_t slice_bytes) {
  TESSERA_CHECK(slice_bytes > 0, "slice size {}", slice_bytes);
  std::vector<InputSlice> slices;
  for (size_t i = 0; i < files.size(); ++i) {
    const auto size = static_cast<int64_t>(fs::file_size(files[i]));
    if (compressed(files[i]) || mode == "file" || size == 0) {
      slices.push_back({static_cast<int>(i), files[i], 0, size, true});
      continue;
    }
    const int64_t n = (size + slice_bytes - 1) / slice_bytes;
    for (int64_t k = 0; k < n; ++k)
      slices.push_back({static_cast<int>(i), files[i], k * size / n, (k + 1) * size / n, false});
  }
  return slices;
}

SliceText read_slice(const InputSlice& s, const std::string& mode) {
  if (s.whole) return {read_input(s.path), 0};
  FilePtr f(std::fopen(s.path.c_str(), "rb"), std::fclose);
  if (!f) TESSERA_RAISE("{}: cannot open (no such file, or no permission)", s.path);
  const auto size = static_cast<int64_t>(fs::file_size(s.path));
  const int64_t begin = document_start(f.get(), s.begin, size, mode, s.path);
  const int64_t end = document_start(f.get(), s.end, size, mode, s.path);
  SliceText out;
  out.offset = begin;
  if (end <= begin) return out;
  out.text.resize(static_cast<size_t>(end - begin));
  if (std::fseek(f.get(), static_cast<long>(begin), SEEK_SET) != 0 ||
      std::fread(out.text.data(), 1, out.text.size(), f.get()) != out.text.size())
    TESSERA_RAISE("{}: cannot read bytes [{}, {})", s.path, begin, end);
  return out;
}

}  // namespace tessera
