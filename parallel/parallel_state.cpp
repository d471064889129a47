#include "parallel/parallel_state.hpp"

#include <cstdlib>

#include "core/check.hpp"

namespace tessera {

ParallelState ParallelState::create(const Layout& layout, MPI_Comm base) {
  ProcessGroup world = ProcessGroup::borrow(base);
  if (layout.tp < 1 || layout.pp < 1 || layout.dp < 1)
    TESSERA_RAISE("parallel: tp, pp and dp must be at least 1 (got tp={} pp={} dp={})", layout.tp, layout.pp,
                  layout.dp);
  if (layout.world() != world.size())
    TESSERA_RAISE("parallel: tp * pp * dp = {} * {} * {} = {} does not match the {} MPI ranks of this job", layout.tp,
                  layout.pp, layout.dp, layout.world(), world.size());
  const int r = world.rank();
  ProcessGroup tp = ProcessGroup::split(world, tp_group_ranks(r, layout));
  ProcessGroup pp = ProcessGroup::split(world, pp_group_ranks(r, layout));
  ProcessGroup dp = ProcessGroup::split(world, dp_group_ranks(r, layout));
  ProcessGroup embedding = ProcessGroup::split(world, embedding_group_ranks(r, layout));
  return ParallelState{layout,        coord_of(r, layout), std::move(world),    std::move(tp),
                       std::move(pp), std::move(dp),       std::move(embedding)};
}

int job_ranks_on_this_node() {
  return ProcessGroup::node_local(ProcessGroup::borrow(MPI_COMM_WORLD)).size();
}

namespace {
void abort_world() {
  MPI_Abort(MPI_COMM_WORLD, 1);
}
}  // namespace

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  set_abort_hook({rank_, size_ > 1 ? &abort_world : nullptr});
}

MpiRuntime::~MpiRuntime() {
  set_abort_hook({});
  MPI_Finalize();
}

void MpiRuntime::abort(int code) const {
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
  MPI_Finalize();
  std::exit(code);
}

}  // namespace tessera
