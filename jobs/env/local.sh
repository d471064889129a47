# Cluster settings for pretrain.sbatch and convert.sbatch: this machine (a workstation, CI's one-node Slurm).
# Sourced by the job scripts with $home set to the tessera checkout. Copy jobs/env/example-cluster.sh for a real one.

# Debian's Open MPI starts under srun through PMIx only (--mpi=pmi2 and --mpi=none fail)
export SLURM_MPI_TYPE=pmix
# root (containers, CI) may run MPI ranks
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# OpenBLAS's kernel for this CPU (Debian's 0.3.21 misdetects recent ones)
# shellcheck source=/dev/null
source "$home/jobs/blas-env.sh"
