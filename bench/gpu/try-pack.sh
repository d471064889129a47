#!/usr/bin/env bash
# Runs bench/gpu/run.sh on this machine as the lent GPU machine would, without Debian's libraries: in a private
# mount namespace, every library the pack's programs and Open MPI components would load from this system (but glibc,
# libstdc++, CUDA's and pcre2) and Open MPI's own folders and binaries are hidden (empty files and folders bound
# over them), so a library or Open MPI file the pack lacks fails here, not in the GPU machine's few minutes. Without
# a GPU, run.sh's CUDA tests report skipped and the layouts run on the CPU. Needs root (unshare -m).
#   Usage: bash bench/gpu/try-pack.sh [PACK=build-gpu-pack]
set -euo pipefail
cd "$(dirname "$0")/../.."
packed=$(cd "${1:-build-gpu-pack}" && pwd)
if [[ ${TRY_PACK_INSIDE:-} != 1 ]]; then
  unshare -m --propagation private mount --bind / /mnt 2>/dev/null ||
    { echo "try-pack: skipped: no private mount namespace with bind mounts here (unshare -m and mount need root)"; exit 0; }
  exec unshare -m --propagation private env TRY_PACK_INSIDE=1 bash "$0" "$packed"
fi
empty=$(mktemp -d)
mkdir "$empty/dir"
: >"$empty/file"
# the libraries first (found before Open MPI's folders are hidden); pcre2 stays: mount, tar and grep need it, and
# every base system has it; CUDA's, glibc and libstdc++ are the GPU machine's own
keep='^(libc|libm|libdl|librt|libpthread|ld-linux.*|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas.*|libcudnn.*|libnccl|libpcre2-8)\.so'
unpacked=$(mktemp -d)
tar -C "$unpacked" -xzf "$packed/pack.tar.gz"
libs=$(find "$unpacked/bin" "$unpacked/mpi" -type f \( -path '*/bin/*' -o -name '*.so' \) -print0 |
  xargs -0 -n1 ldd 2>/dev/null | awk '/=> \// {print $3}' | sort -u)
rm -rf "$unpacked"
hidden=0
for lib in $libs; do
  [[ $(basename "$lib") =~ $keep ]] && continue
  mount --bind "$empty/file" "$(readlink -f "$lib")"
  hidden=$((hidden + 1))
done
for d in /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/pmix2 /usr/share/openmpi /etc/openmpi \
  /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/x86_64-linux-gnu/blas /usr/lib/x86_64-linux-gnu/lapack; do
  if [[ -d $d ]]; then mount --bind "$empty/dir" "$d"; fi
done
for f in orterun orted ompi_info mpirun mpiexec; do
  p=$(command -v "$f" || true)
  if [[ -n $p ]]; then mount --bind "$empty/file" "$(readlink -f "$p")"; fi
done
echo "try-pack: $hidden libraries of this system and Open MPI's own files hidden; running bench/gpu/run.sh"
out=$(mktemp -d)
OUT=$out bash bench/gpu/run.sh "$packed"
