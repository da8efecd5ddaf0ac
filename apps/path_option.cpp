// See path_option.h.
#include "path_option.h"

namespace starling::apps {

CLI::Validator non_empty_path_check(const std::string& without_it) {
  return CLI::Validator(
      [without_it](std::string& text) -> std::string {
        if (!text.empty()) return std::string();
        return "an empty path names nothing: give one, or leave the option out for " + without_it;
      },
      "", "non-empty path");
}

CLI::Validator non_empty_path_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (!text.empty()) return std::string();
        return "an empty path names nothing: give one";
      },
      "", "non-empty path");
}

}  // namespace starling::apps
