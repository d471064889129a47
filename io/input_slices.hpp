// The work units of `tessera prepare`: slices of the input files, cut only where a document starts, so that
// processes can each read and tokenize their own slices and the documents are still those of the whole files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera {

struct InputSlice {
  int file = 0;  // index into the input file list
  std::string path;
  int64_t begin = 0, end = 0;  // nominal byte range of the file
  bool whole = false;          // the whole file (compressed, one document per file, or empty)
};

// Slices of about slice_bytes of each file, in file order. mode: "file", "line", "blank" (document boundaries) or
// "jsonl" (one document per line). Compressed files (.gz, .zst) and mode "file" give one slice per file.
std::vector<InputSlice> plan_slices(const std::vector<std::string>& files, const std::string& mode,
                                    int64_t slice_bytes);

struct SliceText {
  std::string text;    // bytes as in the file (decompressed), not yet checked as UTF-8
  int64_t offset = 0;  // where the text starts in the file
};

// The text of a slice: from the first document start at or after `begin` to the first at or after `end`. The same
// rule on both sides, so consecutive slices tile the file exactly. A document starts at a line start ("line",
// "jsonl") or at the start of the line after a blank line ("blank"); a split may put blank lines on either side.
// Throws tessera::Error naming the file if it cannot be read.
SliceText read_slice(const InputSlice& slice, const std::string& mode);

}  // namespace tessera
