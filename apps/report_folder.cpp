// See report_folder.h.
#include "report_folder.h"

#include <ctime>

namespace starling::apps {

std::string safe_folder_name(std::string_view name) {
  constexpr std::size_t kMaxBytes = 100;
  while (!name.empty() && name.front() == '.') name.remove_prefix(1);
  std::string safe;
  for (const char c : name.substr(0, kMaxBytes)) {
    const bool kept = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-';
    safe += kept ? c : '_';
  }
  return safe.empty() ? "scenario" : safe;
}

Result<std::filesystem::path> claim_default_report_dir(std::string_view name, std::string_view suffix) {
  namespace fs = std::filesystem;
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  const fs::path parent("scenario-runs");
  const std::string base = safe_folder_name(name) + std::string(suffix) + "-" + stamp;
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return make_error(ErrorKind::io, "cannot create the report folder " + parent.string() + ": " + ec.message());
  constexpr int kMaxPerSecond = 1000;
  for (int n = 1; n <= kMaxPerSecond; ++n) {
    const fs::path dir = parent / (n == 1 ? base : base + "-" + std::to_string(n));
    if (fs::create_directory(dir, ec)) return dir;  // made by us: no other run writes here
    if (ec) return make_error(ErrorKind::io, "cannot create the report folder " + dir.string() + ": " + ec.message());
  }
  return make_error(ErrorKind::io, "cannot find a free report folder " + (parent / base).string() + "-N (" +
                                       std::to_string(kMaxPerSecond) + " taken): give --out DIR");
}

}  // namespace starling::apps
