#include "core/check.hpp"

#include <cstdio>
#include <cstdlib>

namespace tessera {
namespace {
AbortHook g_abort_hook;  // process-wide by nature: how this process ends on a broken invariant
}  // namespace

void set_abort_hook(AbortHook hook) {
  g_abort_hook = hook;
}

void check_failed(const char* file, int line, const std::string& message) {
  if (g_abort_hook.rank >= 0) {
    std::fprintf(stderr, "[rank %d] %s:%d: %s\n", g_abort_hook.rank, file, line, message.c_str());
  } else {
    std::fprintf(stderr, "%s:%d: %s\n", file, line, message.c_str());
  }
  std::fflush(stderr);
  if (g_abort_hook.abort != nullptr) g_abort_hook.abort();
  std::abort();
}

}  // namespace tessera
