// Embeds tessera from its installed package: a preset, the installed GPT-2 vocabulary, one forward and backward.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "config/run_config.hpp"
#include "io/tokenizer.hpp"
#include "model/transformer.hpp"

int main() {
  const std::string share = TESSERA_SHARE;
  tessera::RunConfig cfg = tessera::load_run_config(share + "/configs/tiny-gpt2.toml", {});
  const auto tok = tessera::make_tokenizer("gpt2", share + "/gpt2");
  std::vector<int32_t> ids = tok->encode("ROMEO: what light through yonder window breaks?");
  cfg.model.vocab_size = tok->vocab_size();
  tessera::Transformer<float> model(cfg.model, 1);
  model.init_weights(1234);
  std::vector<int32_t> targets(ids.begin() + 1, ids.end());
  targets.push_back(-1);
  const int n = static_cast<int>(ids.size());
  model.zero_grads();
  const double loss = model.forward_backward(ids.data(), targets.data(), 1, n, 1.0F / static_cast<float>(n - 1)) /
                      static_cast<double>(n - 1);
  std::printf("consumer: %d tokens, %lld parameters, loss %.4f\n", n, static_cast<long long>(model.table().count()),
              loss);
  return std::isfinite(loss) && std::abs(loss - std::log(tok->vocab_size())) < 1.0 ? 0 : 1;
}
