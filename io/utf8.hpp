// UTF-8 validation: invalid byte sequences are replaced by U+FFFD and counted, never passed on silently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera {

// Returns `text` with every maximal invalid subsequence replaced by U+FFFD (as Python's errors="replace" does);
// adds the number of replacements to *replaced.
std::string sanitize_utf8(std::string_view text, int64_t* replaced);
bool is_valid_utf8(std::string_view text);

// Appends the UTF-8 encoding of a code point.
void append_utf8(std::string& out, uint32_t codepoint);

}  // namespace tessera
