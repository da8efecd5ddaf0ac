#include "starling/ml/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "checkpoint_header.h"

namespace starling::ml {
namespace {

static_assert(std::endian::native == std::endian::little,
              "checkpoints store little-endian float32; add byte swapping for big-endian hosts");

constexpr const char* kMagic = "starling-checkpoint";
// Refuse absurd headers before allocating for them.
constexpr std::size_t kMaxHeaderBytes = 1 << 20;

// Fuzz builds (libFuzzer's convention, cmake/Layers.cmake) let a wrong
// checksum through, so the fuzzer reaches the checks behind it; a checksum is
// no defence against a crafted file anyway, only against damage.
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
constexpr bool kVerifyChecksums = false;
#else
constexpr bool kVerifyChecksums = true;
#endif

std::uint32_t crc32_of(const void* data, std::size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* bytes = static_cast<const Bytef*>(data);
  while (size > 0) {
    const uInt chunk = uInt(std::min<std::size_t>(size, 1u << 30));
    crc = crc32(crc, bytes, chunk);
    bytes += chunk;
    size -= chunk;
  }
  return std::uint32_t(crc);
}

std::string errno_text() { return std::strerror(errno); }

Error corrupt(const std::string& path, const std::string& why) {
  return make_error(ErrorKind::corrupt, "checkpoint " + path + " is corrupt: " + why);
}

// Where a file written to `target` lands: its parent, or "." for a bare name.
std::filesystem::path folder_of(const std::filesystem::path& target) {
  return target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
}

// The temporary file write_file_atomically writes `target` through, less its
// process id: one name per writer, so two processes never share one.
std::string temporary_prefix(const std::filesystem::path& target) { return "." + target.filename().string() + ".tmp."; }

// A metadata value a run records as a positive whole number (docs/checkpoints.md,
// "Resuming"), or 0 when absent or not one (an older starling's checkpoint).
std::int64_t recorded_count(const Checkpoint& checkpoint, const char* key) {
  const auto found = checkpoint.metadata.find(key);
  if (found == checkpoint.metadata.end()) return 0;
  const std::string& text = found->second;
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && value > 0 ? value : 0;
}

// Why the training counters cannot come from a run, or "". They hold for every
// checkpoint `train` and `peer` write, resumed ones (a peer's starts its batch
// order over) too: a step trains 1 to `batch` samples (fewer at an epoch's
// end), and the epoch is samples over the shard's size (ml::Trainer). A
// crafted header broke them: step 938 with 0 samples resumed, and the run
// said "1.00 epochs" after two.
std::string inconsistent_counters(const Checkpoint& c) {
  const std::string counts = "step " + std::to_string(c.step) + " with " + std::to_string(c.samples) + " samples";
  if (c.samples < c.step) return counts + ": every step trains at least one sample";
  // No bound of samples by step x the recorded batch: a checkpoint from
  // before batch was recorded, resumed with a smaller --batch, records the
  // new batch beside samples of the old one, and such a run would write a
  // checkpoint it could not read back.
  if ((c.samples == 0) != (c.epoch == 0.0))
    return counts + " at epoch " + std::to_string(c.epoch) + ": no epoch without samples, nor samples without one";
  if (const std::int64_t shard = recorded_count(c, "shard_samples"); shard > 0) {
    const double expected = double(c.samples) / double(shard);
    if (!(std::abs(c.epoch - expected) <= 1e-9 * std::max(1.0, expected)))
      return counts + " at epoch " + std::to_string(c.epoch) + ": a shard of " + std::to_string(shard) +
             " samples makes that epoch " + std::to_string(expected);
  }
  return "";
}

}  // namespace

// A link to a file not made yet names it too, and the write creates it:
// fs::canonical failed there (and fs::weakly_canonical stops at such a
// link), so a link the start-up check had passed failed at the first
// checkpoint. A link to something that exists is resolved by the kernel
// (stat, realpath), never by its text: /proc's links (/dev/stdout ->
// /proc/self/fd/1 -> "pipe:[2465206]") name no path, and followed by their
// text a pipe passed for a file not made yet.
Result<std::filesystem::path> write_target(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  constexpr int kMaxLinks = 40;  // as the kernel's ELOOP
  struct stat link {};
  if (path.empty() || ::lstat(path.c_str(), &link) != 0 || !S_ISLNK(link.st_mode)) return path;
  struct stat named {};
  if (::stat(path.c_str(), &named) == 0) {
    // A device, FIFO, socket or folder has no file to write through to: the
    // caller refuses it by what stat says (check_writable_file).
    if (!S_ISREG(named.st_mode)) return path;
    std::error_code ec;
    fs::path target = fs::canonical(path, ec);
    // A regular file with no name (deleted, or a memfd, behind /proc/self/fd/N).
    if (ec) return make_error(ErrorKind::io, "cannot resolve the link " + path.string() + ": " + ec.message());
    return target;
  }
  if (errno == ELOOP) return make_error(ErrorKind::io, "cannot resolve the link " + path.string() + ": a loop");
  if (errno != ENOENT)
    return make_error(ErrorKind::io, "cannot resolve the link " + path.string() + ": " + errno_text());
  // Nothing at the end of the links: each names a path (the kernel follows
  // /proc's to what exists), so their text says where the write lands.
  std::error_code ec;
  fs::path target = path;
  for (int hops = 0; fs::is_symlink(fs::symlink_status(target, ec)); ++hops) {
    if (hops == kMaxLinks) return make_error(ErrorKind::io, "cannot resolve the link " + path.string() + ": a loop");
    const fs::path next = fs::read_symlink(target, ec);
    if (ec) return make_error(ErrorKind::io, "cannot resolve the link " + path.string() + ": " + ec.message());
    target = next.is_absolute() ? next : folder_of(target) / next;
  }
  return target;
}

namespace {

// Whether `file` is the process's standard output or error: the rename would
// put a new file under its name, and what the command prints afterwards (its
// summary) would go to the old one, unlinked: lost, with exit 0.
bool is_own_standard_stream(const struct stat& file) {
  for (int fd : {STDOUT_FILENO, STDERR_FILENO}) {
    struct stat stream {};
    if (::fstat(fd, &stream) == 0 && stream.st_dev == file.st_dev && stream.st_ino == file.st_ino) return true;
  }
  return false;
}

Error not_a_regular_file(const std::string& path) {
  return make_error(ErrorKind::invalid_argument,
                    "cannot write " + path + ": it exists and is not a regular file (a device, FIFO or socket); "
                    "refusing to replace it");
}

}  // namespace

Status check_writable_file(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) return make_error(ErrorKind::invalid_argument, "cannot write a file with no name");
  const auto is_directory = [&] {
    return make_error(ErrorKind::invalid_argument, "cannot write " + path + ": it is a directory, not a file name");
  };
  // "DIR/": the temporary file would land beside it and the rename fail
  // only after all the work (a whole epoch of `train`).
  if (!fs::path(path).has_filename()) return is_directory();
  // What the path names, as the kernel follows it (every link, /proc's too),
  // as keygen's write_secret_file asks it. The rename replaces whatever that
  // is: a device (/dev/null as root), a FIFO or a socket would be destroyed,
  // and /dev/stdout is a link to one; a check that opens it to read waits on
  // a pipe for ever.
  struct stat named {};
  if (::stat(path.c_str(), &named) == 0) {
    if (S_ISDIR(named.st_mode)) return is_directory();
    if (!S_ISREG(named.st_mode)) return not_a_regular_file(path);
    if (is_own_standard_stream(named))
      return make_error(ErrorKind::invalid_argument,
                        "cannot write " + path + ": it is this command's standard output or error, which the "
                        "atomic write would replace (what the command prints next would be lost): write to another "
                        "file");
  } else if (errno != ENOENT && errno != ENOTDIR) {
    // A name too long, a symlink loop, a folder that cannot be searched (a
    // missing folder, or a file where one should be, is said below).
    return make_error(ErrorKind::io, "cannot create " + path + ": " + errno_text());
  }
  auto resolved = write_target(fs::path(path));
  if (!resolved) return resolved.error();
  const fs::path& target = *resolved;
  if (!target.has_filename()) return is_directory();
  // The folder the temporary file and the rename go to: the link target's.
  std::error_code ec;
  const fs::path folder = folder_of(target);
  const std::string through = target == fs::path(path) ? "" : " (the link names " + target.string() + ")";
  if (!fs::is_directory(folder, ec))
    return make_error(ErrorKind::io, "cannot create " + path + ": no directory " + folder.string() + through);
  if (::access(folder.c_str(), W_OK) != 0)
    return make_error(ErrorKind::io,
                      "cannot create " + path + ": directory " + folder.string() + ": " + errno_text() + through);
  return ok_status();
}

