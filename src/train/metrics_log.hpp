// The run's metrics file (log.metrics): JSON lines written by rank 0, one object per logged step and one per
// evaluation (docs/formats.md, "Metrics"). A resumed run appends to the file of the run it continues.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace tessera {

class MetricsLog {
 public:
  MetricsLog() = default;  // no file: write() does nothing
  // Opens `path` for writing (its folder created). A resumed run (resume_step > 0) keeps the lines of the steps its
  // checkpoint holds and appends after them. Throws tessera::Error naming the file.
  MetricsLog(const std::string& path, int64_t resume_step);
  MetricsLog(MetricsLog&& other) noexcept;
  MetricsLog& operator=(MetricsLog&& other) noexcept;
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  ~MetricsLog();

  // Appends one line and flushes it; false if it could not be written (a full disk).
  bool write(const nlohmann::json& line);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// Keeps the lines of a JSON-lines metrics file whose step is at most `step` (a resumed run appends after them, so a
// crash after the checkpoint leaves no step twice, and a line cut short by a kill is dropped). Atomic; nothing
// happens if the file does not exist.
void truncate_metrics(const std::string& path, int64_t step);

}  // namespace tessera
