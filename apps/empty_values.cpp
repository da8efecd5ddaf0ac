// See empty_values.h.
#include "empty_values.h"

#include <string_view>

namespace starling::apps {

std::vector<std::string> split_empty_values(int argc, const char* const* argv) {
  std::vector<std::string> out;
  out.reserve(std::size_t(argc > 0 ? argc : 0) + 2);
  bool options_ended = false;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i > 0 && !options_ended) {
      if (arg == "--") {
        options_ended = true;
      } else if (arg.size() > 3 && arg.starts_with("--") && arg.back() == '=' &&
                 arg.find('=') == arg.size() - 1) {
        out.emplace_back(arg.substr(0, arg.size() - 1));
        out.emplace_back();
        continue;
      }
    }
    out.emplace_back(arg);
  }
  return out;
}

}  // namespace starling::apps