Status check_checkpoint_target(const std::string& path) {
  if (Status writable = check_writable_file(path); !writable) return writable;
  auto resolved = write_target(std::filesystem::path(path));
  if (!resolved) return resolved.error();
  // O_NONBLOCK: should the path have become a FIFO since the check, the open
  // returns at once (and fstat refuses it) instead of waiting for a writer.
  const int fd = ::open(resolved->c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return ok_status();  // absent (or unreadable: the write will say)
  struct stat opened {};
  if (::fstat(fd, &opened) != 0 || !S_ISREG(opened.st_mode)) {
    ::close(fd);
    return not_a_regular_file(path);
  }
  std::string head(std::strlen(kMagic), '\0');
  std::size_t got = 0;
  while (got < head.size()) {
    const ssize_t n = ::read(fd, head.data() + got, head.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += std::size_t(n);
  }
  ::close(fd);
  if (got == 0 || (got == head.size() && head == kMagic)) return ok_status();
  return make_error(ErrorKind::invalid_argument, path + " exists and is not a starling checkpoint; refusing to "
                                                        "overwrite it (move it away or choose another file)");
}

Status check_not_an_input(const std::string& output, std::initializer_list<std::string_view> inputs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (std::string_view input : inputs) {
    if (input.empty()) continue;
    if (fs::equivalent(fs::path(output), fs::path(input), ec) && !ec) {
      return make_error(ErrorKind::invalid_argument, "cannot write " + output + ": it is " + std::string(input) +
                                                         ", which this command reads; choose another file");
    }
  }
  return ok_status();
}

Status write_file_atomically(const std::string& path, const std::string& bytes) {
  namespace fs = std::filesystem;
  // The one place that says what a writable target is; its errors name `path`
  // (not the temporary file) and call a directory a bad argument.
  if (Status writable = check_writable_file(path); !writable) return writable;
  // A symlink: write the file it names, so the link keeps pointing at the
  // new contents instead of being replaced by them.
  auto resolved = write_target(fs::path(path));
  if (!resolved) return resolved.error();
  const fs::path target = *resolved;
  const fs::path folder = folder_of(target);
  const std::string temp = (folder / (temporary_prefix(target) + std::to_string(::getpid()))).string();
  // A file that was kept private (0600) stays so.
  struct stat existing {};
  const mode_t mode = ::stat(target.c_str(), &existing) == 0 ? (existing.st_mode & 0777) : 0644;
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return make_error(ErrorKind::io, "cannot create " + temp + ": " + errno_text());
  // O_CREAT's mode only applies to a new file: a temporary left by an
  // earlier writer of the same pid keeps its own.
  if (::fchmod(fd, mode) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    ::unlink(temp.c_str());
    return make_error(ErrorKind::io, "cannot set the mode of " + temp + ": " + why);
  }
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      ::close(fd);
      ::unlink(temp.c_str());
      return make_error(ErrorKind::io, "cannot write " + temp + ": " + why);
    }
    written += std::size_t(n);
  }
  // Closed whatever fsync says: a failed flush used to leak the descriptor,
  // and with it the unlinked temporary's blocks on a disk filling up.
  const bool flushed = ::fsync(fd) == 0;
  const std::string flush_error = flushed ? "" : errno_text();
  const bool closed = ::close(fd) == 0;
  if (!flushed || !closed) {
    const std::string why = flushed ? errno_text() : flush_error;
    ::unlink(temp.c_str());
    return make_error(ErrorKind::io, "cannot flush " + temp + ": " + why);
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(temp.c_str());
    return make_error(ErrorKind::io, "cannot rename " + temp + " to " + path + ": " + why);
  }
  // Make the rename itself durable.
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return ok_status();
}

