// libFuzzer target: a safetensors file from a stranger (io/safetensors.hpp). Any input either gives a header whose
// every tensor lies inside the file (and converts to float32) or throws tessera::Error; never a crash, an
// out-of-bounds read or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "core/check.hpp"
#include "io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view file(reinterpret_cast<const char*>(data), size);
  try {
    const tessera::SafetensorsHeader h = tessera::parse_safetensors(file, "fuzz.safetensors");
    std::vector<float> out;
    for (const tessera::SafetensorsEntry& e : h.tensors) {
      if (e.begin < 0 || e.end < e.begin || h.data_start + e.end > static_cast<int64_t>(size)) std::abort();
      out.resize(static_cast<size_t>(tessera::numel(e.shape)));
      tessera::widen_to_float(e, data + h.data_start + e.begin, out.data());
    }
  } catch (const tessera::Error&) {
    // bad input, reported
  }
  return 0;
}
