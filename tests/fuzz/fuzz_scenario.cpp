// libFuzzer target for the scenario parser (scenario::parse_scenario): any
// text, TOML or not. Property beyond "no crash, no leak, no UB, no uncaught
// exception": a refusal is invalid_argument and names the source, as
// docs/scenarios.md promises ("FILE:LINE:COLUMN: ..." or "FILE: ...").
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.h"
#include "starling/scenario/parse.h"

using namespace starling;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = scenario::parse_scenario(text, "fuzz.toml");
  if (!parsed.ok()) {
    if (parsed.error().kind != ErrorKind::invalid_argument) {
      fuzz::property_failed("fuzz_scenario", "unexpected error kind: " + parsed.error().message);
    }
    if (parsed.error().message.rfind("fuzz.toml", 0) != 0) {
      fuzz::property_failed("fuzz_scenario", "an error that does not name the file: " + parsed.error().message);
    }
  }
  return 0;
}
