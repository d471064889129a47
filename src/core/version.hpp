// What this binary is: version, git commit, build type and instruction-set baseline (fixed at build time).
#pragma once

namespace tessera {

const char* version();     // "0.1.0"
const char* git_commit();  // `git describe --always --dirty` of the source tree at build time, or "unknown"
const char* build_type();  // CMake's build type: "Release", "Debug", ...
const char* build_arch();  // -march baseline: "x86-64-v3", "native", ...

}  // namespace tessera
