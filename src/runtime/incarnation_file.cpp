// FileIncarnationStore. See incarnation_file.h.
#include "starling/runtime/incarnation_file.h"

#include <charconv>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "starling/ml/checkpoint.h"

namespace starling::runtime {
namespace {

namespace fs = std::filesystem;

// "18446744073709551615\n" is 21 bytes; anything much longer is not ours.
constexpr std::size_t kMaxFileBytes = 64;

Error corrupt(const fs::path& path, const std::string& what) {
  return make_error(ErrorKind::corrupt, "incarnation file " + path.string() + " " + what +
                                            ", so this peer cannot tell which incarnation it ran with; remove "
                                            "the file to start again at incarnation 0 (the swarm takes the peer "
                                            "back one refutation later), or restore it");
}

std::string_view trimmed(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

}  // namespace

Result<std::unique_ptr<FileIncarnationStore>> FileIncarnationStore::open(fs::path path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) {
    // A dangling symlink is not "never ran": the incarnation it pointed at is
    // lost (a moved or unmounted volume), and a save would write elsewhere.
    std::error_code link_ec;
    if (fs::is_symlink(fs::symlink_status(path, link_ec))) {
      const fs::path target = fs::read_symlink(path, link_ec);
      return make_error(ErrorKind::not_found, "incarnation file " + path.string() + " is a symlink to " +
                                                  target.string() +
                                                  ", which does not exist (a moved or unmounted volume?); "
                                                  "restore the target, or remove the link to start again at "
                                                  "incarnation 0");
    }
    return std::unique_ptr<FileIncarnationStore>(new FileIncarnationStore(std::move(path), std::nullopt));
  }
  if (ec) return make_error(ErrorKind::io, "cannot read incarnation file " + path.string() + ": " + ec.message());
  if (!fs::is_regular_file(status)) {
    return make_error(ErrorKind::invalid_argument, "incarnation file " + path.string() +
                                                       " is not a regular file (a folder or a device?); remove "
                                                       "it, or give the peer another --data-dir");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::io, "cannot read incarnation file " + path.string());
  std::string text(kMaxFileBytes + 1, '\0');
  in.read(text.data(), std::streamsize(text.size()));
  if (in.bad()) return make_error(ErrorKind::io, "cannot read incarnation file " + path.string());
  text.resize(std::size_t(in.gcount()));
  if (text.size() > kMaxFileBytes) return corrupt(path, "is longer than one number");

  const std::string_view number = trimmed(text);
  if (number.empty()) return corrupt(path, "is empty");
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (error == std::errc::result_out_of_range) return corrupt(path, "holds a number past 2^64-1");
  if (error != std::errc() || end != number.data() + number.size())
    return corrupt(path, "does not hold one unsigned decimal number");
  // The next start adds one, and refutations add more while it runs: at
  // 2^64-1 it wrapped to 0, an incarnation every member holds stale, so the
  // peer could never be listed alive again. No run gets near 2^62.
  if (value > (std::uint64_t{1} << 62)) return corrupt(path, "holds an incarnation above 2^62, which no run reaches");
  return std::unique_ptr<FileIncarnationStore>(new FileIncarnationStore(std::move(path), value));
}

Status FileIncarnationStore::save(std::uint64_t incarnation) {
  if (Status written = ml::write_file_atomically(path_.string(), std::to_string(incarnation) + "\n"); !written)
    return written;
  last_ = incarnation;
  return Ok{};
}

}  // namespace starling::runtime
