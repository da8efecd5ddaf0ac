// See peer_exit_reason.h.
#include "peer_exit_reason.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <vector>

namespace starling::apps {
namespace {

bool names_an_error(const std::string& line) {
  std::string lower(line);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return lower.find("error") != std::string::npos;
}

bool is_help_hint(const std::string& line) {
  return line.rfind("Run with ", 0) == 0 && line.find(" for more information.") != std::string::npos;
}

}  // namespace

std::string peer_exit_reason(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::vector<std::string> life;  // the lines since the runner's last start marker
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("==== starling scenario:", 0) == 0) {
      life.clear();
    } else if (!line.empty()) {
      life.push_back(line);
    }
  }
  for (auto it = life.rbegin(); it != life.rend(); ++it)
    if (names_an_error(*it)) return *it;
  for (auto it = life.rbegin(); it != life.rend(); ++it)
    if (!is_help_hint(*it)) return *it;
  return "";
}

}  // namespace starling::apps
