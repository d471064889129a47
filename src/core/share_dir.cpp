#include "core/share_dir.hpp"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace tessera {
namespace fs = std::filesystem;

std::string executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return fs::current_path().string();  // no /proc: the best guess left
  return exe.parent_path().string();
}

std::string share_dir() {
  if (const char* env = std::getenv("TESSERA_SHARE_DIR"); env != nullptr && *env != '\0') return env;
  return (fs::path(executable_dir()) / ".." / "share" / "tessera").lexically_normal().string();
}

std::string share_path(const char* env, const std::string& relative) {
  if (const char* v = std::getenv(env); v != nullptr && *v != '\0') return v;
  return (fs::path(share_dir()) / relative).string();
}

}  // namespace tessera
