// The rank grid, the layer split and the pipeline schedules as pure functions: every world size and layout, no MPI
// needed.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/check.hpp"
#include "model/model_shard.hpp"
#include "parallel/pipeline_schedules.hpp"
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

// Large worlds: every rank of a 4096-rank job of many layouts lands in exactly one group per axis, and the groups of
// each axis partition the world.
TEST(RankGrid, LargeWorldsPartitionIntoGroups) {
  const int world = 4096;
  for (const int tp : {1, 2, 4, 8})
    for (const int pp : {1, 2, 4, 8, 16, 32}) {
      const int dp = world / (tp * pp);
      const Layout l{tp, pp, dp};
      ASSERT_EQ(l.world(), world);
      std::vector<int> tp_groups(world, -1), pp_groups(world, -1), dp_groups(world, -1);
      for (int r = 0; r < world; ++r) {
        const Coord c = coord_of(r, l);
        ASSERT_EQ(rank_of(c, l), r);
        // a group is named by its first rank; every member of it names the same first rank
        for (auto [groups, ranks] :
             {std::pair{&tp_groups, tp_group_ranks(r, l)}, std::pair{&pp_groups, pp_group_ranks(r, l)},
              std::pair{&dp_groups, dp_group_ranks(r, l)}}) {
          ASSERT_NE(std::find(ranks.begin(), ranks.end(), r), ranks.end());
          for (const int q : ranks) {
            if ((*groups)[static_cast<size_t>(q)] < 0) (*groups)[static_cast<size_t>(q)] = ranks.front();
            ASSERT_EQ((*groups)[static_cast<size_t>(q)], ranks.front()) << "tp " << tp << " pp " << pp;
          }
        }
        // tensor-parallel peers are neighbours (one node)
        const std::vector<int> t = tp_group_ranks(r, l);
        EXPECT_EQ(t.back() - t.front(), tp - 1);
        // the embedding group joins the first and last stage of the same (tp, dp) coordinates
        const std::vector<int> e = embedding_group_ranks(r, l);
        if (pp > 1 && (c.pp_rank == 0 || c.pp_rank == pp - 1)) {
          ASSERT_EQ(e.size(), 2U);
          EXPECT_EQ(coord_of(e[0], l).pp_rank, 0);
          EXPECT_EQ(coord_of(e[1], l).pp_rank, pp - 1);
          EXPECT_EQ(coord_of(e[1], l).tp_rank, c.tp_rank);
          EXPECT_EQ(coord_of(e[1], l).dp_rank, c.dp_rank);
        } else {
          EXPECT_EQ(e, std::vector<int>{r});
        }
      }
    }
}

TEST(LayerSplit, EvenByDefaultUnevenWhenAskedRefusedWhenWrong) {
  EXPECT_EQ(chunk_layers(12, 4, 1, {}), (std::vector<int>{3, 3, 3, 3}));
  EXPECT_EQ(chunk_layers(12, 2, 3, {}), (std::vector<int>(6, 2)));
  EXPECT_EQ(chunk_layers(10, 2, 1, {7, 3}), (std::vector<int>{7, 3}));
  EXPECT_THROW(chunk_layers(10, 4, 1, {}), Error);         // does not divide
  EXPECT_THROW(chunk_layers(10, 2, 1, {6, 3}), Error);     // does not add up
  EXPECT_THROW(chunk_layers(10, 2, 1, {10, 0}), Error);    // an empty stage
  EXPECT_THROW(chunk_layers(10, 2, 1, {5, 3, 2}), Error);  // three stages for two
  ModelConfig m;
  m.n_layer = 8;
  ModelShard s;
  s.pp = 2;
  s.virtual_stages = 2;
  s.pp_rank = 1;  // holds chunks 1 and 3 of 4: layers 2-3 and 6-7, the last one with the head
  const std::vector<ChunkRange> chunks = rank_chunks(m, s);
  ASSERT_EQ(chunks.size(), 2U);
  EXPECT_EQ(chunks[0].index, 1);
  EXPECT_EQ(chunks[0].first_layer, 2);
  EXPECT_FALSE(chunks[0].embedding || chunks[0].head);
  EXPECT_EQ(chunks[1].index, 3);
  EXPECT_EQ(chunks[1].first_layer, 6);
  EXPECT_TRUE(chunks[1].head);
}

