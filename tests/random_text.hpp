// Random valid UTF-8 for round-trip tests: ASCII, control whitespace, Latin, Cyrillic, kana, CJK, emoji, punctuation.
#pragma once

#include <cstdint>
#include <string>

#include "core/rng.hpp"
#include "io/utf8.hpp"

namespace tessera::testing {

inline std::string random_utf8(Rng& rng, int max_chars) {
  static const uint32_t ranges[][2] = {{0x20, 0x7E},     {0x09, 0x0D},     {0xA0, 0x2FF},      {0x400, 0x4FF},
                                       {0x3040, 0x30FF}, {0x4E00, 0x4F00}, {0x1F300, 0x1F64F}, {0x2000, 0x206F}};
  std::string text;
  const int n = static_cast<int>(rng.below(static_cast<uint64_t>(max_chars)));
  for (int i = 0; i < n; ++i) {
    const auto& r = ranges[rng.below(8)];
    append_utf8(text, r[0] + static_cast<uint32_t>(rng.below(r[1] - r[0] + 1)));
  }
  return text;
}

}  // namespace tessera::testing
