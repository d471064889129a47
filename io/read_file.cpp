#include "io/read_file.hpp"

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

}  // namespace tessera
