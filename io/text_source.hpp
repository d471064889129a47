// Reading the text of `tessera prepare`'s (and train-tokenizer's) inputs: plain, gzip (.gz) or zstd (.zst) files, as
// text or as JSON lines.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tessera {

// The bytes of a file, decompressed when its name ends in .gz or .zst. Throws tessera::Error naming the file for a
// missing, unreadable or corrupt file.
std::string read_input(const std::string& path);

// A document and the byte offset in its text where it starts (what identifies it for the validation draw).
struct Document {
  std::string text;
  int64_t offset = 0;
  std::string prompt;  // fine-tuning pairs: the prompt, `text` being the response
};

// One document per line of JSON lines: the string under `key` of each object (blank lines are skipped). Each line
// is made valid UTF-8 first (invalid bytes replaced, counted into *replaced when given); offsets are those of the
// text as given. Throws tessera::Error naming file:line for a line that is not a JSON object or lacks a string
// `key`; when the text is a part of the file, lines_before() gives the lines before it (asked for only then).
// prompt_key non-empty: each line is a fine-tuning pair, its prompt under prompt_key and its response under key.
std::vector<Document> jsonl_documents(const std::string& text, const std::string& key, const std::string& path,
                                      const std::function<int64_t()>& lines_before = {}, int64_t* replaced = nullptr,
                                      const std::string& prompt_key = "");

// The files named by inputs: files as given, directories searched recursively (sorted). Throws tessera::Error for a
// missing path, an empty directory or no inputs.
std::vector<std::string> list_input_files(const std::vector<std::string>& inputs);

// The boundary `--doc-boundary auto` stands for: "file" for several files; for one file "blank" when its first
// 16 MiB of text hold a blank line, else "line" (one document per file would leave nothing to validate on).
std::string choose_document_boundary(const std::vector<std::string>& files);

// Throws tessera::Error unless boundary is "file", "line" or "blank".
void check_document_boundary(const std::string& boundary);

// Splits text into documents at the chosen boundary ("file": one document; "line": each non-blank line;
// "blank": runs of non-blank lines, separated by blank (whitespace-only) lines). Every line of a document ends with
// a newline. Looks only at newlines and ASCII whitespace, so it may run before UTF-8 is checked (offsets then stay
// those of the file's bytes).
std::vector<Document> split_documents(const std::string& text, const std::string& boundary);

}  // namespace tessera
