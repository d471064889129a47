# Cluster settings for pretrain.sbatch and convert.sbatch: a template for a GPU cluster. Copy it to
# jobs/env/NAME.sh, adapt it, and submit with TESSERA_CLUSTER=NAME. Sourced with $home set to the tessera checkout.

# modules the binary was built with (names differ between sites)
if command -v module >/dev/null 2>&1; then
  module load gcc/12 openmpi/4.1 hdf5/1.12 cuda/13 nccl 2>/dev/null || echo "env: some modules did not load" >&2
fi

# how srun starts MPI ranks: pmix for Open MPI 4+, pmi2 for MPICH-based MPIs
export SLURM_MPI_TYPE=pmix
# each rank pinned to its cores and its GPU's NUMA node (one rank per GPU: --ntasks-per-node = GPUs per node)
export TESSERA_SRUN_ARGS="--cpu-bind=cores --gpu-bind=closest"

# NCCL: the inter-node fabric (InfiniBand HCAs, or a TCP interface on Ethernet clusters), and what to print
export NCCL_IB_HCA=${NCCL_IB_HCA:-mlx5}
export NCCL_SOCKET_IFNAME=${NCCL_SOCKET_IFNAME:-^lo,docker}
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}             # INFO: rings, trees and transports at start-up (hang hunting)
# UCX (Open MPI's point-to-point over InfiniBand)
export UCX_TLS=${UCX_TLS:-rc,sm,self}
export OMPI_MCA_pml=ucx
