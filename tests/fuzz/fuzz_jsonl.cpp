// libFuzzer target: the JSON-lines reader of `prepare --jsonl-key`. Any input either gives documents or throws
// tessera::Error (one clear line); never a crash, a hang or undefined behaviour. The documents are valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/check.hpp"
#include "io/text_source.hpp"
#include "io/utf8.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  int64_t replaced = 0;
  try {
    for (const tessera::Document& d : tessera::jsonl_documents(text, "text", "fuzz.jsonl", {}, &replaced)) {
      if (!tessera::is_valid_utf8(d.text)) std::abort();
      if (d.offset < 0 || static_cast<size_t>(d.offset) > size) std::abort();
    }
  } catch (const tessera::Error&) {
    // bad input, reported
  }
  return 0;
}
