// DataDirLock. See data_dir_lock.h.
#include "starling/runtime/data_dir_lock.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "pid_lock.h"

namespace starling::runtime {

Result<DataDirLock> DataDirLock::acquire(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / kFileName;
  const detail::PidLock lock = detail::take_pid_lock(path);
  if (lock.fd >= 0) return DataDirLock(lock.fd, std::move(path));
  const long pid = lock.holder;
  if (lock.error == EWOULDBLOCK && pid == long(::getpid())) {
    // Another holder in this very process: an embedded peer (Python
    // starling.Peer) that has not left yet; it frees the dir at leave().
    return make_error(ErrorKind::invalid_argument,
                      "data dir " + dir.string() + " is in use by another starling peer in this process (pid " +
                          std::to_string(pid) + "): leave() that peer first (Python: peer.leave() or a `with` "
                          "block), or give each peer its own data dir");
  }
  if (lock.error == EWOULDBLOCK) {
    return make_error(ErrorKind::invalid_argument,
                      "data dir " + dir.string() + " is in use by another starling peer" +
                          (pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                          ": give each peer its own --data-dir");
  }
  return make_error(ErrorKind::io, std::string(lock.opened ? "cannot lock " : "cannot open ") + path.string() + ": " +
                                       std::strerror(lock.error));
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