// Every schedule runs each (chunk, micro-batch) forward once and backward once, the backward after the forward and,
// per chunk, the backwards in micro-batch order (so gradients accumulate alike under every schedule); and a whole
// pipeline of them, simulated, never waits forever.
void check_order(const PipelineOrder& order, int m, int v, const std::string& what) {
  std::vector<int> forwards(static_cast<size_t>(m * v), 0), backwards(static_cast<size_t>(m * v), 0);
  std::vector<int> next_backward(static_cast<size_t>(v), 0);
  for (const PipelineAction& a : order) {
    const auto i = static_cast<size_t>(a.chunk * m + a.micro_batch);
    if (a.forward) {
      ++forwards[i];
    } else {
      EXPECT_EQ(forwards[i], 1) << what << ": backward before forward";
      ++backwards[i];
      EXPECT_EQ(a.micro_batch, next_backward[static_cast<size_t>(a.chunk)]++) << what << ": backward order";
    }
  }
  EXPECT_EQ(forwards, std::vector<int>(static_cast<size_t>(m * v), 1)) << what;
  EXPECT_EQ(backwards, std::vector<int>(static_cast<size_t>(m * v), 1)) << what;
}

// Runs every rank's order against the others: an action waits for its input (the previous chunk's forward, the
// next chunk's backward); sends never wait (as in parallel/pipeline.cpp). Returns false on a deadlock; counts the
// time units in which some rank worked (each action one unit).
bool simulate(const std::vector<PipelineOrder>& orders, int pp, int v, int m, int* time_steps) {
  const int chunks = pp * v;
  std::vector<std::vector<int>> f_done(static_cast<size_t>(chunks), std::vector<int>(static_cast<size_t>(m), -1));
  auto b_done = f_done;
  std::vector<size_t> next(static_cast<size_t>(pp), 0);
  int t = 0;
  for (bool progress = true; progress;) {
    progress = false;
    std::vector<std::pair<int, PipelineAction>> ran;
    for (int r = 0; r < pp; ++r) {
      if (next[static_cast<size_t>(r)] == orders[static_cast<size_t>(r)].size()) continue;
      const PipelineAction& a = orders[static_cast<size_t>(r)][next[static_cast<size_t>(r)]];
      const int k = a.chunk * pp + r;
      const auto mb = static_cast<size_t>(a.micro_batch);
      const bool ready =
          a.forward
              ? (k == 0 || (f_done[static_cast<size_t>(k - 1)][mb] >= 0 && f_done[static_cast<size_t>(k - 1)][mb] < t))
              : (f_done[static_cast<size_t>(k)][mb] >= 0 &&
                 (k == chunks - 1 ||
                  (b_done[static_cast<size_t>(k + 1)][mb] >= 0 && b_done[static_cast<size_t>(k + 1)][mb] < t)));
      if (!ready) continue;
      ran.emplace_back(k, a);
      ++next[static_cast<size_t>(r)];
      progress = true;
    }
    for (const auto& [k, a] : ran) (a.forward ? f_done : b_done)[static_cast<size_t>(k)][a.micro_batch] = t;
    ++t;
  }
  *time_steps = t - 1;
  for (int r = 0; r < pp; ++r)
    if (next[static_cast<size_t>(r)] != orders[static_cast<size_t>(r)].size()) return false;
  return true;
}

TEST(PipelineSchedules, EveryScheduleIsCompleteOrderedAndDeadlockFree) {
  for (const int pp : {2, 3, 4, 8})
    for (const int m : {1, 2, 4, 8, 16})
      for (const int v : {1, 2, 3}) {
        for (const PipelineSchedule s :
             {PipelineSchedule::kAllForwardAllBackward, PipelineSchedule::kOneFOneB, PipelineSchedule::kInterleaved}) {
          if ((s == PipelineSchedule::kOneFOneB) != (v == 1) && s != PipelineSchedule::kAllForwardAllBackward) continue;
          if (s == PipelineSchedule::kInterleaved && m % pp != 0) continue;
          const std::string what = fmt::format("schedule {} pp {} m {} v {}", static_cast<int>(s), pp, m, v);
          std::vector<PipelineOrder> orders;
          for (int r = 0; r < pp; ++r) {
            orders.push_back(pipeline_order(s, pp, r, m, v));
            check_order(orders.back(), m, v, what + fmt::format(" rank {}", r));
          }
          int steps = 0;
          EXPECT_TRUE(simulate(orders, pp, v, m, &steps)) << what << ": deadlock";
          if (s == PipelineSchedule::kOneFOneB) {
            // 1F1B keeps at most pp - rank micro-batches in flight; its ideal time is 2 (m + pp - 1) units
            for (int r = 0; r < pp; ++r)
              EXPECT_EQ(pipeline_slots(orders[static_cast<size_t>(r)], 1)[0], std::min(m, pp - r)) << what;
            EXPECT_EQ(steps, 2 * (m + pp - 1)) << what;
          }
          if (s == PipelineSchedule::kAllForwardAllBackward) {
            EXPECT_EQ(pipeline_slots(orders[0], v), std::vector<int>(static_cast<size_t>(v), m)) << what;
          }
        }
      }
}

