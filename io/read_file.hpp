// A whole file into a string, or a tessera::Error naming it.
#pragma once

#include <cstdint>
#include <string>

namespace tessera {

std::string read_file(const std::string& path);
// The same for a file that must be small (a manifest, a config, a pointer from a stranger): an error naming `what`
// if it is missing, unreadable or larger than max_bytes, before anything is read.
std::string read_small_file(const std::string& path, int64_t max_bytes, const char* what);

}  // namespace tessera
