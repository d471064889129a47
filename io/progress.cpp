#include "io/progress.hpp"
#include "core/readable.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace tessera {

Progress::Progress(std::string label, int64_t total_input_bytes, bool enabled)
    : label_(std::move(label)),
      total_(std::max<int64_t>(1, total_input_bytes)),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(Clock::now()),
      last_(start_) {}

void Progress::update(int64_t done_input_bytes, int64_t text_bytes, int64_t tokens) {
  if (!enabled_) return;
  const auto now = Clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (since < (tty_ ? 0.2 : 10.0)) return;
  last_ = now;
  print(done_input_bytes, text_bytes, tokens, false);
}

void Progress::finish(int64_t text_bytes, int64_t tokens) {
  if (!enabled_ || !printed_) return;  // a job shorter than one update prints only its summary
  print(total_, text_bytes, tokens, true);
}

void Progress::print(int64_t done_input_bytes, int64_t text_bytes, int64_t tokens, bool last) {
  const double elapsed = std::max(1e-9, std::chrono::duration<double>(Clock::now() - start_).count());
  const double fraction = std::min(1.0, static_cast<double>(done_input_bytes) / static_cast<double>(total_));
  const int width = 24;
  const auto filled = static_cast<int>(fraction * width);
  const std::string bar =
      std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.');
  const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
  const std::string line = fmt::format(
      "{} [{}] {:5.1f}% of {:.1f} MB of files | {:.1f} MB of text | {:.2f} MB/s | {:.0f} tokens/s | "
      "elapsed {} | ETA {}",
      label_, bar, 100 * fraction, static_cast<double>(total_) / 1e6, static_cast<double>(text_bytes) / 1e6,
      static_cast<double>(text_bytes) / 1e6 / elapsed, static_cast<double>(tokens) / elapsed, clock_string(elapsed),
      clock_string(eta));
  if (tty_) {
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), last ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
  printed_ = true;
}

}  // namespace tessera
