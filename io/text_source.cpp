#include "io/text_source.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include "core/check.hpp"

#include "io/read_file.hpp"
#include "io/utf8.hpp"

namespace tessera {
namespace fs = std::filesystem;
namespace {

// limit: stop once this many bytes are out (a peek at the head of the file)
std::string gunzip(const std::string& path, size_t limit = std::string::npos) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) TESSERA_RAISE("{}: cannot open (no such file, or no permission)", path);
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(f, gzclose);
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
    if (out.size() >= limit) return out;  // a peek: the rest is not read
  }
  // read to the end: a stream cut short reads like a short one, and only gzclose tells them apart
  if (gzclose(guard.release()) == Z_BUF_ERROR)
    TESSERA_RAISE("{}: truncated gzip data (the file ends inside the compressed stream; gzip -t says the same)", path);
  return out;
}

std::string unzstd(const std::string& path, size_t limit = std::string::npos) {
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
    if (out.size() >= limit) return out;
  }
  if (last != 0) TESSERA_RAISE("{}: truncated zstd data", path);
  return out;
}

// The value of the four hex digits at s[i] (-1 if they are not four hex digits).
int hex4(std::string_view s, size_t i) {
  if (i + 4 > s.size()) return -1;
  int v = 0;
  for (size_t k = i; k < i + 4; ++k) {
    const char c = s[k];
    const int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// JSON escapes of lone UTF-16 surrogates (\ud800 without its low half, as Python's json writes for broken text)
// become \ufffd, like invalid UTF-8 elsewhere; returns how many. A strict parser would refuse the whole line.
int64_t replace_lone_surrogates(std::string& line) {
  int64_t count = 0;
  for (size_t i = 0; i + 5 < line.size() + 1; ++i) {
    if (line[i] != '\\') continue;
    if (i + 1 < line.size() && line[i + 1] != 'u') {
      ++i;  // another escape (\\, \"): skip its second character
      continue;
    }
    const int v = hex4(line, i + 2);
    if (v < 0xD800 || v > 0xDFFF) {
      i += 5;
      continue;
    }
    const bool high = v < 0xDC00;
    const bool paired = high && i + 11 < line.size() + 1 && line[i + 6] == '\\' && line[i + 7] == 'u' &&
                        hex4(line, i + 8) >= 0xDC00 && hex4(line, i + 8) <= 0xDFFF;
    if (paired) {
      i += 11;
      continue;
    }
    line.replace(i + 2, 4, "fffd");
    ++count;
    i += 5;
  }
  return count;
}

}  // namespace

std::string read_input(const std::string& path) {
  if (path.ends_with(".gz")) return gunzip(path);
  if (path.ends_with(".zst")) return unzstd(path);
  return read_file(path);
}

std::vector<Document> jsonl_documents(const std::string& text, const std::string& key, const std::string& path,
                                      const std::function<int64_t()>& lines_before, int64_t* replaced,
                                      const std::string& prompt_key) {
  std::vector<Document> docs;
  size_t start = 0;
  int64_t number = 0;
  auto fail = [&](const std::string& what) {
    TESSERA_RAISE("{}:{}: {}", path, number + (lines_before ? lines_before() : 0), what);
  };
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = sanitize_utf8(std::string_view(text.data() + start, end - start), replaced);
    ++number;
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      const int64_t surrogates = replace_lone_surrogates(line);
      if (replaced != nullptr) *replaced += surrogates;
      nlohmann::json record;
      try {
        record = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception& e) {
        // nlohmann says "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error ... - WHY"
        const std::string what = e.what();
        const size_t why = what.rfind(" - ");
        fail("not valid JSON" + (why != std::string::npos ? ": " + what.substr(why + 3) : std::string()));
      }
      if (!record.is_object()) fail("not a JSON object");
      const auto it = record.find(key);
      if (it == record.end() || !it->is_string()) fail(fmt::format("no string field \"{}\"", key));
      Document doc{it->get<std::string>(), static_cast<int64_t>(start), {}};
      if (!prompt_key.empty()) {
        const auto p = record.find(prompt_key);
        if (p == record.end() || !p->is_string()) fail(fmt::format("no string field \"{}\"", prompt_key));
        doc.prompt = p->get<std::string>();
      }
      docs.push_back(std::move(doc));
    }
    start = end + 1;
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
    } else if (fs::exists(in)) {
      TESSERA_RAISE("{}: not a regular file (a device, FIFO or socket cannot be an input)", in);
    } else {
      TESSERA_RAISE("{}: no such file or directory", in);
    }
  }
  if (files.empty()) TESSERA_RAISE("prepare: no input files given");
  return files;
}

std::string choose_document_boundary(const std::vector<std::string>& files) {
  if (files.size() > 1) return "file";
  const std::string& path = files.at(0);
  constexpr size_t kHead = size_t{16} << 20;
  std::string head;
  if (path.ends_with(".gz")) {
    head = gunzip(path, kHead);
  } else if (path.ends_with(".zst")) {
    head = unzstd(path, kHead);
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) TESSERA_RAISE("{}: cannot open (no such file, or no permission)", path);
    head.resize(kHead);
    in.read(head.data(), static_cast<std::streamsize>(kHead));
    head.resize(static_cast<size_t>(in.gcount()));
  }
  return split_documents(head, "blank").size() > 1 ? "blank" : "line";
}

void check_document_boundary(const std::string& boundary) {
  if (boundary != "file" && boundary != "line" && boundary != "blank")
    TESSERA_RAISE("prepare: unknown document boundary \"{}\" (expected file, line or blank)", boundary);
}

std::vector<Document> split_documents(const std::string& text, const std::string& boundary) {
  check_document_boundary(boundary);
  std::vector<Document> docs;
  if (boundary == "file") {
    if (!text.empty()) docs.push_back({text, 0, {}});
    return docs;
  }
  Document current{"", -1, {}};
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + start, end - start);
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) {  // a blank line ends a document
      if (current.offset >= 0) docs.push_back(std::move(current));
      current = {"", -1, {}};
    } else {
      if (current.offset < 0) current.offset = static_cast<int64_t>(start);
      current.text.append(line).push_back('\n');
      if (boundary == "line") {
        docs.push_back(std::move(current));
        current = {"", -1, {}};
      }
    }
    start = end + 1;
  }
  if (current.offset >= 0) docs.push_back(std::move(current));
  return docs;
}

}  // namespace tessera
