#include "train/metrics_log.hpp"

#include <filesystem>
#include <sstream>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "io/file_sync.hpp"
#include "io/read_file.hpp"

namespace tessera {
namespace fs = std::filesystem;

MetricsLog::MetricsLog(const std::string& path, int64_t resume_step) : path_(path) {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  if (resume_step > 0) truncate_metrics(path, resume_step);
  file_ = std::fopen(path.c_str(), resume_step > 0 ? "a" : "w");
  if (file_ == nullptr) TESSERA_RAISE("{}: cannot open the metrics file for writing", path);
}

MetricsLog::MetricsLog(MetricsLog&& other) noexcept
    : path_(std::move(other.path_)), file_(std::exchange(other.file_, nullptr)) {}

MetricsLog& MetricsLog::operator=(MetricsLog&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr) std::fclose(file_);
    path_ = std::move(other.path_);
    file_ = std::exchange(other.file_, nullptr);
  }
  return *this;
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

bool MetricsLog::write(const nlohmann::json& line) {
  if (file_ == nullptr) return true;
  const std::string text = line.dump() + "\n";
  return std::fwrite(text.data(), 1, text.size(), file_) == text.size() && std::fflush(file_) == 0;
}

void truncate_metrics(const std::string& path, int64_t step) {
  if (path.empty() || !fs::exists(path)) return;
  // a copy being written when a run was killed
  const fs::path file(path);
  std::error_code ec;
  std::vector<fs::path> doomed;  // listed first, removed after (see remove_leftovers)
  for (const fs::directory_entry& e : fs::directory_iterator(file.has_parent_path() ? file.parent_path() : ".", ec))
    if (e.path().filename().string().starts_with(file.filename().string() + ".tmp-")) doomed.push_back(e.path());
  for (const fs::path& p : doomed) fs::remove(p, ec);
  std::istringstream in(read_file(path));
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    // a line cut short by a kill is dropped with the steps after the checkpoint
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer() || j["step"].get<int64_t>() > step)
      continue;
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

}  // namespace tessera
