#include "io/read_file.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.hpp"

namespace tessera {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) TESSERA_RAISE("{}: cannot read (no such file, or no permission)", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) TESSERA_RAISE("{}: read error", path);
  return ss.str();
}

std::string read_small_file(const std::string& path, int64_t max_bytes, const char* what) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) TESSERA_RAISE("{}: missing or unreadable ({})", path, what);
  if (static_cast<int64_t>(size) > max_bytes)
    TESSERA_RAISE("{}: {} bytes, more than a {} can be ({})", path, size, what, max_bytes);
  return read_file(path);
}

}  // namespace tessera
