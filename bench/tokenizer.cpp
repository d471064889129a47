// Tokenizer throughput: MB/s of GPT-2 BPE encoding on one thread (the whole text as one string) and on all cores
// (its paragraphs, split at blank lines, as a batch), the same work bench/peers/tokenizer_peers.py gives tiktoken
// and Hugging Face tokenizers. Prints table rows; never fails.
//
//   bench_tokenizer TEXT_FILE [GPT2_DIR] [THREADS]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/read_file.hpp"
#include "io/tokenizer.hpp"

namespace {

// Best MB/s over repetitions that together take at least min_seconds, and the token count. Each repetition gets a
// new tokenizer (built untimed), so its piece caches start cold, as a peer's do.
template <class Fn>
std::pair<double, size_t> best_rate(Fn&& fn, size_t bytes, const std::string& files, double min_seconds = 1.0) {
  double best = 0, spent = 0;
  size_t count = 0;
  while (spent < min_seconds || best == 0) {
    const auto tok = tessera::make_tokenizer("gpt2", files);
    const auto t0 = std::chrono::steady_clock::now();
    count = fn(*tok);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    spent += dt;
    best = std::max(best, static_cast<double>(bytes) / dt / 1e6);
  }
  return {best, count};
}

std::vector<std::string> paragraphs(const std::string& text) {
  std::vector<std::string> docs;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find("\n\n", start);
    if (end == std::string::npos) end = text.size();
    if (end > start) docs.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  return docs;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_tokenizer TEXT_FILE [GPT2_DIR] [THREADS]\n");
    return 2;
  }
  const std::string text = tessera::read_file(argv[1]);
  const std::string files = argc > 2 ? argv[2] : "";
  const int threads = argc > 3 ? std::atoi(argv[3]) : omp_get_num_procs();
  const std::vector<std::string> docs = paragraphs(text);

  std::vector<int32_t> ids;
  const auto [one, n_one] = best_rate(
      [&](const tessera::Tokenizer& tok) {
        ids.clear();
        tok.encode(text, ids);
        return ids.size();
      },
      text.size(), files);
  std::printf("| tessera | 1 | %.2f | %zu |\n", one, n_one);

  std::vector<std::vector<int32_t>> out(docs.size());
  omp_set_num_threads(threads);
  const auto [all, n_all] = best_rate(
      [&](const tessera::Tokenizer& tok) {
        size_t n = 0;
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : n)
        for (size_t i = 0; i < docs.size(); ++i) {
          out[i].clear();
          tok.encode(docs[i], out[i]);
          n += out[i].size();
        }
        return n;
      },
      text.size(), files);
  std::printf("| tessera | %d | %.2f | %zu |\n", threads, all, n_all);
  return 0;
}
