// libFuzzer target: a checkpoint manifest (checkpoint.json) from a stranger (io/checkpoint/manifest.hpp). Any input
// either parses into a manifest that writes back and parses to the same, or throws tessera::Error; never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/check.hpp"
#include "io/checkpoint/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const tessera::CheckpointManifest m = tessera::parse_manifest(text, "fuzz/checkpoint.json");
    const std::string once = tessera::manifest_to_json(m);
    if (tessera::manifest_to_json(tessera::parse_manifest(once, "again")) != once) std::abort();
    for (const tessera::CheckpointFile& f : m.files)
      if (f.name.empty() || f.name.find('/') != std::string::npos || f.name == "..") std::abort();
  } catch (const tessera::Error&) {
    // bad input, reported
  }
  return 0;
}
