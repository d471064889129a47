// The rank grid: how a world of tp * pp * dp ranks is laid out, as a pure function testable without MPI.
//
//   rank = tp_rank + tp * (dp_rank + dp * pp_rank)
//
// Tensor parallel is fastest, so the tp peers of a rank are neighbours (one node); pipeline stages are slowest.
#pragma once

#include <vector>

namespace tessera {

struct Layout {
  int tp = 1;
  int pp = 1;
  int dp = 1;
  int world() const { return tp * pp * dp; }
};

struct Coord {
  int tp_rank = 0;
  int pp_rank = 0;
  int dp_rank = 0;
};

int rank_of(const Coord& c, const Layout& layout);
Coord coord_of(int rank, const Layout& layout);

// World ranks of the group along one axis that contains `rank`, in order of their rank along that axis.
std::vector<int> tp_group_ranks(int rank, const Layout& layout);
std::vector<int> pp_group_ranks(int rank, const Layout& layout);
std::vector<int> dp_group_ranks(int rank, const Layout& layout);
// The first and the last pipeline stage of `rank`'s (tp, dp) coordinates, which hold the tied embedding and its
// copy; {rank} for a rank between them, or when pp = 1.
std::vector<int> embedding_group_ranks(int rank, const Layout& layout);

}  // namespace tessera
