// See error_output.h.
#include "error_output.h"

#include <cstdio>
#include <string>

#include "starling/text.h"

namespace starling::apps {

namespace {
void print_line(std::string_view command, std::string_view what, std::string_view message) {
  const std::string line = printable(command) + ": " + std::string(what) + ": " + printable(message, "\n") + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}
}  // namespace

void print_error(std::string_view command, std::string_view message) { print_line(command, "error", message); }
void print_warning(std::string_view command, std::string_view message) { print_line(command, "warning", message); }

}  // namespace starling::apps
