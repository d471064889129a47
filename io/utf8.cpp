#include "io/utf8.hpp"

namespace tessera {
namespace {

// What a lead byte allows: the sequence length (0: never a lead byte) and the range of the second byte, which
// excludes overlong forms, surrogates and code points above U+10FFFF.
struct Lead {
  size_t len;
  unsigned char lo, hi;
};

Lead lead(unsigned char b0) {
  if (b0 < 0x80) return {1, 0x80, 0xBF};
  if (b0 >= 0xC2 && b0 <= 0xDF) return {2, 0x80, 0xBF};
  if (b0 >= 0xE0 && b0 <= 0xEF)
    return {3, static_cast<unsigned char>(b0 == 0xE0 ? 0xA0 : 0x80),
            static_cast<unsigned char>(b0 == 0xED ? 0x9F : 0xBF)};
  if (b0 >= 0xF0 && b0 <= 0xF4)
    return {4, static_cast<unsigned char>(b0 == 0xF0 ? 0x90 : 0x80),
            static_cast<unsigned char>(b0 == 0xF4 ? 0x8F : 0xBF)};
  return {0, 0, 0};
}

// Bytes of the well-formed prefix of the sequence at s[i] (at least 1), and whether it is complete. An invalid
// sequence is replaced as one unit up to where it breaks ("substitution of maximal subparts").
size_t scan(std::string_view s, size_t i, bool* complete) {
  const Lead l = lead(static_cast<unsigned char>(s[i]));
  if (l.len <= 1) {
    *complete = l.len == 1;
    return 1;
  }
  size_t k = 1;
  for (; k < l.len && i + k < s.size(); ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < (k == 1 ? l.lo : 0x80) || b > (k == 1 ? l.hi : 0xBF)) break;
  }
  *complete = k == l.len;
  return k;
}

}  // namespace

std::string sanitize_utf8(std::string_view text, int64_t* replaced) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    bool complete = false;
    const size_t n = scan(text, i, &complete);
    if (complete) {
      out.append(text.substr(i, n));
    } else {
      out.append("\xEF\xBF\xBD");
      if (replaced != nullptr) ++*replaced;
    }
    i += n;
  }
  return out;
}

bool is_valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    bool complete = false;
    i += scan(text, i, &complete);
    if (!complete) return false;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace tessera