std::size_t remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  // The temporaries sit beside the file written: a link's target.
  auto resolved = write_target(fs::path(path));
  const fs::path target = resolved ? *resolved : fs::path(path);
  if (!target.has_filename()) return 0;
  const std::string prefix = temporary_prefix(target);
  std::error_code ec;
  std::size_t removed = 0;
  for (fs::directory_iterator it(folder_of(target), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool ours = name.size() > prefix.size() && name.size() - prefix.size() <= 9 &&
                      name.compare(0, prefix.size(), prefix) == 0 &&
                      name.find_first_not_of("0123456789", prefix.size()) == std::string::npos;
    if (!ours) continue;
    // Only a writer that is gone: a live process (a second run on the same
    // file) may be between its write and its rename.
    const auto pid = pid_t(std::stol(name.substr(prefix.size())));
    if (pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM)) continue;
    std::error_code removing;
    if (it->is_regular_file(removing) && fs::remove(it->path(), removing)) ++removed;
  }
  return removed;
}

Status save_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  STARLING_ASSERT(checkpoint.parameters.size() > 0);
  std::string payload;
  detail::PayloadLayout layout;
  auto append = [&](const Eigen::VectorXf& v) {
    layout.vector_lengths.push_back(v.size());
    payload.append(reinterpret_cast<const char*>(v.data()), std::size_t(v.size()) * sizeof(float));
  };
  append(checkpoint.parameters);
  for (const auto& state : checkpoint.optimizer_state) append(state);

  layout.payload_bytes = payload.size();
  layout.payload_crc32 = crc32_of(payload.data(), payload.size());
  const std::string header_text = detail::checkpoint_header_text(checkpoint, layout);
  std::ostringstream out;
  out << kMagic << ' ' << kCheckpointVersion << '\n'
      << header_text.size() << ' ' << std::hex << crc32_of(header_text.data(), header_text.size()) << '\n'
      << header_text;
  std::string bytes = out.str();
  bytes += payload;
  return write_file_atomically(path, bytes);
}

