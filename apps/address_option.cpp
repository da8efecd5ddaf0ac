// See address_option.h.
#include "address_option.h"

#include <string>

#include "starling/runtime/numeric_address.h"

namespace starling::apps {

CLI::Validator numeric_address_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto parsed = runtime::parse_numeric_address(text);
        return parsed ? std::string() : parsed.error().message;
      },
      "", "numeric HOST:PORT");
}

}  // namespace starling::apps
