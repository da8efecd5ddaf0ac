// Reading data files through zlib: a gzip file decompressed, any other file
// as it is. Private to src/ml: the loaders (idx.cpp, text_formats.cpp) share it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "starling/status.h"

struct z_stream_s;

namespace starling::ml::detail {

// One data file, read front to back. A file that starts with gzip's magic
// bytes is gzip: one member or several back to back (RFC 1952; what `cat
// a.gz b.gz` makes), each checked to its CRC and length trailer, and the file
// must end where a member ends. Bytes after the last member that do not start
// another (zlib's gzread skipped them in silence) are corrupt, as is a stream
// cut short. Errors name the file.
class DataFileReader {
 public:
  // not_found / io name the file; anything but a regular file is invalid_argument.
  static Result<DataFileReader> open(const std::string& path);

  // Appends up to `bytes` bytes to `out`, in big chunks; fewer only at the
  // end of the data. A damaged gzip stream or trailing bytes: corrupt.
  Status read(std::size_t bytes, std::vector<std::uint8_t>& out);

 private:
  struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
  };
  struct InflateEnd {
    void operator()(z_stream_s* stream) const;
  };

  DataFileReader() = default;
  // Fills up to `size` bytes at `target`; returns how many (fewer: the end).
  Result<std::size_t> fill(std::uint8_t* target, std::size_t size);
  Result<std::size_t> fill_plain(std::uint8_t* target, std::size_t size);
  Result<std::size_t> fill_gzip(std::uint8_t* target, std::size_t size);
  // Reads more of the file behind the input not yet consumed; false at its end.
  Result<bool> refill();
  // After a member: the next one's start, or the end of the file. Returns
  // whether there is another member.
  Result<bool> next_member();
  Error corrupt(const std::string& why) const;

  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::unique_ptr<z_stream_s, InflateEnd> stream_;  // gzip only; zlib keeps pointers into it, so it never moves
  std::vector<std::uint8_t> input_;                 // compressed bytes read and not yet inflated
  bool member_ended_ = false;
  bool finished_ = false;
};

// The whole (decompressed) content of a file, at most `limit_bytes`.
Result<std::vector<std::uint8_t>> read_whole_file(const std::string& path, std::size_t limit_bytes);

}  // namespace starling::ml::detail