// The messages a rank receives (receive_order): each input and output gradient of its chunks once, and those from
// each peer in the order that peer's schedule sends them, so that messages without tags (NCCL) match. The
// interleaved schedule consumes them in another order, which is why the order of posting matters.
TEST(PipelineSchedules, ReceivesArePostedInTheOrderPeersSend) {
  bool consumed_in_another_order = false;
  for (const int pp : {2, 3, 4, 8})
    for (const int m : {1, 2, 4, 8, 16})
      for (const int v : {1, 2, 3})
        for (const PipelineSchedule s :
             {PipelineSchedule::kAllForwardAllBackward, PipelineSchedule::kOneFOneB, PipelineSchedule::kInterleaved}) {
          if ((s == PipelineSchedule::kOneFOneB) != (v == 1) && s != PipelineSchedule::kAllForwardAllBackward) continue;
          if (s == PipelineSchedule::kInterleaved && m % pp != 0) continue;
          const int chunks = pp * v;
          for (int b = 0; b < pp; ++b) {
            const std::string what =
                fmt::format("schedule {} pp {} m {} v {} rank {}", static_cast<int>(s), pp, m, v, b);
            const std::vector<PipelineMessage> got = receive_order(s, pp, b, m, v);
            auto key = [](const PipelineMessage& x) { return std::tuple(x.forward, x.chunk, x.micro_batch); };
            std::set<std::tuple<bool, int, int>> want, seen;
            for (int c = 0; c < v; ++c)
              for (int i = 0; i < m; ++i) {
                if (c * pp + b > 0) want.insert({true, c, i});
                if (c * pp + b < chunks - 1) want.insert({false, c, i});
              }
            for (const PipelineMessage& x : got) EXPECT_TRUE(seen.insert(key(x)).second) << what << ": twice";
            EXPECT_EQ(seen, want) << what;
            // per sender: the rank a message comes from is the chunk before (forward) or after (backward)
            for (const int q : {(b + pp - 1) % pp, (b + 1) % pp}) {
              std::vector<PipelineMessage> from_q, sent_by_q;
              for (const PipelineMessage& x : got) {
                const int g = x.chunk * pp + b;
                if ((x.forward ? g - 1 : g + 1) % pp == q) from_q.push_back(x);
              }
              for (const PipelineAction& a : pipeline_order(s, pp, q, m, v)) {
                const int to = a.chunk * pp + q + (a.forward ? 1 : -1);
                if (to >= 0 && to < chunks && to % pp == b) sent_by_q.push_back({a.forward, to / pp, a.micro_batch});
              }
              EXPECT_EQ(from_q, sent_by_q) << what << " from rank " << q;
            }
            std::vector<PipelineMessage> consumed;  // the order the rank's actions wait for them
            for (const PipelineAction& a : pipeline_order(s, pp, b, m, v)) {
              const int g = a.chunk * pp + b;
              if (a.forward ? g > 0 : g < chunks - 1) consumed.push_back({a.forward, a.chunk, a.micro_batch});
            }
            if (s == PipelineSchedule::kInterleaved && consumed != got) consumed_in_another_order = true;
          }
        }
  EXPECT_TRUE(consumed_in_another_order);
}

TEST(PipelineSchedules, OneFOneBIsPhased) {
  // pp 4, rank 1, m 5: two warm-up forwards, three forward-backward pairs, two cool-down backwards
  const PipelineOrder o = one_f_one_b(4, 1, 5);
  const PipelineOrder want = {{true, 0, 0},  {true, 0, 1}, {true, 0, 2},  {false, 0, 0}, {true, 0, 3},
                              {false, 0, 1}, {true, 0, 4}, {false, 0, 2}, {false, 0, 3}, {false, 0, 4}};
  EXPECT_EQ(o, want);
  EXPECT_DOUBLE_EQ(pipeline_bubble(4, 8, 1), 3.0 / 11.0);
  EXPECT_DOUBLE_EQ(pipeline_bubble(4, 8, 2), 3.0 / 19.0);
}

}  // namespace
}  // namespace tessera
