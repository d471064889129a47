// Deterministic random numbers, independent of thread count and platform.
//
// xoshiro256** seeded through splitmix64 from (seed, stream): every consumer (a tensor's initialisation, the MLM
// masking of one sample, the sampler's permutation of one epoch) draws from its own stream, so results do not depend
// on the order in which streams are used or on how work is split across threads or ranks.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

namespace tessera {

inline uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// FNV-1a: a stable stream id from a name (e.g. a tensor's).
inline uint64_t stream_id(std::string_view name) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001B3ULL;
  return h;
}

class Rng {
 public:
  Rng(uint64_t seed, uint64_t stream) : s_{} {
    uint64_t x = seed ^ (stream * 0xD1342543DE82EF95ULL);
    for (auto& s : s_) s = splitmix64(x);
  }

  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, n), unbiased (Lemire's method with rejection).
  uint64_t below(uint64_t n) {
    for (;;) {
      const __uint128_t m = static_cast<__uint128_t>(next_u64()) * n;
      const auto low = static_cast<uint64_t>(m);
      if (low >= n || low >= (0 - n) % n) return static_cast<uint64_t>(m >> 64);
    }
  }
  // Standard normal (Box-Muller; one value per call, so a stream is reproducible element by element).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace tessera
