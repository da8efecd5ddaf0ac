// An exclusive hold on a peer's data dir for the life of the process. Two
// peers started on one --data-dir would share the node id, write the same
// incarnation file and checkpoint, and confuse every other member. The hold
// is an advisory lock (flock) on DIR/peer.lock, which holds the pid of the
// peer that has it; the kernel drops the lock when that process ends,
// however it ends, so a crash leaves nothing to clean up.
#pragma once

#include <filesystem>
#include <utility>

#include "starling/status.h"

namespace starling::runtime {

class DataDirLock {
 public:
  // The lock file's name inside the data dir.
  static constexpr const char* kFileName = "peer.lock";

  // Takes the lock on `dir` (which must exist), or says who holds it.
  // Errors: invalid_argument "data dir DIR is in use by another starling
  // peer (pid N)" while another process holds it ("... by another starling
  // peer in this process (pid N): leave() that peer first ..." when another
  // DataDirLock of this process does); io when the lock file cannot be
  // opened or locked.
  static Result<DataDirLock> acquire(const std::filesystem::path& dir);

  DataDirLock(DataDirLock&& other) noexcept;
  DataDirLock& operator=(DataDirLock&& other) noexcept;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();  // releases the lock (the file stays)

  const std::filesystem::path& path() const { return path_; }

 private:
  DataDirLock(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::filesystem::path path_;
};

}  // namespace starling::runtime
