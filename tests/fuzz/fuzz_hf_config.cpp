// libFuzzer target: a Hugging Face config.json from a stranger (io/hf/mapping.hpp). Any input either gives a model
// tessera can build, export and read back the same, or throws tessera::Error; never a crash or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/check.hpp"
#include "io/hf/mapping.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const tessera::ModelConfig m = tessera::parse_hf_config(text, "fuzz/config.json");
    tessera::TokenizerInfo t;
    t.vocab_size = m.vocab_size;
    const std::string again = tessera::hf_config_json(m, t).dump();  // a parsed config always has its class
    const tessera::ModelConfig back = tessera::parse_hf_config(again, "again/config.json");
    if (back.vocab_size != m.vocab_size || back.n_layer != m.n_layer || back.d_model != m.d_model ||
        back.n_kv_head != m.n_kv_head || back.d_ff != m.d_ff || back.family != m.family)
      std::abort();
    if (tessera::hf_tensors(m).empty()) std::abort();
  } catch (const tessera::Error&) {
    // bad input, reported
  }
  return 0;
}
