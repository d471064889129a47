#include "core/version.hpp"

#include "tessera_git_commit.inc"  // generated at every build (src/cmake/git_commit.cmake)

namespace tessera {

const char* version() {
  return TESSERA_VERSION;
}
const char* git_commit() {
  return TESSERA_GIT_COMMIT;
}
const char* build_type() {
  return TESSERA_BUILD_TYPE;
}
const char* build_arch() {
  return TESSERA_BUILD_ARCH;
}

}  // namespace tessera
