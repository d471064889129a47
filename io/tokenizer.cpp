#include "io/tokenizer.hpp"

#include "core/check.hpp"
#include "core/share_dir.hpp"
#include "io/byte_tokenizer.hpp"
#include "io/gpt2_tokenizer.hpp"
#include "io/sentencepiece_tokenizer.hpp"

namespace tessera {

std::string default_gpt2_dir() {
  return share_path("TESSERA_GPT2_DIR", "gpt2");
}

std::string_view Tokenizer::special_text(int32_t id) const {
  if (id == eot_id()) return "<|endoftext|>";
  if (id == mask_id()) return "<|mask|>";
  if (id == pad_id()) return "<|pad|>";
  return "";
}

const std::vector<std::string>& tokenizer_names() {
  static const std::vector<std::string> names{"gpt2", "sentencepiece", "byte"};
  return names;
}

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& name, const std::string& files) {
  if (name == "byte") return std::make_unique<ByteTokenizer>();
  if (name == "gpt2") return std::make_unique<Gpt2Tokenizer>(files.empty() ? default_gpt2_dir() : files);
  if (name == "sentencepiece") return std::make_unique<SentencePieceTokenizer>(files);
  TESSERA_RAISE("unknown tokenizer \"{}\" (expected gpt2, sentencepiece or byte)", name);
}

}  // namespace tessera
