// Errors that one rank meets and every rank must act on (a damaged checkpoint shard read by one rank, a save that
// failed on one disk): the ranks of a group learn of the failure together and all throw, so none waits forever in
// the next collective and the job ends with one clear line instead of MPI_Abort.
#pragma once

#include <functional>
#include <string>

#include "parallel/process_group.hpp"

namespace tessera {

// Runs f on every rank of the group, then agrees (one all-reduce) on whether any rank threw tessera::Error. If one
// did, every rank throws AgreedError: the lowest failing rank with its message to report ("[rank R] " prefixed on a
// rank other than 0), the others quietly. Collective over the group.
void agree_on_error(const ProcessGroup& group, const std::function<void()>& f);

// The same, for a failure already caught: `message` empty where this rank succeeded.
void agree_on_error(const ProcessGroup& group, const std::string& message);

}  // namespace tessera
