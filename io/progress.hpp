// A progress line for long jobs: the share of the input read (file bytes, compressed where the files are), the text
// it gave (decompressed bytes: the unit of every byte count and MB/s that tessera prints), tokens/s and the time
// left. On a terminal it redraws one line (at most five times a second); into a log it writes a line every 10 s, so
// logs stay short. Written to stderr; a disabled Progress (other ranks, tests) does nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tessera {

class Progress {
 public:
  // total_input_bytes: of the files as stored
  Progress(std::string label, int64_t total_input_bytes, bool enabled);
  void update(int64_t done_input_bytes, int64_t text_bytes, int64_t tokens);
  // Ends the line on a terminal.
  void finish(int64_t text_bytes, int64_t tokens);

 private:
  void print(int64_t done_input_bytes, int64_t text_bytes, int64_t tokens, bool last);
  using Clock = std::chrono::steady_clock;
  std::string label_;
  int64_t total_;
  bool enabled_, tty_;
  Clock::time_point start_, last_;
  bool printed_ = false;
};

}  // namespace tessera
