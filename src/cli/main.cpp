// tessera: one binary, one verb per job (train-tokenizer, prepare, train, generate, eval, info).
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/check.hpp"

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): every exception is caught below
  tessera::MpiRuntime mpi(&argc, &argv);
  CLI::App app{"tessera: pretrain transformer language models (GPT-2 and LLaMA families) on CPUs and GPUs"};
  try {
    app.require_subcommand(1);
    app.set_version_flag("--version", "tessera 0.1.0");
    tessera::cli::add_train_tokenizer(app, mpi);
    tessera::cli::add_prepare(app, mpi);
    tessera::cli::add_train(app, mpi);
    tessera::cli::add_generate(app, mpi);
    tessera::cli::add_eval(app, mpi);
    tessera::cli::add_info(app, mpi);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = 0;
    if (mpi.rank() == 0) {
      code = app.exit(e);
    } else {
      code = e.get_exit_code();
    }
    return code;
  } catch (const tessera::Error& e) {
    if (mpi.size() > 1) {
      std::fprintf(stderr, "[rank %d] error: %s\n", mpi.rank(), e.what());
      std::fflush(stderr);
      mpi.abort(1);
    }
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {  // e.g. a filesystem error: still one line
    std::fprintf(stderr, "%serror: %s\n", mpi.size() > 1 ? fmt::format("[rank {}] ", mpi.rank()).c_str() : "",
                 e.what());
    std::fflush(stderr);
    mpi.abort(1);
  }
  return 0;
}
