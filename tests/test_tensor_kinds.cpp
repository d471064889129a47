// Behaviour follows a tensor's kind in the table (TensorKind), never its name: tensors renamed keep their
// initialisation, weight decay and vocabulary padding.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "model/init_params.hpp"
#include "model/transformer.hpp"
#include "optim/adamw.hpp"

namespace tessera {
namespace {

ModelConfig small(const std::string& family) {
  ModelConfig m;
  m.family = family;
  m.apply_family_defaults();
  m.vocab_size = 37;  // padded to 256 at tp = 2: rows 37..127 of tp rank 0's shard are padding
  m.max_seq_len = 8;
  m.n_layer = 2;
  m.n_head = 4;
  m.n_kv_head = family == "llama" ? 2 : 4;
  m.d_model = 16;
  m.d_ff = family == "llama" ? 24 : 0;
  m.finalize();
  return m;
}

// The same tensors, shapes, partitions and kinds under names that say nothing of what they are.
TensorTable renamed(const TensorTable& table) {
  TensorTable out;
  for (const TensorInfo& info : table.entries()) {
    const std::string name = fmt::format("t{}", info.global_index);
    if (info.split_dim < 0)
      out.add(name, info.shape, info.kind);
    else
      out.add_split(name, info.global_shape, info.split_dim, info.parts, info.shard, info.shards, info.kind);
  }
  return out;
}

double rms(const double* p, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += p[i] * p[i];
  return std::sqrt(s / static_cast<double>(n));
}

TEST(TensorKinds, ThePlannerGivesEachTensorItsKind) {
  for (const char* family : {"gpt2", "llama"}) {
    const TensorTable table = Transformer<double>::plan_table(small(family));
    for (const TensorInfo& t : table.entries()) {
      const bool is_norm = t.name.find("norm.") != std::string::npos;
      EXPECT_EQ(t.kind.norm, is_norm) << t.name;
      EXPECT_EQ(t.kind.embedding, t.name.starts_with("embed.")) << t.name;
      EXPECT_EQ(t.kind.vocab_rows, t.name == "embed.wte" || t.name == "head.weight") << t.name;
      EXPECT_EQ(t.kind.init == TensorInit::kZeros, t.name.ends_with(".bias")) << t.name;
      EXPECT_EQ(t.kind.init == TensorInit::kOnes, is_norm && t.name.ends_with(".weight")) << t.name;
      EXPECT_EQ(t.kind.init == TensorInit::kResidualNormal, t.name.ends_with("proj.weight")) << t.name;
    }
  }
}

TEST(TensorKinds, RenamedTensorsKeepTheirBehaviour) {
  for (const char* family : {"gpt2", "llama"}) {
    const ModelConfig m = small(family);
    const TensorTable table = Transformer<double>::plan_table(m, even_shard(0, 2));  // split tensors sliced too
    const TensorTable other = renamed(table);
    ASSERT_EQ(other.total(), table.total());

    // initialisation: ones, zeros, the residual projections' smaller scale and the padding rows by kind
    std::vector<double> a(static_cast<size_t>(table.total())), b(a.size());
    init_params(table, m, 11, a.data());
    init_params(other, m, 11, b.data());
    const double residual_std = m.init_std / std::sqrt(2.0 * m.n_layer);
    int padded = 0;
    for (int i = 0; i < table.size(); ++i) {
      const TensorInfo& t = other[i];
      ASSERT_EQ(t.offset, table[i].offset);
      const double* p = b.data() + t.offset;
      const std::string what = std::string(family) + " " + table[i].name + " as " + t.name;
      if (t.kind.init == TensorInit::kOnes || t.kind.init == TensorInit::kZeros) {
        const double want = t.kind.init == TensorInit::kOnes ? 1.0 : 0.0;
        for (int64_t j = 0; j < t.numel; ++j) ASSERT_EQ(p[j], want) << what;
        for (int64_t j = 0; j < t.numel; ++j) ASSERT_EQ(a[static_cast<size_t>(t.offset + j)], want) << what;
        continue;
      }
      const int64_t cols = t.numel / t.shape[0];
      int64_t real_rows = t.shape[0];
      if (t.kind.vocab_rows) {
        real_rows = std::max<int64_t>(0, std::min<int64_t>(t.shape[0], m.vocab_size - t.global_offset[0]));
        for (int64_t j = real_rows * cols; j < t.numel; ++j) ASSERT_EQ(p[j], 0.0) << what << ": a padding row";
        padded += real_rows < t.shape[0] ? 1 : 0;
      }
      const double want = t.kind.init == TensorInit::kResidualNormal ? residual_std : m.init_std;
      EXPECT_NEAR(rms(p, real_rows * cols), want, 0.3 * want) << what;
      EXPECT_NEAR(rms(a.data() + t.offset, real_rows * cols), want, 0.3 * want) << what;
    }
    EXPECT_GT(padded, 0) << family << ": no tensor of vocabulary rows was checked";

    // weight decay: embeddings exempt with decay_embeddings = false, whatever they are called
    for (const bool decay_embeddings : {false, true}) {
      AdamWConfig c;
      c.weight_decay = 0.5F;
      c.decay_embeddings = decay_embeddings;
      const AdamW by_name(table, c), by_kind(other, c);
      int embeddings = 0;
      for (int i = 0; i < table.size(); ++i) {
        EXPECT_EQ(by_kind.decay_of(other[i]), by_name.decay_of(table[i])) << table[i].name;
        if (other[i].kind.embedding && !decay_embeddings) {
          EXPECT_EQ(by_kind.decay_of(other[i]), 0.0F) << table[i].name;
        }
        embeddings += other[i].kind.embedding ? 1 : 0;
      }
      EXPECT_GT(embeddings, 0);
    }
  }
}

}  // namespace
}  // namespace tessera
