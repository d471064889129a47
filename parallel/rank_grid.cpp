#include "parallel/rank_grid.hpp"

#include "core/check.hpp"

namespace tessera {

int rank_of(const Coord& c, const Layout& layout) {
  TESSERA_CHECK(c.tp_rank >= 0 && c.tp_rank < layout.tp && c.pp_rank >= 0 && c.pp_rank < layout.pp && c.dp_rank >= 0 &&
                    c.dp_rank < layout.dp,
                "coordinate (tp {}, pp {}, dp {}) outside the layout", c.tp_rank, c.pp_rank, c.dp_rank);
  return c.tp_rank + layout.tp * (c.dp_rank + layout.dp * c.pp_rank);
}

Coord coord_of(int rank, const Layout& layout) {
  TESSERA_CHECK(rank >= 0 && rank < layout.world(), "rank {} outside a world of {}", rank, layout.world());
  Coord c;
  c.tp_rank = rank % layout.tp;
  c.dp_rank = (rank / layout.tp) % layout.dp;
  c.pp_rank = rank / (layout.tp * layout.dp);
  return c;
}

namespace {
// The ranks that share every coordinate of `rank` but the one named by `axis`, in order along that axis.
std::vector<int> group_along(int rank, const Layout& layout, int Coord::*axis, int size) {
  Coord c = coord_of(rank, layout);
  std::vector<int> ranks;
  for (c.*axis = 0; c.*axis < size; ++(c.*axis)) ranks.push_back(rank_of(c, layout));
  return ranks;
}
}  // namespace

std::vector<int> tp_group_ranks(int rank, const Layout& layout) {
  return group_along(rank, layout, &Coord::tp_rank, layout.tp);
}

std::vector<int> pp_group_ranks(int rank, const Layout& layout) {
  return group_along(rank, layout, &Coord::pp_rank, layout.pp);
}

std::vector<int> dp_group_ranks(int rank, const Layout& layout) {
  return group_along(rank, layout, &Coord::dp_rank, layout.dp);
}

std::vector<int> embedding_group_ranks(int rank, const Layout& layout) {
  const Coord c = coord_of(rank, layout);
  if (layout.pp == 1 || (c.pp_rank != 0 && c.pp_rank != layout.pp - 1)) return {rank};
  Coord first = c, last = c;
  first.pp_rank = 0;
  last.pp_rank = layout.pp - 1;
  return {rank_of(first, layout), rank_of(last, layout)};
}

}  // namespace tessera
