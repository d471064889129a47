// Sampler throughput from HDF5: tokens/s of shuffled T + 1 samples from a synthetic GPT-2-sized dataset (uint16,
// vocabulary 50257) larger than the block cache, with the default cache and with a cache of one block (every sample
// read through HDF5), and with two datasets blended. Prints table rows; never fails.
//
//   bench_sampler [tokens (default 2^25)] [seq_len (default 1024)] [train tokens/s to compare with (default 666)]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/rng.hpp"
#include "io/blended_sampler.hpp"
#include "io/token_dataset.hpp"

namespace {

namespace fs = std::filesystem;

void write_dataset(const std::string& dir, int64_t tokens, uint64_t seed) {
  fs::create_directories(dir);
  tessera::TokenizerInfo info;
  info.name = "synthetic";
  info.vocab_size = 50257;
  info.regular_vocab_size = 50256;
  info.eot_id = 50256;
  tessera::ShardWriter writer(dir, "train", info, "bench", int64_t{1} << 23);
  tessera::Rng rng(seed, 0);
  std::vector<int32_t> doc;
  for (int64_t written = 0; written < tokens; written += static_cast<int64_t>(doc.size())) {
    doc.resize(static_cast<size_t>(500 + rng.below(1500)));
    for (auto& t : doc) t = static_cast<int32_t>(rng.below(50256));
    doc.back() = 50256;
    writer.add_document(doc);
  }
  writer.finish();
}

double tokens_per_second(tessera::BlendedSampler& sampler, double seconds) {
  const int T = sampler.seq_len();
  std::vector<int32_t> seq(static_cast<size_t>(T) + 1);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t k = 0;
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < 64; ++i) sampler.read(k++, seq.data());
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return static_cast<double>(k) * T / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t tokens = argc > 1 ? std::atoll(argv[1]) : int64_t{1} << 25;
  const int T = argc > 2 ? std::atoi(argv[2]) : 1024;
  const double train_rate = argc > 3 ? std::atof(argv[3]) : 666;
  const fs::path dir = fs::temp_directory_path() / ("tessera-bench-sampler-" + std::to_string(getpid()));
  write_dataset((dir / "a").string(), tokens, 1);
  write_dataset((dir / "b").string(), tokens / 4, 2);
  {
    const tessera::TokenDataset a((dir / "a").string(), "train"), b((dir / "b").string(), "train");
    const tessera::TokenDataset a1((dir / "a").string(), "train", tessera::TokenDataset::kCacheBlock);
    const double mb = static_cast<double>(tokens) * 2 / 1e6;  // on disk (uint16)
    struct Case {
      const char* what;
      std::vector<const tessera::TokenDataset*> data;
      std::vector<double> weights;
    };
    const Case cases[] = {{"shuffled, 64 MiB cache", {&a}, {1.0}},
                          {"shuffled, 1-block cache (every read from HDF5)", {&a1}, {1.0}},
                          {"blend 0.7 / 0.3, 64 MiB caches", {&a, &b}, {0.7, 0.3}}};
    auto counts = [](const Case& c) {
      std::pair<int64_t, int64_t> n{0, 0};
      for (const auto* d : c.data) n = {n.first + d->cache_hits(), n.second + d->cache_misses()};
      return n;
    };
    for (const Case& c : cases) {
      tessera::BlendedSampler sampler(c.data, c.weights, T, 7, true);
      const auto before = counts(c);
      const double rate = tokens_per_second(sampler, 2.0);
      const auto after = counts(c);
      const auto hits = static_cast<double>(after.first - before.first);
      const double hit = hits / std::max(1.0, hits + static_cast<double>(after.second - before.second));
      std::printf("| %s | %.0f MB | %d | %.3g | %.0f%% | %.0fx |\n", c.what, mb, T, rate, 100 * hit, rate / train_rate);
    }
  }
  fs::remove_all(dir);
  return 0;
}
