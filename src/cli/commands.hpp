// The `tessera` verbs. Each adds its subcommand, flags and callback to the app; callbacks throw tessera::Error on
// bad input, which main turns into one line and a non-zero exit.
#pragma once

#include <cmath>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "parallel/parallel_state.hpp"

namespace tessera::cli {

void add_train(CLI::App& app, const MpiRuntime& mpi);
void add_generate(CLI::App& app, const MpiRuntime& mpi);
void add_eval(CLI::App& app, const MpiRuntime& mpi);
void add_prepare(CLI::App& app, const MpiRuntime& mpi);
void add_train_tokenizer(CLI::App& app, const MpiRuntime& mpi);
void add_info(CLI::App& app, const MpiRuntime& mpi);
void add_convert(CLI::App& app, const MpiRuntime& mpi);
void add_plan(CLI::App& app, const MpiRuntime& mpi);

// A number that is finite and not negative (CLI11's NonNegativeNumber lets NaN through).
inline CLI::Validator non_negative_finite() {
  return CLI::Validator(
      [](const std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v) || v < 0)
          return "must be a finite number, 0 or more; got " + text;
        return "";
      },
      "NONNEGATIVE");
}

// A whole number of at least `min` (CLI11's PositiveNumber prints DBL_MAX in full when refusing).
inline CLI::Validator whole_at_least(int64_t min) {
  return CLI::Validator(
      [min](const std::string& text) -> std::string {
        int64_t v = 0;
        if (!CLI::detail::lexical_cast(text, v) || v < min)
          return "must be a whole number of " + std::to_string(min) + " or more; got " + text;
        return "";
      },
      min > 0 ? "POSITIVE" : "NONNEGATIVE");
}

// What every verb that reads a model accepts (open_weights): the help text of its path.
constexpr const char* kModelPathHelp =
    "A run directory (its latest checkpoint), a checkpoint directory or a Hugging Face directory";

// -m,--model PATH, required: the model a verb reads.
inline CLI::Option* add_model_option(CLI::App* cmd, std::string& model) {
  return cmd->add_option("-m,--model", model, kModelPathHelp)->required();
}

// --device: where a verb that runs a model runs it, as train.device ("auto": cuda when a GPU is visible).
inline CLI::Option* add_device_option(CLI::App* cmd, std::string& device) {
  return cmd->add_option("--device", device, "Where the model runs: auto (cuda when a GPU is visible), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
}

// TOML basic string for a --set value: quotes and escapes.
std::string toml_quote(const std::string& s);

// Thrown once an error has been reported: main returns `code` on this rank (MPI finalised, no abort).
struct Exit {
  int code;
};

// Runs `setup` on every rank of the job: checks of the command line, the config and the layout, which need no
// communication and so give the same answer on every rank. If any rank throws tessera::Error, the lowest such rank
// prints it (one line) and every rank throws Exit{2}: no MPI_Abort banner, no rank left waiting. Collective over
// MPI_COMM_WORLD.
void agree_on_setup(const MpiRuntime& mpi, const std::function<void()>& setup);

}  // namespace tessera::cli
