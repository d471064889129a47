# Sourced by the job scripts: picks OpenBLAS's kernel for this CPU when OpenBLAS would not.
#
# Debian's OpenBLAS 0.3.21 does not recognise some newer Xeons (in VMs in particular) and falls back to its generic
# SSE3 kernel ("Prescott"), 4-5x slower than its AVX-512 one on the same machine. An OPENBLAS_CORETYPE already set
# (some machines set it on purpose) is left alone; the unit tests check sgemm and dgemm against plain loops.
if [[ -z "${OPENBLAS_CORETYPE:-}" && -r /proc/cpuinfo ]]; then
  _flags=$(grep -m1 '^flags' /proc/cpuinfo)
  if [[ $_flags == *avx512f* && $_flags == *avx512bw* && $_flags == *avx512dq* && $_flags == *avx512vl* ]]; then
    export OPENBLAS_CORETYPE=SkylakeX
  elif [[ $_flags == *avx2* && $_flags == *fma* ]]; then
    export OPENBLAS_CORETYPE=Haswell
  fi
  unset _flags
fi
