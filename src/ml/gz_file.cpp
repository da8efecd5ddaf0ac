#include "gz_file.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace starling::ml::detail {
namespace {
// Stay well below zlib's unsigned lengths.
constexpr std::size_t kChunkBytes = std::size_t{8} << 20;
// Reads start this small and grow with what was read: a tiny file (or a
// lying header) does not cost a zeroed 8 MiB buffer per read.
constexpr std::size_t kFirstChunkBytes = std::size_t{64} << 10;
// Compressed bytes read from the disk at a time.
constexpr std::size_t kInputBytes = std::size_t{1} << 20;
// gzip's magic bytes (RFC 1952); zlib's windowBits for "gzip only".
constexpr std::uint8_t kGzipMagic[2] = {0x1f, 0x8b};
constexpr int kGzipWindowBits = 15 + 16;
}  // namespace

void DataFileReader::InflateEnd::operator()(z_stream_s* stream) const {
  inflateEnd(stream);
  delete stream;
}

Result<DataFileReader> DataFileReader::open(const std::string& path) {
  // A directory, FIFO or device (/dev/zero, /dev/stdin) would read as empty,
  // block or never end: only regular files are data.
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode))
    return make_error(ErrorKind::invalid_argument, path + ": not a regular file");
  errno = 0;
  DataFileReader reader;
  reader.path_ = path;
  reader.file_.reset(std::fopen(path.c_str(), "rbe"));
  if (!reader.file_) {
    const int err = errno;
    const ErrorKind kind = err == ENOENT || err == ENOTDIR ? ErrorKind::not_found : ErrorKind::io;
    return make_error(kind, path + ": cannot open: " + (err ? std::strerror(err) : "out of memory"));
  }
  std::uint8_t magic[2] = {0, 0};
  const std::size_t got = std::fread(magic, 1, sizeof magic, reader.file_.get());
  if (std::ferror(reader.file_.get())) return make_error(ErrorKind::io, path + ": cannot read: " + std::strerror(errno));
  if (got < 2 || magic[0] != kGzipMagic[0] || magic[1] != kGzipMagic[1]) {
    if (std::fseek(reader.file_.get(), 0, SEEK_SET) != 0)
      return make_error(ErrorKind::io, path + ": cannot read: " + std::strerror(errno));
    return reader;  // plain
  }
  auto stream = std::make_unique<z_stream_s>();
  if (inflateInit2(stream.get(), kGzipWindowBits) != Z_OK)
    return make_error(ErrorKind::overloaded, path + ": out of memory to decompress it");
  reader.stream_.reset(stream.release());
  reader.input_.resize(kInputBytes);
  std::memcpy(reader.input_.data(), magic, sizeof magic);
  reader.stream_->next_in = reader.input_.data();
  reader.stream_->avail_in = sizeof magic;
  return reader;
}

Status DataFileReader::read(std::size_t bytes, std::vector<std::uint8_t>& out) {
  while (bytes > 0) {
    const std::size_t want = std::min({bytes, kChunkBytes, std::max(kFirstChunkBytes, out.size())});
    const std::size_t old_size = out.size();
    out.resize(old_size + want);
    auto got = fill(out.data() + old_size, want);
    if (!got) {
      out.resize(old_size);
      return got.error();
    }
    out.resize(old_size + *got);
    if (*got < want) break;  // end of the data
    bytes -= want;
  }
  return ok_status();
}

Result<std::size_t> DataFileReader::fill(std::uint8_t* target, std::size_t size) {
  return stream_ ? fill_gzip(target, size) : fill_plain(target, size);
}

Result<std::size_t> DataFileReader::fill_plain(std::uint8_t* target, std::size_t size) {
  const std::size_t got = std::fread(target, 1, size, file_.get());
  if (got < size && std::ferror(file_.get()))
    return make_error(ErrorKind::io, path_ + ": cannot read: " + std::strerror(errno));
  return got;
}

Result<std::size_t> DataFileReader::fill_gzip(std::uint8_t* target, std::size_t size) {
  z_stream_s& stream = *stream_;
  stream.next_out = target;
  stream.avail_out = static_cast<uInt>(size);
  while (stream.avail_out > 0 && !finished_) {
    if (member_ended_) {
      auto another = next_member();
      if (!another) return another.error();
      finished_ = !*another;
      continue;
    }
    if (stream.avail_in == 0) {
      auto more = refill();
      if (!more) return more.error();
      if (!*more) return corrupt("truncated gzip data: the file ends inside a compressed stream");
    }
    const int status = inflate(&stream, Z_NO_FLUSH);
    if (status == Z_STREAM_END) {
      member_ended_ = true;  // its CRC-32 and length checked by inflate
    } else if (status == Z_MEM_ERROR) {
      return make_error(ErrorKind::overloaded, path_ + ": out of memory to decompress it");
    } else if (status != Z_OK && !(status == Z_BUF_ERROR && stream.avail_in == 0)) {
      return corrupt(std::string("cannot decompress: ") + (stream.msg ? stream.msg : "damaged gzip data"));
    }
  }
  return size - stream.avail_out;
}

Result<bool> DataFileReader::refill() {
  z_stream_s& stream = *stream_;
  const std::size_t kept = stream.avail_in;
  if (kept > 0 && stream.next_in != input_.data()) std::memmove(input_.data(), stream.next_in, kept);
  const std::size_t got = std::fread(input_.data() + kept, 1, input_.size() - kept, file_.get());
  if (got == 0 && std::ferror(file_.get()))
    return make_error(ErrorKind::io, path_ + ": cannot read: " + std::strerror(errno));
  stream.next_in = input_.data();
  stream.avail_in = static_cast<uInt>(kept + got);
  return got > 0;
}

Result<bool> DataFileReader::next_member() {
  z_stream_s& stream = *stream_;
  while (stream.avail_in < 2) {
    auto more = refill();
    if (!more) return more.error();
    if (!*more) break;
  }
  if (stream.avail_in == 0) return false;  // the file ends where a member does
  if (stream.avail_in < 2 || stream.next_in[0] != kGzipMagic[0] || stream.next_in[1] != kGzipMagic[1]) {
    const long end_of_gzip = std::ftell(file_.get()) - long(stream.avail_in);
    return corrupt("bytes after the end of its gzip data (from byte " + std::to_string(end_of_gzip) +
                   "), where only another gzip member may follow");
  }
  inflateReset(&stream);
  member_ended_ = false;
  return true;
}

Error DataFileReader::corrupt(const std::string& why) const { return make_error(ErrorKind::corrupt, path_ + ": " + why); }

Result<std::vector<std::uint8_t>> read_whole_file(const std::string& path, std::size_t limit_bytes) {
  auto file = DataFileReader::open(path);
  if (!file) return file.error();
  std::vector<std::uint8_t> content;
  // One byte past the limit tells "exactly at the limit" from "too large".
  auto status = file->read(limit_bytes + 1, content);
  if (!status) return status.error();
  if (content.size() > limit_bytes) {
    return make_error(ErrorKind::unsupported,
                      path + ": larger than " + std::to_string(limit_bytes >> 20) + " MiB, too large to load");
  }
  return content;
}

}  // namespace starling::ml::detail
