// The MFU denominator on the CPU: the sgemm rate this machine reaches through the same BLAS the model uses.
#pragma once

namespace tessera {

// Median FLOP/s of repeated square sgemm of size n (fp32, at least 5 repetitions), measured for about `seconds`.
double measure_sgemm_flops(int n = 1536, double seconds = 0.5);

}  // namespace tessera
