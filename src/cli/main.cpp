// tessera: one binary, one verb per job (train-tokenizer, prepare, train, generate, eval, convert, info).
//
// Exit codes: 0 done; 1 an error (bad input found while working, or a failure mid-run); 2 a usage error (the
// command line, the config or the files they name are wrong: caught before any work, printed once per job).
#include <cstdio>

#include <fmt/format.h>

#include "backend/backend.hpp"
#include "cli/commands.hpp"
#include "core/blas.hpp"
#include "core/check.hpp"
#include "core/version.hpp"

namespace {

void print_version() {
  fmt::print("tessera {} (commit {})\n", tessera::version(), tessera::git_commit());
  fmt::print("  build    {}, -march={}\n", tessera::build_type(), tessera::build_arch());
  fmt::print("  BLAS     {} | kernel {}\n", tessera::blas_config(), tessera::blas_core_name());
  if (!tessera::cuda_compiled()) {
    fmt::print("  CUDA     off\n");
  } else if (const int gpus = tessera::cuda_device_count(); gpus > 0) {
    fmt::print("  CUDA     on: {} GPU{} visible\n", gpus, gpus == 1 ? "" : "s");
  } else {
    fmt::print("  CUDA     on: no GPU ({})\n", tessera::cuda_unavailable_reason());
  }
}

}  // namespace

int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape): every exception is caught below
#if defined(__x86_64__) && defined(__AVX2__)
  // a binary built for AVX2 on a CPU without it would die with SIGILL somewhere later: say so now
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::fprintf(stderr,
                 "error: this tessera was built for AVX2 and FMA (x86-64-v3), which this CPU lacks; rebuild "
                 "with -DTESSERA_ARCH=x86-64 or -DTESSERA_NATIVE=ON\n");
    return 1;
  }
#endif
  tessera::MpiRuntime mpi(&argc, &argv);
  CLI::App app{"tessera: pretrain transformer language models (GPT-2 and LLaMA families) on CPUs and GPUs"};
  app.option_defaults()->always_capture_default();  // --help shows every default
  try {
    app.require_subcommand(1);
    app.add_flag_callback(
        "--version",
        [] {
          print_version();
          throw CLI::Success();
        },
        "Print the version, git commit, build type, BLAS and its kernel, and exit");
    tessera::cli::add_train_tokenizer(app, mpi);
    tessera::cli::add_prepare(app, mpi);
    tessera::cli::add_train(app, mpi);
    tessera::cli::add_generate(app, mpi);
    tessera::cli::add_eval(app, mpi);
    tessera::cli::add_convert(app, mpi);
    tessera::cli::add_info(app, mpi);
    tessera::cli::add_plan(app, mpi);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end here with success; a malformed command line is a usage error (exit 2)
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      if (mpi.rank() == 0) app.exit(e);
      return 0;
    }
    if (mpi.rank() == 0) std::fprintf(stderr, "error: %s (see %s --help)\n", e.what(), argv[0]);
    return 2;
  } catch (const tessera::cli::Exit& e) {  // already reported on one rank
    return e.code;
  } catch (const tessera::AgreedError& e) {  // every rank has it: one prints, all exit
    if (e.report()) {
      std::fprintf(stderr, "%serror: %s\n", mpi.rank() > 0 ? fmt::format("[rank {}] ", mpi.rank()).c_str() : "",
                   e.what());
      std::fflush(stderr);
    }
    return 1;
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
