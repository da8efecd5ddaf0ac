// Reading data files through zlib, which reads gzipped and plain files alike.
// Private to src/ml: the loaders (idx.cpp, text_formats.cpp) share it.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "starling/status.h"

namespace starling::ml::detail {

struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

// Opens `path` for reading; not_found / io errors name the file.
Result<GzHandle> open_gz(const std::string& path);

// Reads up to `bytes` bytes into `out` (appended), in big chunks; stops early at
// end of file. A zlib error (a damaged .gz stream) is corrupt.
Status read_gz(gzFile_s* file, const std::string& path, std::size_t bytes, std::vector<std::uint8_t>& out);

// The whole (decompressed) content of a file, at most `limit_bytes`.
Result<std::vector<std::uint8_t>> read_whole_file(const std::string& path, std::size_t limit_bytes);

}  // namespace starling::ml::detail
