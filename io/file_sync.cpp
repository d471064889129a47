#include "io/file_sync.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/check.hpp"

namespace tessera {

void sync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) TESSERA_RAISE("{}: cannot open to sync ({})", path, std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) TESSERA_RAISE("{}: cannot sync to disk ({})", path, std::strerror(err));
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::filesystem::path final_path(path);
  const std::string tmp = path + ".tmp-" + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) TESSERA_RAISE("{}: cannot create ({})", tmp, std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      TESSERA_RAISE("{}: cannot write ({})", tmp, std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    TESSERA_RAISE("{}: cannot write to disk (disk full?)", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    TESSERA_RAISE("{}: cannot rename into place ({})", path, std::strerror(err));
  }
  sync_path(final_path.has_parent_path() ? final_path.parent_path().string() : ".");
}

}  // namespace tessera
