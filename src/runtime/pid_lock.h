// Advisory locks on a file that names its holder: the open, flock and pid
// steps that DataDirLock and CheckpointLock share. flock, not fcntl locks:
// the kernel drops it when the holder's last descriptor closes, however the
// process ends, so a crash leaves nothing to clean up.
#pragma once

#include <filesystem>

namespace starling::runtime::detail {

struct PidLock {
  int fd = -1;      // ours when >= 0 (our pid is written in the file); -1 when refused
  int error = 0;    // errno when refused: EWOULDBLOCK while another holds the lock
  long holder = 0;  // the pid the holder wrote, 0 when there is none (or not a number)
  bool opened = false;  // false when the file itself could not be opened or made
};

// Opens `path` (created 0600 when missing) and takes an exclusive flock
// without waiting.
PidLock take_pid_lock(const std::filesystem::path& path);

}  // namespace starling::runtime::detail
