// The MFU denominator on the CPU: the sgemm rate this machine reaches through the same BLAS the model uses.
//
// One short measurement is noisy (a shared machine drifts by tens of percent from minute to minute), so the peak
// is the best of several trials of about a second each, and it is measured once per machine and kept in a cache
// keyed by the CPU model, the thread count and the BLAS kernel: identical runs divide by the same number. The
// cache is $TESSERA_CACHE_DIR/peak_flops.json (default $XDG_CACHE_HOME/tessera, else ~/.cache/tessera);
// `tessera info --peak --refresh` measures again.
#pragma once

#include <string>

namespace tessera {

// Median FLOP/s of repeated square sgemm of size n (fp32, at least 5 repetitions), measured for about `seconds`
// (the benchmarks pair it with each step).
double measure_sgemm_flops(int n = 1536, double seconds = 0.5);

// The best of `trials` sustained rates: each trial runs n x n sgemm for about `seconds` and counts all its FLOPs
// over all its time.
double best_sgemm_flops(int trials = 3, double seconds = 1.0, int n = 2048);

struct PeakFlops {
  double flops = 0;         // FLOP/s of this machine with `threads` BLAS threads
  std::string key;          // "CPU model | N threads | BLAS kernel"
  std::string measured_at;  // UTC, ISO 8601
  bool from_cache = false;
};

// This machine's peak with `threads` BLAS threads (0: all its cores): from the cache unless `refresh`, else measured
// (best of three one-second trials, with BLAS on `threads` threads for the time) and stored. A cache that cannot be
// written is skipped with a warning on stderr.
PeakFlops machine_peak_flops(int threads, bool refresh);
// Raises the cached peak to `flops` when a run has shown that the machine reaches more (a peak measured while the
// machine was busy is too low): the next run starts from the better number.
void raise_machine_peak(int threads, double flops);  // threads: as for machine_peak_flops
std::string peak_cache_path();

}  // namespace tessera
