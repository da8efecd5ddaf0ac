// DataDirLock. See data_dir_lock.h.
#include "starling/runtime/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <utility>

namespace starling::runtime {
namespace {

// The pid the holder wrote into the file, or 0 when there is none yet (it
// may not have written it) or it is not a number.
long holder_pid(int fd) {
  char text[32] = {};
  const ssize_t got = ::pread(fd, text, sizeof text - 1, 0);
  if (got <= 0) return 0;
  long pid = 0;
  const auto [end, error] = std::from_chars(text, text + got, pid);
  if (error != std::errc{} || end == text || pid <= 0) return 0;
  return pid;
}

}  // namespace

Result<DataDirLock> DataDirLock::acquire(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / kFileName;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorKind::io, "cannot open " + path.string() + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    const long pid = holder_pid(fd);
    ::close(fd);
    if (error == EWOULDBLOCK && pid == long(::getpid())) {
      // Another holder in this very process: an embedded peer (Python
      // starling.Peer) that has not left yet; it frees the dir at leave().
      return make_error(ErrorKind::invalid_argument,
                        "data dir " + dir.string() + " is in use by another starling peer in this process (pid " +
                            std::to_string(pid) + "): leave() that peer first (Python: peer.leave() or a `with` "
                            "block), or give each peer its own data dir");
    }
    if (error == EWOULDBLOCK) {
      return make_error(ErrorKind::invalid_argument,
                        "data dir " + dir.string() + " is in use by another starling peer" +
                            (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                            ": give each peer its own --data-dir");
    }
    return make_error(ErrorKind::io, "cannot lock " + path.string() + ": " + std::strerror(error));
  }
  // Ours: say who holds it, for the next one that tries.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
    const int error = errno;
    ::close(fd);
    return make_error(ErrorKind::io, "cannot write " + path.string() + ": " + std::strerror(error));
  }
  return DataDirLock(fd, std::move(path));
}

DataDirLock::DataDirLock(DataDirLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

DataDirLock& DataDirLock::operator=(DataDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace starling::runtime
