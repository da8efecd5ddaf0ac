// A CLI11 check that runs the option's own parser (a function of the text
// returning Result<...>) and reports its message. The value is checked while
// the flags (or config keys, or embed settings) are read, so a bad one is
// refused before a command makes anything, in the parser's words.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace starling::apps {

template <class Parse>
CLI::Validator parsed_check(Parse parse, const std::string& description) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        auto parsed = parse(text);
        return parsed ? std::string() : parsed.error().message;
      },
      description);
}

}  // namespace starling::apps
