// The runtime's node::IncarnationStore: one number in a file, so a restarted
// `starling peer` rejoins above the incarnation it ran with. Saved through
// ml::write_file_atomically (temp file, fsync, rename), so a crash never
// leaves half a number.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "starling/node/peer.h"
#include "starling/status.h"

namespace starling::runtime {

class FileIncarnationStore final : public node::IncarnationStore {
 public:
  // Reads `path` once, at start-up. Absent: the peer never ran (load() is
  // nullopt). A file that does not hold exactly one unsigned decimal number
  // (empty, text, negative, past 2^64-1) is `corrupt`, one that is not a
  // regular file (a folder, a device) `invalid_argument`, and a read the OS
  // refuses `io`; each message names the file. Never "0 and carry on": a
  // peer that cannot tell its last incarnation must not guess one.
  static Result<std::unique_ptr<FileIncarnationStore>> open(std::filesystem::path path);

  std::optional<std::uint64_t> load() override { return last_; }
  Status save(std::uint64_t incarnation) override;
  const std::filesystem::path& path() const { return path_; }

 private:
  FileIncarnationStore(std::filesystem::path path, std::optional<std::uint64_t> last)
      : path_(std::move(path)), last_(last) {}

  std::filesystem::path path_;
  std::optional<std::uint64_t> last_;
};

}  // namespace starling::runtime
