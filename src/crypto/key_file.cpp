#include "key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace starling::crypto::internal {
namespace {

Error os_error(const std::string& what, const std::filesystem::path& path, int error_number) {
  return make_error(ErrorKind::io, what + " " + path.string() + ": " + std::strerror(error_number));
}

// Closes a file descriptor on every path out of a function.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() { close(); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int close() {
    int result = 0;
    if (fd_ >= 0) result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

Status write_all(int fd, std::string_view contents, const std::filesystem::path& path) {
  std::size_t written = 0;
  while (written < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error("cannot write", path, errno);
    }
    written += static_cast<std::size_t>(n);
  }
  return ok_status();
}

// Makes the rename durable. Some file systems refuse fsync on a directory;
// that is not worth failing a key write for.
void sync_directory(const std::filesystem::path& directory) {
  int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

std::string mode_string(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

bool is_temp_name_of(const std::string& name, const std::string& target) {
  const std::string prefix = target + ".tmp-";
  if (name.size() != prefix.size() + 6 || name.compare(0, prefix.size(), prefix) != 0) return false;
  for (std::size_t i = prefix.size(); i < name.size(); ++i) {
    const char c = name[i];
    const bool alphabet = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alphabet) return false;
  }
  return true;
}

}  // namespace

void remove_stale_temp_files(const std::filesystem::path& path) {
  std::filesystem::path directory = path.parent_path();
  if (directory.empty()) directory = ".";
  const std::string target = path.filename().string();
  if (target.empty()) return;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!is_temp_name_of(name, target)) continue;
    struct stat info {};
    // lstat: a symlink of that name is not ours to follow; only our own files.
    if (::lstat(it->path().c_str(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_uid != ::geteuid()) continue;
    (void)::unlink(it->path().c_str());
  }
}

Status write_secret_file(const std::filesystem::path& named, std::string_view contents, Overwrite overwrite) {
  // The rename below replaces whatever the path names: refuse to turn a
  // device, FIFO or socket (`--force` onto /dev/null) into a key file.
  std::filesystem::path path = named;
  if (overwrite == Overwrite::yes) {
    struct stat existing {};
    if (::stat(named.c_str(), &existing) == 0 && !S_ISREG(existing.st_mode)) {
      return make_error(ErrorKind::invalid_argument,
                        named.string() + " exists and is not a regular file; refusing to replace it with a key file");
    }
    // A symlink to a regular file: write the file it names, so the link
    // stays (as for every file starling writes; the rename replaced the link).
    std::error_code ec;
    if (std::filesystem::is_symlink(std::filesystem::symlink_status(named, ec))) {
      path = std::filesystem::canonical(named, ec);
      if (ec) return make_error(ErrorKind::io, "cannot resolve the link " + named.string() + ": " + ec.message());
    }
  }
  std::filesystem::path directory = path.parent_path();
  if (directory.empty()) directory = ".";
  remove_stale_temp_files(path);
  std::string temp_name = path.string() + ".tmp-XXXXXX";
  // mkstemp creates the file with mode 0600 (umask can only narrow it).
  FileDescriptor fd(::mkstemp(temp_name.data()));
  if (fd.get() < 0) return os_error("cannot create a temporary file next to", path, errno);
  std::filesystem::path temp_path(temp_name);
  auto discard = [&](Error error) -> Status {
    fd.close();
    ::unlink(temp_path.c_str());
    return error;
  };

  if (::fchmod(fd.get(), 0600) != 0) return discard(os_error("cannot set mode 0600 on", temp_path, errno));
  if (Status status = write_all(fd.get(), contents, temp_path); !status) return discard(status.error());
  if (::fsync(fd.get()) != 0) return discard(os_error("cannot fsync", temp_path, errno));
  if (fd.close() != 0) return discard(os_error("cannot close", temp_path, errno));

  if (overwrite == Overwrite::yes) {
    if (::rename(temp_path.c_str(), path.c_str()) != 0) return discard(os_error("cannot rename onto", path, errno));
  } else {
    // link() fails atomically if path exists, unlike rename().
    if (::link(temp_path.c_str(), path.c_str()) != 0) {
      int error_number = errno;
      if (error_number == EEXIST) {
        return discard(make_error(ErrorKind::invalid_argument,
                                  path.string() + " already exists; refusing to overwrite a key file"));
      }
      // File systems without hard links: check, then rename (a small race).
      if (error_number != EPERM && error_number != ENOTSUP && error_number != EXDEV) {
        return discard(os_error("cannot create", path, error_number));
      }
      struct stat existing {};
      if (::lstat(path.c_str(), &existing) == 0) {
        return discard(make_error(ErrorKind::invalid_argument,
                                  path.string() + " already exists; refusing to overwrite a key file"));
      }
      if (::rename(temp_path.c_str(), path.c_str()) != 0) return discard(os_error("cannot rename onto", path, errno));
    } else {
      ::unlink(temp_path.c_str());
    }
  }
  sync_directory(directory);
  return ok_status();
}

Status read_secret_file(const std::filesystem::path& path, KeyFileText& out) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
  // forever; the fstat below then refuses it. On a regular file the flag
  // changes nothing.
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    int error_number = errno;
    if (error_number == ENOENT) return make_error(ErrorKind::not_found, "key file " + path.string() + " does not exist");
    return os_error("cannot open key file", path, error_number);
  }
  // fstat on the open descriptor: the file we check is the file we read.
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return os_error("cannot stat key file", path, errno);
  if (!S_ISREG(info.st_mode)) {
    return make_error(ErrorKind::invalid_argument, "key file " + path.string() + " is not a regular file");
  }
  if ((info.st_mode & 077) != 0) {
    return make_error(ErrorKind::security, "key file " + path.string() + " has permissions " +
                                               mode_string(info.st_mode) +
                                               ": it must not be accessible by group or others (chmod 600 " +
                                               path.string() + ")");
  }
  if (info.st_size < 0 || static_cast<std::size_t>(info.st_size) > kMaxKeyFileBytes) {
    return make_error(ErrorKind::corrupt, "key file " + path.string() + " is too large (" +
                                              std::to_string(info.st_size) + " bytes) to be a starling key");
  }
  out.size = 0;
  while (true) {
    if (out.size == kMaxKeyFileBytes) {
      return make_error(ErrorKind::corrupt, "key file " + path.string() + " is too large to be a starling key");
    }
    ssize_t n = ::read(fd.get(), out.buffer.data() + out.size, kMaxKeyFileBytes - out.size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error("cannot read key file", path, errno);
    }
    if (n == 0) break;
    out.size += static_cast<std::size_t>(n);
  }
  // The key is here: a temp file a killed write left next to it holds a
  // secret nobody will use (a start after it loads, never writes).
  remove_stale_temp_files(path);
  return ok_status();
}

}  // namespace starling::crypto::internal
