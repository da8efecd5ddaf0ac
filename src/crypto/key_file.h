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
Status write_secret_file(const std::filesystem::path& path, std::string_view contents, Overwrite overwrite);

// Reads a key file, refusing one that is not a regular file, is readable or
// writable by group or others, or is larger than kMaxKeyFileBytes.
Status read_secret_file(const std::filesystem::path& path, KeyFileText& out);

}  // namespace starling::crypto::internal
