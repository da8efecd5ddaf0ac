// An exclusive hold on a checkpoint path for one `starling train` run. Two
// runs on one --checkpoint wrote it in turns and one of them silently won;
// a run on a running peer's model.ckpt did the same against the peer. The
// hold is an flock on ".NAME.lock" beside the checkpoint (holding the pid of
// its holder) and, when the checkpoint's folder is a peer's data dir (it has
// a peer.lock), on that peer.lock too, so neither a peer nor a second run can
// start on it meanwhile. The ".NAME.lock" file is removed at release; one a
// killed run leaves is taken over by the next run.
#pragma once

#include <filesystem>
#include <utility>

#include "starling/status.h"

namespace starling::runtime {

class CheckpointLock {
 public:
  // The lock file beside `checkpoint`: DIR/.NAME.lock.
  static std::filesystem::path lock_path(const std::filesystem::path& checkpoint);

  // Takes the hold on `checkpoint` (its folder must exist), or says who has
  // it. Errors: invalid_argument "checkpoint FILE is being written by another
  // starling train (pid N) ..." or "checkpoint FILE is in the data dir of a
  // running starling peer (pid N) ..."; io when a lock file cannot be opened,
  // made or locked.
  static Result<CheckpointLock> acquire(const std::filesystem::path& checkpoint);

  CheckpointLock(CheckpointLock&& other) noexcept;
  CheckpointLock& operator=(CheckpointLock&& other) noexcept;
  CheckpointLock(const CheckpointLock&) = delete;
  CheckpointLock& operator=(const CheckpointLock&) = delete;
  ~CheckpointLock();  // removes .NAME.lock, then releases both holds

 private:
  CheckpointLock(int fd, std::filesystem::path path, int peer_fd) : fd_(fd), path_(std::move(path)), peer_fd_(peer_fd) {}
  void release() noexcept;

  int fd_ = -1;
  std::filesystem::path path_;
  int peer_fd_ = -1;  // the held DIR/peer.lock when the folder is a peer's data dir
};

}  // namespace starling::runtime
