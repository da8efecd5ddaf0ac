// take_pid_lock. See pid_lock.h.
#include "pid_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

namespace starling::runtime::detail {
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

PidLock take_pid_lock(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return PidLock{-1, errno, 0, false};
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    const long holder = error == EWOULDBLOCK ? holder_pid(fd) : 0;
    ::close(fd);
    return PidLock{-1, error, holder, true};
  }
  // Ours: say who holds it, for the next one that tries.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != ssize_t(pid.size())) {
    const int error = errno == 0 ? EIO : errno;  // a short write sets none
    ::close(fd);
    return PidLock{-1, error, 0, true};
  }
  return PidLock{fd, 0, 0, true};
}

}  // namespace starling::runtime::detail
