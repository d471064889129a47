#include "io/gpt2_tokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "io/read_file.hpp"
#include "io/utf8.hpp"

namespace tessera {
namespace {

// GPT-2's pre-tokenisation pattern (encoder.py).
constexpr const char* kPattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to code points from 256 up.
std::vector<uint32_t> byte_to_codepoint() {
  std::vector<uint32_t> map(256, 0);
  std::vector<bool> direct(256, false);
  for (int b = '!'; b <= '~'; ++b) direct[static_cast<size_t>(b)] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) direct[static_cast<size_t>(b)] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) direct[static_cast<size_t>(b)] = true;
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) map[static_cast<size_t>(b)] = direct[static_cast<size_t>(b)] ? b : next++;
  return map;
}

// Decodes a token string of the byte-level alphabet back to the raw bytes it stands for.
std::string unicode_to_bytes(const std::string& s, const std::unordered_map<uint32_t, uint8_t>& inverse,
                             const std::string& file) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp = 0;
    size_t len = 1;
    if (c < 0x80) {
      cp = c;
    } else if ((c >> 5) == 0x6) {
      cp = c & 0x1F;
      len = 2;
    } else if ((c >> 4) == 0xE) {
      cp = c & 0x0F;
      len = 3;
    } else {
      cp = c & 0x07;
      len = 4;
    }
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    const auto it = inverse.find(cp);
    if (it == inverse.end()) TESSERA_RAISE("{}: token \"{}\" is outside GPT-2's byte alphabet", file, s);
    out.push_back(static_cast<char>(it->second));
    i += len;
  }
  return out;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

Gpt2Tokenizer::Gpt2Tokenizer(const std::string& dir)
    : dir_(std::filesystem::absolute(dir).lexically_normal().string()) {
  static std::atomic<uint64_t> instances{0};
  instance_ = ++instances;
  // OpenAI's names, or Hugging Face's for the same two files (vocab.json, merges.txt)
  const std::filesystem::path d(dir);
  const bool hf = !std::filesystem::exists(d / "encoder.json") && std::filesystem::exists(d / "vocab.json");
  const std::string encoder_path = (d / (hf ? "vocab.json" : "encoder.json")).string();
  const std::string merges_path = (d / (hf ? "merges.txt" : "vocab.bpe")).string();
  const std::string encoder_text = read_file(encoder_path);
  const std::string merges_text = read_file(merges_path);
  hash_ = fmt::format("{:016x}", stream_id(encoder_text) ^ (stream_id(merges_text) * 31));

  const std::vector<uint32_t> to_cp = byte_to_codepoint();
  std::unordered_map<uint32_t, uint8_t> inverse;
  for (int b = 0; b < 256; ++b) inverse[to_cp[static_cast<size_t>(b)]] = static_cast<uint8_t>(b);

  nlohmann::json encoder;
  try {
    encoder = nlohmann::json::parse(encoder_text);
  } catch (const nlohmann::json::exception& e) {
    TESSERA_RAISE("{}: malformed JSON: {}", encoder_path, e.what());
  }
  if (!encoder.is_object() || encoder.empty()) TESSERA_RAISE("{}: expected an object of token -> id", encoder_path);
  token_bytes_.resize(encoder.size());
  std::unordered_map<std::string, int32_t> bytes_to_id;
  eot_ = -1;
  for (const auto& [token, id_json] : encoder.items()) {
    if (!id_json.is_number_integer()) TESSERA_RAISE("{}: id of \"{}\" is not an integer", encoder_path, token);
    const auto id = id_json.get<int64_t>();
    if (id < 0 || id >= static_cast<int64_t>(encoder.size())) TESSERA_RAISE("{}: id {} out of range", encoder_path, id);
    if (token == "<|endoftext|>") {
      eot_ = static_cast<int>(id);
      token_bytes_[static_cast<size_t>(id)] = token;
      continue;
    }
    std::string bytes = unicode_to_bytes(token, inverse, encoder_path);
    bytes_to_id[bytes] = static_cast<int32_t>(id);
    token_bytes_[static_cast<size_t>(id)] = std::move(bytes);
  }
  if (eot_ != static_cast<int>(encoder.size()) - 1)
    TESSERA_RAISE("{}: expected <|endoftext|> as the last id", encoder_path);
  for (int b = 0; b < 256; ++b) {
    const auto it = bytes_to_id.find(std::string(1, static_cast<char>(b)));
    if (it == bytes_to_id.end()) TESSERA_RAISE("{}: no token for byte {}", encoder_path, b);
    byte_id_[b] = it->second;
  }

  std::istringstream lines(merges_text);
  std::string line;
  int32_t rank = 0;
  while (std::getline(lines, line)) {
    if (line.starts_with("#version") || line.empty()) continue;
    const size_t space = line.find(' ');
    if (space == std::string::npos) TESSERA_RAISE("{}: malformed merge line \"{}\"", merges_path, line);
    const std::string a = unicode_to_bytes(line.substr(0, space), inverse, merges_path);
    const std::string b = unicode_to_bytes(line.substr(space + 1), inverse, merges_path);
    const auto ia = bytes_to_id.find(a), ib = bytes_to_id.find(b), im = bytes_to_id.find(a + b);
    if (ia == bytes_to_id.end() || ib == bytes_to_id.end() || im == bytes_to_id.end())
      TESSERA_RAISE("{}: merge \"{}\" names a token missing from encoder.json", merges_path, line);
    merges_.emplace(pair_key(ia->second, ib->second), Merge{rank++, im->second});
  }
  if (merges_.empty()) TESSERA_RAISE("{}: no merges", merges_path);

  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
  TESSERA_CHECK(re != nullptr, "GPT-2 pattern does not compile (PCRE2 error {})", error);
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // optional: falls back to the interpreter
  regex_ = re;
}

