// The `tessera` verbs. Each adds its subcommand, flags and callback to the app; callbacks throw tessera::Error on
// bad input, which main turns into one line and a non-zero exit.
#pragma once

#include <CLI/CLI.hpp>

#include "parallel/parallel_state.hpp"

namespace tessera::cli {

void add_train(CLI::App& app, const MpiRuntime& mpi);
void add_generate(CLI::App& app, const MpiRuntime& mpi);
void add_eval(CLI::App& app, const MpiRuntime& mpi);
void add_prepare(CLI::App& app, const MpiRuntime& mpi);
void add_train_tokenizer(CLI::App& app, const MpiRuntime& mpi);
void add_info(CLI::App& app, const MpiRuntime& mpi);

// TOML basic string for a --set value: quotes and escapes.
std::string toml_quote(const std::string& s);

}  // namespace tessera::cli
