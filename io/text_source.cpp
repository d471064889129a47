#include "io/text_source.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/check.hpp"
#include "io/read_file.hpp"

namespace tessera {
namespace fs = std::filesystem;
namespace {

std::string gunzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) TESSERA_RAISE("{}: cannot open (no such file, or no permission)", path);
  const std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(f, gzclose);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof(buf));
    if (n > 0 && gzdirect(f) == 1) TESSERA_RAISE("{}: not gzip data (the name ends in .gz)", path);
    if (n < 0) {
      int err = 0;
      TESSERA_RAISE("{}: corrupt gzip data ({})", path, gzerror(f, &err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string unzstd(const std::string& path) {
  const std::string in = read_file(path);
  const std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  std::string out;
  std::string buf(ZSTD_DStreamOutSize(), '\0');
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  size_t last = 0;
  while (input.pos < input.size) {
    ZSTD_outBuffer output{buf.data(), buf.size(), 0};
    last = ZSTD_decompressStream(ctx.get(), &output, &input);
    if (ZSTD_isError(last) != 0) TESSERA_RAISE("{}: corrupt zstd data ({})", path, ZSTD_getErrorName(last));
    out.append(buf.data(), output.pos);
  }
  if (last != 0) TESSERA_RAISE("{}: truncated zstd data", path);
  return out;
}

}  // namespace

std::string read_input(const std::string& path) {
  if (path.ends_with(".gz")) return gunzip(path);
  if (path.ends_with(".zst")) return unzstd(path);
  return read_file(path);
}

std::vector<std::string> jsonl_documents(const std::string& text, const std::string& key, const std::string& path) {
  std::vector<std::string> docs;
  std::istringstream lines(text);
  std::string line;
  int64_t number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      TESSERA_RAISE("{}:{}: not a JSON object", path, number);
    }
    if (!record.is_object()) TESSERA_RAISE("{}:{}: not a JSON object", path, number);
    const auto it = record.find(key);
    if (it == record.end() || !it->is_string()) TESSERA_RAISE("{}:{}: no string field \"{}\"", path, number, key);
    docs.push_back(it->get<std::string>());
  }
  return docs;
}

std::vector<std::string> list_input_files(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& in : inputs) {
    if (fs::is_directory(in)) {
      std::vector<std::string> found;
      for (const auto& e : fs::recursive_directory_iterator(in)) {
        if (e.is_regular_file()) found.push_back(e.path().string());
      }
      std::sort(found.begin(), found.end());
      if (found.empty()) TESSERA_RAISE("{}: directory holds no files", in);
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(in)) {
      files.push_back(in);
    } else {
      TESSERA_RAISE("{}: no such file or directory", in);
    }
  }
  if (files.empty()) TESSERA_RAISE("prepare: no input files given");
  return files;
}

std::vector<std::string> split_documents(const std::string& text, const std::string& boundary) {
  std::vector<std::string> docs;
  if (boundary == "file") {
    if (!text.empty()) docs.push_back(text);
    return docs;
  }
  if (boundary != "line" && boundary != "blank")
    TESSERA_RAISE("prepare: unknown document boundary \"{}\" (expected file, line or blank)", boundary);
  std::string current;
  std::istringstream lines(text);
  std::string line;
  auto blank = [](const std::string& s) { return s.find_first_not_of(" \t\r") == std::string::npos; };
  while (std::getline(lines, line)) {
    if (boundary == "line") {
      if (!blank(line)) docs.push_back(line + "\n");
      continue;
    }
    if (blank(line)) {
      if (!current.empty()) docs.push_back(std::move(current));
      current.clear();
    } else {
      current += line + "\n";
    }
  }
  if (!current.empty()) docs.push_back(std::move(current));
  return docs;
}

}  // namespace tessera