Gpt2Tokenizer::~Gpt2Tokenizer() {
  pcre2_code_free(static_cast<pcre2_code*>(regex_));
}

// BPE as OpenAI's encoder.py: the lowest-ranked adjacent pair is merged, the leftmost first among equal ranks,
// until no pair is in vocab.bpe. A short piece rescans its pairs after each merge; a long one (a run of letters,
// base64 or DNA can be a megabyte) takes O(n log n): the symbols form a linked list over their first byte's
// position, and a min-heap holds every adjacent pair that has a merge, keyed by (rank, position); an entry is stale
// once either side has changed. tests/data/gpt2_expected.json holds pieces of both kinds.
void Gpt2Tokenizer::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
  const auto n = static_cast<int32_t>(piece.size());
  if (n == 0) return;
  if (n <= kShortPiece) {  // most pieces: a rescan of a few pairs beats the heap's bookkeeping
    int32_t symbols[kShortPiece];
    int32_t count = n;
    for (int32_t i = 0; i < n; ++i) symbols[i] = byte_id_[static_cast<unsigned char>(piece[static_cast<size_t>(i)])];
    while (count > 1) {
      int32_t best_rank = std::numeric_limits<int32_t>::max(), best = -1, merged = -1;
      for (int32_t i = 0; i + 1 < count; ++i) {
        const auto it = merges_.find(pair_key(symbols[i], symbols[i + 1]));
        if (it != merges_.end() && it->second.rank < best_rank) {
          best_rank = it->second.rank;
          best = i;
          merged = it->second.merged;
        }
      }
      if (best < 0) break;
      symbols[best] = merged;
      std::copy(symbols + best + 2, symbols + count, symbols + best + 1);
      --count;
    }
    out.insert(out.end(), symbols, symbols + count);
    return;
  }
  struct Candidate {
    int32_t rank, left, left_id, right_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  thread_local std::vector<int32_t> id, next, prev;
  thread_local std::vector<Candidate> heap;
  id.resize(static_cast<size_t>(n));
  next.resize(static_cast<size_t>(n));
  prev.resize(static_cast<size_t>(n));
  heap.clear();
  for (int32_t i = 0; i < n; ++i) {
    id[static_cast<size_t>(i)] = byte_id_[static_cast<unsigned char>(piece[static_cast<size_t>(i)])];
    next[static_cast<size_t>(i)] = i + 1 < n ? i + 1 : -1;
    prev[static_cast<size_t>(i)] = i - 1;
  }
  const auto later = std::greater<Candidate>();
  auto push = [&](int32_t left) {  // the pair starting at `left`, if it has a merge
    const int32_t right = left >= 0 ? next[static_cast<size_t>(left)] : -1;
    if (right < 0) return;
    const int32_t a = id[static_cast<size_t>(left)], b = id[static_cast<size_t>(right)];
    const auto it = merges_.find(pair_key(a, b));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, a, b});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Candidate c = heap.back();
    heap.pop_back();
    const int32_t right = next[static_cast<size_t>(c.left)];
    // stale: the left symbol was merged away or changed, or its right neighbour is another symbol now
    if (id[static_cast<size_t>(c.left)] != c.left_id || right < 0 || id[static_cast<size_t>(right)] != c.right_id)
      continue;
    id[static_cast<size_t>(c.left)] = merges_.find(pair_key(c.left_id, c.right_id))->second.merged;
    const int32_t after = next[static_cast<size_t>(right)];
    next[static_cast<size_t>(c.left)] = after;
    if (after >= 0) prev[static_cast<size_t>(after)] = c.left;
    id[static_cast<size_t>(right)] = -1;  // gone: entries naming it are stale
    push(prev[static_cast<size_t>(c.left)]);
    push(c.left);
  }
  for (int32_t i = 0; i >= 0; i = next[static_cast<size_t>(i)]) out.push_back(id[static_cast<size_t>(i)]);
}

