// FileIncarnationStore. See incarnation_file.h.
#include "starling/runtime/incarnation_file.h"

#include <fstream>
#include <system_error>

namespace starling::runtime {

std::optional<std::uint64_t> FileIncarnationStore::load() {
  std::ifstream in(path_);
  std::uint64_t value = 0;
  if (in >> value) return value;
  return std::nullopt;
}

Status FileIncarnationStore::save(std::uint64_t incarnation) {
  const std::filesystem::path temp = path_.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << incarnation << '\n';
    if (!out.flush()) return make_error(ErrorKind::io, "cannot write " + temp.string());
  }
  std::error_code ec;
  std::filesystem::rename(temp, path_, ec);
  if (ec) return make_error(ErrorKind::io, "cannot rename " + temp.string() + ": " + ec.message());
  return Ok{};
}

}  // namespace starling::runtime
