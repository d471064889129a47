// Helpers for training tests: a byte-level tinyshakespeare dataset (prepared once per process) and short runs.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "core/share_dir.hpp"
#include "io/prepare.hpp"
#include "train/trainer.hpp"

namespace tessera::testing {

// The copy beside the presets (the build tree's share/tessera links to data/; bench/gpu/pack.sh packs one).
inline std::string shakespeare_path() {
  return (std::filesystem::path(share_dir()) / "tinyshakespeare.txt").string();
}

// The dataset is built by rank 0 of `comm` into a directory named after the process group's first pid.
inline std::string byte_shakespeare(MPI_Comm comm = MPI_COMM_WORLD) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  long pid = getpid();
  MPI_Bcast(&pid, 1, MPI_LONG, 0, comm);
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("tessera-shakespeare-byte-" + std::to_string(pid))).string();
  if (rank == 0 && !std::filesystem::exists(dir)) {
    PrepareOptions o;
    o.inputs = {shakespeare_path()};
    o.output = dir;
    o.tokenizer = "byte";
    o.doc_boundary = "blank";
    o.val_fraction = 0.05;
    prepare_dataset(o);
  }
  MPI_Barrier(comm);
  return dir;
}

// Removes what byte_shakespeare built in this process (rank 0 of the world, at exit).
inline void remove_test_datasets() {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  long pid = getpid();
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0)
    std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                ("tessera-shakespeare-byte-" + std::to_string(pid)));
}

// ordered_p2p: the pipeline's messages as NCCL carries them (no tags: matched in the order the receives are posted).
// staged: the device traffic through the staged communicator, as ranks sharing a GPU run (comm_staged.hpp).
inline TrainResult train(const std::string& preset, const std::vector<std::string>& overrides, const Layout& layout,
                         MPI_Comm base = MPI_COMM_WORLD, bool ordered_p2p = false, bool staged = false) {
  RunConfig cfg = load_run_config(preset, overrides);
  cfg.log.peak_flops = 1e9;  // no sgemm calibration in tests
  ParallelState ps = ParallelState::create(layout, base);
  ps.pp.set_ordered_p2p(ordered_p2p);
  ps.stage_device_traffic = staged;
  Trainer trainer(std::move(cfg), ps);
  return trainer.run();
}

}  // namespace tessera::testing
