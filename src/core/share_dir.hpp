// Where tessera finds its own files (presets and the bundled GPT-2 vocabulary), relative to the executable, so that
// an installed or moved tree works from any working directory and no source path is compiled in.
//
//   installed:   PREFIX/bin/tessera       PREFIX/share/tessera/{configs,gpt2,tinyshakespeare.txt}
//   build tree:  build/bin/tessera        build/share/tessera/... (links into the source tree, made by CMake)
//
// Overrides, in order: TESSERA_CONFIG_DIR (the presets folder) and TESSERA_GPT2_DIR (the vocabulary folder) for one
// kind of file; TESSERA_SHARE_DIR for the whole folder.
#pragma once

#include <string>

namespace tessera {

// The folder of the running executable (resolved through /proc/self/exe).
std::string executable_dir();
// $TESSERA_SHARE_DIR, else EXECUTABLE_DIR/../share/tessera.
std::string share_dir();
// The value of the environment variable `env` when set, else share_dir()/relative.
std::string share_path(const char* env, const std::string& relative);

}  // namespace tessera
