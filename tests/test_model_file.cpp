// model.h5: weights round-trip exactly; a damaged or mismatched file is refused, naming the tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/check.hpp"
#include "io/model_file.hpp"
#include "model/transformer.hpp"
#include "temp_dir.hpp"

namespace tessera {
namespace {

using testing::TempDir;

ModelConfig tiny(int layers) {
  ModelConfig m;
  m.vocab_size = 300;
  m.max_seq_len = 8;
  m.n_layer = layers;
  m.n_head = 2;
  m.d_model = 8;
  return m;
}

std::string error_of(const std::string& path, const Transformer<float>& model) {
  std::vector<float> params(static_cast<size_t>(model.flat_size()));
  try {
    load_model(path, model.table(), params.data());
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ModelFile, WeightsRoundTripAndDamageIsRefused) {
  const TempDir dir;
  Transformer<float> model(tiny(2), 1);
  model.init_weights(7);
  const std::string path = dir / "model.h5";
  save_model(path, model.table(), model.params(), {});
  std::vector<float> back(static_cast<size_t>(model.flat_size()), 0.0F);
  load_model(path, model.table(), back.data());
  for (const TensorInfo& t : model.table().entries())
    for (int64_t i = 0; i < t.numel; ++i)
      ASSERT_EQ(back[static_cast<size_t>(t.offset + i)], model.params()[t.offset + i]);

  // a non-finite weight: refused, naming the tensor
  const int fc = model.table().find("layers.1.mlp.fc.weight");
  model.params()[model.table()[fc].offset + 5] = std::numeric_limits<float>::quiet_NaN();
  save_model(path, model.table(), model.params(), {});
  EXPECT_NE(error_of(path, model).find("tensor layers.1.mlp.fc.weight holds a non-finite weight"), std::string::npos);
  model.params()[model.table()[fc].offset + 5] = std::numeric_limits<float>::infinity();
  save_model(path, model.table(), model.params(), {});
  EXPECT_NE(error_of(path, model).find("non-finite weight (inf"), std::string::npos);

  // a file of two layers read as a model of one: the extra tensors are not ignored
  model.init_weights(7);
  save_model(path, model.table(), model.params(), {});
  const Transformer<float> one(tiny(1), 1);
  EXPECT_NE(error_of(path, one).find("holds 28 tensors, but its config describes a model of 16"), std::string::npos)
      << error_of(path, one);
  // and a model of three: the missing layer is named
  const Transformer<float> three(tiny(3), 1);
  EXPECT_NE(error_of(path, three).find("tensor layers.2.attn_norm.weight is missing"), std::string::npos);
}

}  // namespace
}  // namespace tessera
