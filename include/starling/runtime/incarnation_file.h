// The runtime's node::IncarnationStore: one number in a file, written
// atomically (temp file + rename), so a crash never leaves half a number and
// a restarted `starling peer` rejoins above the incarnation it ran with.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "starling/node/peer.h"

namespace starling::runtime {

class FileIncarnationStore final : public node::IncarnationStore {
 public:
  explicit FileIncarnationStore(std::filesystem::path path) : path_(std::move(path)) {}
  std::optional<std::uint64_t> load() override;
  Status save(std::uint64_t incarnation) override;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace starling::runtime
