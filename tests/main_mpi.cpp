// GoogleTest main for tests that need MPI (run alone or under mpirun). Only rank 0 prints results.
#include <gtest/gtest.h>

#include "parallel/parallel_state.hpp"
#include "training_fixture.hpp"

int main(int argc, char** argv) {
  tessera::MpiRuntime mpi(&argc, &argv);
  ::testing::InitGoogleTest(&argc, argv);
  if (mpi.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  const int failed = RUN_ALL_TESTS();
  tessera::testing::remove_test_datasets();
  int any = failed;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any;
}
