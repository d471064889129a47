// libFuzzer target: the UTF-8 sanitizer. Its output is valid UTF-8, equal to the input when the input was valid,
// unchanged by a second pass, and the replacement count is zero exactly for valid input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "io/utf8.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  int64_t replaced = 0;
  const std::string out = tessera::sanitize_utf8(in, &replaced);
  if (!tessera::is_valid_utf8(out)) std::abort();
  const bool valid = tessera::is_valid_utf8(in);
  if (valid != (replaced == 0)) std::abort();
  if (valid && out != in) std::abort();
  int64_t again = 0;
  if (tessera::sanitize_utf8(out, &again) != out || again != 0) std::abort();
  return 0;
}
