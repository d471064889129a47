// libFuzzer target: GPT-2 pre-tokenisation (PCRE2) and BPE, on any valid UTF-8 (the input made valid first).
// Byte-level BPE is lossless: decode(encode(text)) == text, and every id is inside the vocabulary.
// The vocabulary is the bundled one: $TESSERA_GPT2_DIR, else data/gpt2 of the source tree.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "io/tokenizer.hpp"
#include "io/utf8.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<tessera::Tokenizer> tok = [] {
    const char* dir = std::getenv("TESSERA_GPT2_DIR");
    return tessera::make_tokenizer("gpt2", dir != nullptr ? dir : TESSERA_SOURCE_DIR "/data/gpt2");
  }();
  const std::string text = tessera::sanitize_utf8(std::string_view(reinterpret_cast<const char*>(data), size), nullptr);
  std::vector<int32_t> ids;
  tok->encode(text, ids);
  for (int32_t id : ids) {
    if (id < 0 || id >= tok->vocab_size()) std::abort();
  }
  if (tok->decode(ids) != text) std::abort();
  return 0;
}
