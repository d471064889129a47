// Reading the text of `tessera prepare`'s inputs: plain, gzip (.gz) or zstd (.zst) files, as text or as JSON lines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

// The bytes of a file, decompressed when its name ends in .gz or .zst. Throws tessera::Error naming the file for a
// missing, unreadable or corrupt file.
std::string read_input(const std::string& path);

// One document per line of JSON lines: the string under `key` of each object (blank lines are skipped). Throws
// tessera::Error naming file:line for a line that is not a JSON object or lacks a string `key`.
std::vector<std::string> jsonl_documents(const std::string& text, const std::string& key, const std::string& path);

}  // namespace tessera
