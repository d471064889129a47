// Durable writes: a file or directory forced to disk, and small files replaced atomically (written under a
// temporary name, forced to disk, renamed over the old one, the directory forced too), so that a kill or a power
// cut at any moment leaves either the old file or the new one, never a mixture.
#pragma once

#include <string>

namespace tessera {

// fsync of a file or a directory. Throws tessera::Error naming the path.
void sync_path(const std::string& path);
// Replaces path with text atomically (see above). Throws tessera::Error naming the path; the old file is kept.
void write_file_atomic(const std::string& path, const std::string& text);

}  // namespace tessera
