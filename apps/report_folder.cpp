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

std::filesystem::path default_report_dir(std::string_view name, std::string_view suffix) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  return std::filesystem::path("scenario-runs") / (safe_folder_name(name) + std::string(suffix) + "-" + stamp);
}

}  // namespace starling::apps
