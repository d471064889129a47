// SIGTERM and SIGUSR1 during training (Slurm's warning before the time limit, `scancel --signal`, a user's `kill`):
// the handler only records the signal; the trainer acts at the next step boundary, on every rank together (a
// checkpoint, then a clean stop).
#pragma once

namespace tessera {

class StopSignals {
 public:
  StopSignals();   // installs the handlers
  ~StopSignals();  // restores the previous ones
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  // The signal received since installation (SIGTERM or SIGUSR1), or 0.
  static int received();
};

// "SIGTERM", "SIGUSR1", ...
const char* signal_name(int signal);

}  // namespace tessera