Result<Checkpoint> load_checkpoint(const std::string& path) {
  // A directory reads as empty; a device such as /dev/zero never ends the
  // first line (the reader would grow without bound).
  if (std::error_code ec; std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    return make_error(ErrorKind::invalid_argument, "checkpoint " + path + " is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;  // the throwing form fails on a name too long
    return make_error(std::filesystem::exists(path, ec) ? ErrorKind::io : ErrorKind::not_found,
                      "cannot open checkpoint " + path + ": " + errno_text());
  }
  std::string magic_line, size_line;
  if (!std::getline(in, magic_line) || !std::getline(in, size_line)) return corrupt(path, "missing header lines");
  std::istringstream magic_stream(magic_line);
  std::string magic;
  int version = 0;
  if (!(magic_stream >> magic >> version) || magic != kMagic) return corrupt(path, "not a starling checkpoint");
  if (version != kCheckpointVersion) {
    return make_error(ErrorKind::unsupported, "checkpoint " + path + " has format version " + std::to_string(version) +
                                                  "; this starling reads version " +
                                                  std::to_string(kCheckpointVersion));
  }
  std::istringstream size_stream(size_line);
  std::size_t header_bytes = 0;
  std::uint32_t header_crc = 0;
  if (!(size_stream >> header_bytes >> std::hex >> header_crc) || header_bytes == 0 || header_bytes > kMaxHeaderBytes) {
    return corrupt(path, "bad header size line");
  }
  std::string header_text(header_bytes, '\0');
  if (!in.read(header_text.data(), std::streamsize(header_bytes))) return corrupt(path, "truncated header");
  if (kVerifyChecksums && crc32_of(header_text.data(), header_text.size()) != header_crc) {
    return corrupt(path, "header checksum mismatch");
  }

  auto parsed = detail::parse_checkpoint_header(header_text);
  if (!parsed) return corrupt(path, "bad header: " + parsed.error().message);
  Checkpoint checkpoint = std::move(parsed->checkpoint);
  const std::vector<std::int64_t>& counts = parsed->layout.vector_lengths;
  const std::size_t payload_bytes = parsed->layout.payload_bytes;
  const std::uint32_t payload_crc = parsed->layout.payload_crc32;
  if (checkpoint.inputs <= 0 || checkpoint.classes < 2 || counts.empty()) return corrupt(path, "bad model shape");
  if (checkpoint.step < 0 || checkpoint.samples < 0 || checkpoint.optimizer_steps < 0 ||
      !std::isfinite(checkpoint.epoch) || checkpoint.epoch < 0)
    return corrupt(path, "negative step, sample or epoch counters");
  // A resumed run adds to them: near INT64_MAX they would overflow (and the
  // run would write a checkpoint its own loader refuses). 2^53 steps is
  // some 300 years at a million steps a second.
  constexpr std::int64_t kMaxCounter = std::int64_t{1} << 53;
  if (checkpoint.step > kMaxCounter || checkpoint.samples > kMaxCounter || checkpoint.optimizer_steps > kMaxCounter ||
      checkpoint.epoch > double(kMaxCounter))
    return corrupt(path, "step, sample or epoch counters above 2^53 (no run gets there)");
  if (std::string why = inconsistent_counters(checkpoint); !why.empty()) return corrupt(path, why);
  // Features are standardised with these: a zero, negative or infinite
  // spread turns every input into NaN or flips it.
  if (!std::isfinite(checkpoint.data_mean) || !std::isfinite(checkpoint.data_std) || !(checkpoint.data_std > 0.0f))
    return corrupt(path, "bad feature standardisation (data_mean " + std::to_string(checkpoint.data_mean) +
                             ", data_std " + std::to_string(checkpoint.data_std) + ")");
  // Counted, not built: a header may announce any shape, and building it
  // would allocate before the payload proves the file holds that much.
  const std::size_t parameters = Mlp::parameter_count_for(checkpoint.spec, checkpoint.inputs, checkpoint.classes);
  std::size_t expected_bytes = 0;
  for (std::int64_t count : counts) {
    if (count < 0 || std::size_t(count) != parameters) {
      return corrupt(path, "a stored vector has " + std::to_string(count) + " values, the model needs " +
                               std::to_string(parameters));
    }
    expected_bytes += std::size_t(count) * sizeof(float);
  }
  if (expected_bytes != payload_bytes) return corrupt(path, "payload size disagrees with the vectors it holds");
  const std::streamoff payload_at = in.tellg();
  in.seekg(0, std::ios::end);
  const std::streamoff file_end = in.tellg();
  in.seekg(payload_at);
  if (payload_at < 0 || file_end < payload_at || std::size_t(file_end - payload_at) < payload_bytes) {
    return corrupt(path, "truncated payload (expected " + std::to_string(payload_bytes) + " bytes)");
  }

  std::string payload(payload_bytes, '\0');
  if (!in.read(payload.data(), std::streamsize(payload_bytes))) {
    return corrupt(path, "truncated payload (expected " + std::to_string(payload_bytes) + " bytes)");
  }
  if (in.peek() != std::char_traits<char>::eof()) return corrupt(path, "trailing bytes after the payload");
  if (kVerifyChecksums && crc32_of(payload.data(), payload.size()) != payload_crc) {
    return corrupt(path, "payload checksum mismatch");
  }

  std::size_t offset = 0;
  auto take = [&](std::int64_t count) {
    Eigen::VectorXf v(count);
    std::memcpy(v.data(), payload.data() + offset, std::size_t(count) * sizeof(float));
    offset += std::size_t(count) * sizeof(float);
    return v;
  };
  checkpoint.parameters = take(counts[0]);
  for (std::size_t i = 1; i < counts.size(); ++i) checkpoint.optimizer_state.push_back(take(counts[i]));
  if (!checkpoint.parameters.allFinite()) return corrupt(path, "parameters contain NaN or Inf");
  return checkpoint;
}

}  // namespace starling::ml
