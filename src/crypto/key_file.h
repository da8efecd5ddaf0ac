// Reading and writing small secret files: 0600, atomic replace, strict
// permission check on load. Private to the crypto layer.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string_view>

#include "starling/crypto/keys.h"
#include "starling/crypto/secret.h"
#include "starling/status.h"

namespace starling::crypto::internal {

inline constexpr std::size_t kMaxKeyFileBytes = 4096;

// The contents of a key file, wiped when it goes out of scope.
struct KeyFileText {
  SecretBytes<kMaxKeyFileBytes> buffer;
  std::size_t size = 0;
  std::string_view text() const { return {reinterpret_cast<const char*>(buffer.data()), size}; }
};

// Writes contents to path with mode 0600: temp file in the same directory,
// fsync, then rename (Overwrite::yes) or link (Overwrite::no, so an existing
// file is never replaced, even by a racing writer), then fsync the directory.
// Temp files left by an earlier write that was killed (SIGINT at start-up
// left identity.key.tmp-XXXXXX, a whole private identity, for good) are
// removed first (remove_stale_temp_files).
Status write_secret_file(const std::filesystem::path& path, std::string_view contents, Overwrite overwrite);

// Removes the temp files write_secret_file names after `path`
// (PATH.tmp-XXXXXX: six characters of mkstemp's alphabet) that are regular
// files owned by us; failures are ignored (a read-only folder). A writer of
// the same key file at this very moment would lose its temp file and report
// an error; two writers of one key file race anyway (Overwrite::no lets one
// win). Called before each write and after each successful read.
void remove_stale_temp_files(const std::filesystem::path& path);

// Reads a key file, refusing one that is not a regular file, is readable or
// writable by group or others, or is larger than kMaxKeyFileBytes.
Status read_secret_file(const std::filesystem::path& path, KeyFileText& out);

}  // namespace starling::crypto::internal
