// The one way a command reports an error on stderr: "COMMAND: error: MESSAGE".
// Messages quote what the user gave (a path, a config value, a flag's text),
// which may hold a NUL (printf would cut the line there) or an escape
// sequence: the message is made printable here (starling::printable), so no
// message needs to remember it. Line breaks a message holds on purpose stay.
#pragma once

#include <string_view>

namespace starling::apps {

void print_error(std::string_view command, std::string_view message);
// "COMMAND: warning: MESSAGE", made printable the same way.
void print_warning(std::string_view command, std::string_view message);

}  // namespace starling::apps
