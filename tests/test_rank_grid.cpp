// The rank grid as a pure function: every world size and layout, no MPI needed.
#include <gtest/gtest.h>

#include <set>

#include "parallel/rank_grid.hpp"

namespace tessera {
namespace {

TEST(RankGrid, TensorParallelIsFastest) {
  const Layout l{2, 2, 3};  // tp 2, pp 2, dp 3: 12 ranks
  EXPECT_EQ(rank_of({1, 0, 0}, l), 1);
  EXPECT_EQ(rank_of({0, 0, 1}, l), 2);
  EXPECT_EQ(rank_of({0, 1, 0}, l), 6);
  EXPECT_EQ(tp_group_ranks(5, l), (std::vector<int>{4, 5}));
  EXPECT_EQ(dp_group_ranks(1, l), (std::vector<int>{1, 3, 5}));
  EXPECT_EQ(pp_group_ranks(3, l), (std::vector<int>{3, 9}));
}

TEST(RankGrid, EveryLayoutIsABijection) {
  for (int tp : {1, 2, 4})
    for (int pp : {1, 2, 3})
      for (int dp : {1, 2, 5}) {
        const Layout l{tp, pp, dp};
        std::set<int> seen;
        for (int r = 0; r < l.world(); ++r) {
          const Coord c = coord_of(r, l);
          EXPECT_EQ(rank_of(c, l), r);
          seen.insert(r);
          // each group holds the rank itself and has the axis' size
          EXPECT_EQ(static_cast<int>(tp_group_ranks(r, l).size()), tp);
          EXPECT_EQ(static_cast<int>(pp_group_ranks(r, l).size()), pp);
          EXPECT_EQ(static_cast<int>(dp_group_ranks(r, l).size()), dp);
          EXPECT_EQ(dp_group_ranks(r, l)[static_cast<size_t>(c.dp_rank)], r);
        }
        EXPECT_EQ(static_cast<int>(seen.size()), l.world());
      }
}

}  // namespace
}  // namespace tessera
