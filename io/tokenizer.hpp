// Tokenizers: text <-> token ids. Every tokenizer has an end-of-text id (between documents), a mask id (MLM) and a
// padding id, all inside vocab_size. Its name and a hash of its files go into every dataset it builds, so that a
// run can refuse data made with another tokenizer.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tessera {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // text must be valid UTF-8 (see sanitize_utf8); special-token strings in the text are ordinary text.
  virtual void encode(std::string_view text, std::vector<int32_t>& out) const = 0;
  // Concatenated bytes of the tokens (may be invalid UTF-8 when a multi-byte character is cut).
  virtual std::string decode(std::span<const int32_t> ids) const = 0;

  virtual std::string name() const = 0;        // "gpt2", "sentencepiece", "byte"
  virtual std::string hash() const = 0;        // hex digest of the vocabulary files ("" for none)
  virtual std::string files() const = 0;       // absolute path of the vocabulary files ("" for none)
  virtual int vocab_size() const = 0;          // ids are in [0, vocab_size), special tokens included
  virtual int regular_vocab_size() const = 0;  // ids below this are ordinary tokens (random MLM replacements)
  virtual int eot_id() const = 0;
  virtual int mask_id() const = 0;
  virtual int pad_id() const = 0;

  // The text of a special id ("<|endoftext|>", "<|mask|>", "<|pad|>"), or "" for any other id.
  std::string_view special_text(int32_t id) const;

  std::vector<int32_t> encode(std::string_view text) const {
    std::vector<int32_t> out;
    encode(text, out);
    return out;
  }
};

// "byte" (256 byte ids + end-of-text, mask, pad), "gpt2" (byte-level BPE from files/encoder.json and
// files/vocab.bpe; files = "" for default_gpt2_dir()) or "sentencepiece" (files: a .model file or a directory with
// tokenizer.model). Throws tessera::Error for an unknown name or a missing or malformed file.
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& name, const std::string& files);

// The names make_tokenizer knows.
const std::vector<std::string>& tokenizer_names();

// Where the GPT-2 vocabulary files are looked for when none is given: $TESSERA_GPT2_DIR, else the bundled vocabulary
// (SHARE/gpt2, see core/share_dir.hpp).
std::string default_gpt2_dir();

}  // namespace tessera
