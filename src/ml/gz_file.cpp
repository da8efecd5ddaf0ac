#include "gz_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace starling::ml::detail {
namespace {
// zlib's gzread takes an unsigned length and returns an int: stay well below.
constexpr std::size_t kChunkBytes = std::size_t{8} << 20;
// Reads start this small and grow with what was read: a tiny file (or a
// lying header) does not cost a zeroed 8 MiB buffer per read.
constexpr std::size_t kFirstChunkBytes = std::size_t{64} << 10;
}  // namespace

Result<GzHandle> open_gz(const std::string& path) {
  // A directory, FIFO or device (/dev/zero, /dev/stdin) would read as empty,
  // block or never end: only regular files are data.
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode))
    return make_error(ErrorKind::invalid_argument, path + ": not a regular file");
  errno = 0;
  GzHandle file(gzopen(path.c_str(), "rb"));
  if (!file) {
    const int err = errno;
    const ErrorKind kind = err == ENOENT || err == ENOTDIR ? ErrorKind::not_found : ErrorKind::io;
    return make_error(kind, path + ": cannot open: " + (err ? std::strerror(err) : "out of memory"));
  }
  gzbuffer(file.get(), 1u << 20);  // fewer, larger reads from the disk
  return file;
}

Status read_gz(gzFile_s* file, const std::string& path, std::size_t bytes, std::vector<std::uint8_t>& out) {
  while (bytes > 0) {
    const std::size_t want = std::min({bytes, kChunkBytes, std::max(kFirstChunkBytes, out.size())});
    const std::size_t old_size = out.size();
    out.resize(old_size + want);
    const int got = gzread(file, out.data() + old_size, static_cast<unsigned>(want));
    if (got < 0) {
      int zerr = Z_OK;
      const char* message = gzerror(file, &zerr);
      out.resize(old_size);
      return make_error(ErrorKind::corrupt, path + ": cannot decompress: " + (message ? message : "zlib error"));
    }
    out.resize(old_size + static_cast<std::size_t>(got));
    if (static_cast<std::size_t>(got) < want) break;  // end of file
    bytes -= want;
  }
  return ok_status();
}

Result<std::vector<std::uint8_t>> read_whole_file(const std::string& path, std::size_t limit_bytes) {
  auto file = open_gz(path);
  if (!file) return file.error();
  std::vector<std::uint8_t> content;
  // One byte past the limit tells "exactly at the limit" from "too large".
  auto status = read_gz(file->get(), path, limit_bytes + 1, content);
  if (!status) return status.error();
  if (content.size() > limit_bytes) {
    return make_error(ErrorKind::unsupported,
                      path + ": larger than " + std::to_string(limit_bytes >> 20) + " MiB, too large to load");
  }
  return content;
}

}  // namespace starling::ml::detail
