// CheckpointLock. See checkpoint_lock.h.
#include "starling/runtime/checkpoint_lock.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "pid_lock.h"
#include "starling/runtime/data_dir_lock.h"

namespace starling::runtime {
namespace {

std::string lock_failure(const detail::PidLock& lock, const std::filesystem::path& path) {
  return std::string(lock.opened ? "cannot lock " : "cannot open ") + path.string() + ": " + std::strerror(lock.error);
}

std::string holder_text(long pid) { return pid > 0 ? " (pid " + std::to_string(pid) + ")" : std::string(); }

// True when `fd` is still the file at `path`: a holder that released between
// our open and our flock removed the file we locked.
bool still_linked(int fd, const std::filesystem::path& path) {
  struct stat held {}, named {};
  return ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
         held.st_ino == named.st_ino;
}

// The hold on the peer data dir the checkpoint sits in, when it is one: -1
// when it is not.
Result<int> hold_peer_dir(const std::filesystem::path& checkpoint) {
  const std::filesystem::path dir = checkpoint.parent_path().empty() ? "." : checkpoint.parent_path();
  const std::filesystem::path path = dir / DataDirLock::kFileName;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return -1;
  const detail::PidLock lock = detail::take_pid_lock(path);
  if (lock.fd >= 0) return lock.fd;
  if (lock.error != EWOULDBLOCK) return make_error(ErrorKind::io, lock_failure(lock, path));
  return make_error(ErrorKind::invalid_argument,
                    "checkpoint " + checkpoint.string() + " is in the data dir of a running starling peer" +
                        holder_text(lock.holder) +
                        ", which writes its own checkpoint there: stop that peer first, or give this run another "
                        "--checkpoint");
}

}  // namespace

std::filesystem::path CheckpointLock::lock_path(const std::filesystem::path& checkpoint) {
  return checkpoint.parent_path() / ("." + checkpoint.filename().string() + ".lock");
}

Result<CheckpointLock> CheckpointLock::acquire(const std::filesystem::path& checkpoint) {
  std::filesystem::path path = lock_path(checkpoint);
  // A holder that releases removes its file; one we opened just before that
  // is no longer the lock, so open again. Bounded: each retry means another
  // run took and gave up the lock in between.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const detail::PidLock lock = detail::take_pid_lock(path);
    if (lock.fd < 0 && lock.error == EWOULDBLOCK) {
      return make_error(ErrorKind::invalid_argument,
                        "checkpoint " + checkpoint.string() + " is being written by another starling train" +
                            holder_text(lock.holder) +
                            ": wait for that run to end, or give this run another --checkpoint");
    }
    if (lock.fd < 0) return make_error(ErrorKind::io, lock_failure(lock, path));
    if (!still_linked(lock.fd, path)) {
      ::close(lock.fd);
      continue;
    }
    auto peer_dir = hold_peer_dir(checkpoint);
    if (!peer_dir.ok()) {
      ::unlink(path.c_str());
      ::close(lock.fd);
      return peer_dir.error();
    }
    return CheckpointLock(lock.fd, std::move(path), std::move(*peer_dir));
  }
  return make_error(ErrorKind::io, "cannot lock " + path.string() + ": other runs took and released it 16 times");
}

CheckpointLock::CheckpointLock(CheckpointLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), peer_fd_(std::exchange(other.peer_fd_, -1)) {}

CheckpointLock& CheckpointLock::operator=(CheckpointLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    peer_fd_ = std::exchange(other.peer_fd_, -1);
  }
  return *this;
}

void CheckpointLock::release() noexcept {
  if (peer_fd_ >= 0) ::close(std::exchange(peer_fd_, -1));  // peer.lock stays, as the peer leaves it
  if (fd_ < 0) return;
  // Unlink while still holding: a run that opened the file meanwhile finds
  // it no longer linked and opens a new one (acquire's retry).
  ::unlink(path_.c_str());
  ::close(std::exchange(fd_, -1));
}

CheckpointLock::~CheckpointLock() { release(); }

}  // namespace starling::runtime