namespace {

// Pieces repeat a lot in natural text: each thread keeps the BPE of the pieces it has seen, for one tokenizer at a
// time, bounded in size, and the PCRE2 match block it matches with.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct ThreadScratch {
  uint64_t owner = 0;  // Gpt2Tokenizer::instance_
  std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> pieces;
  pcre2_match_data* match = nullptr;
  ~ThreadScratch() { pcre2_match_data_free(match); }
};
constexpr size_t kMaxCachedPieces = size_t{1} << 17;

}  // namespace

void Gpt2Tokenizer::encode(std::string_view text, std::vector<int32_t>& out) const {
  if (!is_valid_utf8(text)) TESSERA_RAISE("GPT-2 tokenizer: input is not valid UTF-8");
  auto* re = static_cast<pcre2_code*>(regex_);
  thread_local ThreadScratch scratch;
  if (scratch.owner != instance_) {
    scratch.pieces.clear();
    pcre2_match_data_free(scratch.match);
    scratch.match = pcre2_match_data_create_from_pattern(re, nullptr);
    scratch.owner = instance_;
  }
  PCRE2_SIZE start = 0;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  while (start < text.size()) {
    const int rc = pcre2_match(re, subject, text.size(), start, PCRE2_NO_UTF_CHECK, scratch.match, nullptr);
    if (rc < 0) break;  // cannot happen: \s+ and the character classes cover every code point
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.match);
    const std::string_view piece = text.substr(ov[0], ov[1] - ov[0]);
    if (piece.empty()) break;
    auto it = scratch.pieces.find(piece);
    if (it == scratch.pieces.end()) {
      std::vector<int32_t> ids;
      encode_piece(piece, ids);
      if (scratch.pieces.size() >= kMaxCachedPieces) scratch.pieces.clear();
      it = scratch.pieces.emplace(std::string(piece), std::move(ids)).first;
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
    start = ov[1];
  }
}

std::string Gpt2Tokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (int32_t id : ids) {
    if (id >= 0 && id < static_cast<int32_t>(token_bytes_.size())) {
      out += token_bytes_[static_cast<size_t>(id)];  // end-of-text is in encoder.json
    } else {
      out += special_text(id);
    }
  }
  return out;
}

}  // namespace tessera
