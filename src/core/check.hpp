// Errors and invariants.
//
// Two kinds of failure, kept apart:
//  - tessera::Error (TESSERA_RAISE): bad input the user can fix (a missing file, a malformed config, a corrupt
//    dataset). Thrown at library boundaries; the CLI turns it into one clear line and a non-zero exit.
//  - TESSERA_CHECK: an invariant of the program. Always checked (not only in debug builds); on failure it prints
//    the rank, file, line and message and aborts the whole job (MPI_Abort once parallel/ has installed its hook).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace tessera {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An error that every rank of a group has learnt of together (parallel/agreement.hpp): thrown on all of them, to be
// printed by one (report()) while the others exit quietly, with no rank left waiting and no MPI_Abort.
class AgreedError : public Error {
 public:
  AgreedError(const std::string& message, bool report) : Error(message), report_(report) {}
  bool report() const { return report_; }

 private:
  bool report_;
};

// Prints "[rank R] file:line: check failed: message" and aborts the job. Never returns.
[[noreturn]] void check_failed(const char* file, int line, const std::string& message);

// How a failed check ends the job. parallel/ installs one that calls MPI_Abort and names the rank.
struct AbortHook {
  int rank = -1;              // -1: not known (no MPI)
  void (*abort)() = nullptr;  // nullptr: std::abort
};
void set_abort_hook(AbortHook hook);

}  // namespace tessera

// Throws tessera::Error with a formatted message (a macro, so that every tool sees the throw).
#define TESSERA_RAISE(...) throw ::tessera::Error(fmt::format(__VA_ARGS__))

#define TESSERA_CHECK(cond, ...)                                                                           \
  do {                                                                                                     \
    if (!(cond)) [[unlikely]]                                                                              \
      ::tessera::check_failed(__FILE__, __LINE__, "check failed: " #cond ": " + fmt::format(__VA_ARGS__)); \
  } while (0)

namespace tessera {

// a / b for sizes, checked to divide exactly: sizes never round silently.
inline int64_t divide(int64_t a, int64_t b, const char* what = "size") {
  if (b == 0) TESSERA_RAISE("{}: division by zero", what);
  if (a % b != 0) TESSERA_RAISE("{}: {} is not divisible by {}", what, a, b);
  return a / b;
}

}  // namespace tessera
