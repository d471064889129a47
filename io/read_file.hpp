// A whole file into a string, or a tessera::Error naming it.
#pragma once

#include <string>

namespace tessera {

std::string read_file(const std::string& path);

}  // namespace tessera
