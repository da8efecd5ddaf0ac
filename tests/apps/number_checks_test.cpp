// check_numbers: every numeric option of the real commands takes plain finite
// decimal numbers only, from the command line and from --config alike.
#include <catch2/catch.hpp>

#include <CLI/CLI.hpp>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"
#include "config_file.h"
#include "number_checks.h"

using namespace starling;

namespace {

std::string integer(std::string text, bool is_unsigned) {
  const std::string why = apps::check_integer_text(text, is_unsigned);
  return why.empty() ? text : "error: " + why;
}

// Parses `starling LEADING... ARGS...` with one subcommand added as main()
// adds it; returns CLI11's message, or "" when the arguments were accepted.
std::string parse_error(apps::Command (*add_command)(CLI::App&), std::vector<std::string> leading,
                        std::vector<std::string> args) {
  CLI::App root("test");
  apps::Command command = add_command(root);
  apps::check_numbers(root);
  args.insert(args.begin(), leading.begin(), leading.end());
  std::reverse(args.begin(), args.end());
  try {
    root.parse(args);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return "";
}

std::string peer_error(std::vector<std::string> args) {
  return parse_error(apps::add_peer_command, {"peer", "--listen", "127.0.0.1:7000"}, std::move(args));
}

}  // namespace

TEST_CASE("number checks: integers are plain decimal and fit", "[apps][numbers]") {
  CHECK(integer("10", false) == "10");
  CHECK(integer("010", false) == "10");  // not octal 8
  CHECK(integer("-0", true) == "0");
  CHECK(integer("-12", false) == "-12");
  CHECK(integer("+7", true) == "7");
  CHECK(integer("18446744073709551615", true) == "18446744073709551615");
  CHECK(integer("18446744073709551616", true).starts_with("error: "));  // 2^64 used to saturate
  CHECK(integer("-1", true).starts_with("error: "));                    // used to wrap to 2^64-1
  CHECK(integer("9223372036854775808", false).starts_with("error: "));
  for (const char* bad : {"", "-", "0x10", "1e3", "1.5", "nan", " 1", "1 ", "true"})
    CHECK(integer(bad, false).starts_with("error: "));
}

std::string float_text(std::string text) {
  const std::string why = apps::check_float_text(text);
  return why.empty() ? text : "error: " + why;
}

TEST_CASE("number checks: floats are finite", "[apps][numbers]") {
  CHECK(float_text("0.5") == "0.5");
  CHECK(float_text("1e-3") == "1e-3");
  CHECK(float_text(".5") == ".5");
  CHECK(float_text("1e-310") == "1e-310");  // subnormal, still a number
  CHECK(float_text("+0.5") == "0.5");       // the form --print-config can write back
  for (const char* bad : {"nan", "NaN", "-nan", "inf", "-inf", "1e999", "", "abc", "1.5x"})
    CHECK(float_text(bad).starts_with("error: "));
}

TEST_CASE("number checks: floats are plain decimal", "[apps][numbers]") {
  // strtod read these, and --print-config wrote 0x1p-4 back as a string that
  // --config then refused ('lr' wants a number).
  for (const char* bad : {"0x1p-4", "0X1P-4", "-0x1.8p1", "infinity", " 0.5", "0.5 ", "+-1", "++1", "+"}) {
    INFO(bad);
    CHECK(float_text(bad).starts_with("error: "));
  }
  CHECK(float_text("0x1p-4") == "error: '0x1p-4' is not a plain decimal number");
  CHECK(float_text("1e-400") == "error: '1e-400' is out of range for a double");
}

TEST_CASE("number checks: the peer command refuses NaN, negative and overflowing numbers, naming the flag",
          "[apps][numbers]") {
  CHECK(peer_error({"--lr", "0.05", "--batch", "010", "--random-seed", "18446744073709551615"}).empty());
  // NaN used to pass CLI::Range, since every comparison with NaN is false.
  for (const char* flag : {"--lr", "--momentum", "--round-cpu-share", "--absorb-share", "--consensus-target",
                           "--checkpoint-every", "--gamma"}) {
    const std::string message = peer_error({flag, "nan"});
    INFO(flag << ": " << message);
    CHECK(message.find(flag) != std::string::npos);
    CHECK(message.find("not a finite number") != std::string::npos);
  }
  CHECK(peer_error({"--max-upload", "-1"}).find("--max-upload") != std::string::npos);
  CHECK(peer_error({"--random-seed", "18446744073709551616"}).find("out of range") != std::string::npos);
  CHECK(peer_error({"--warmup-steps", "18446744073709551616"}).find("out of range") != std::string::npos);
  // Past 64 bits the option's own range is named, not only "out of range".
  CHECK_THAT(peer_error({"--max-links", "1180591620717411303424"}),
             Catch::Contains("--max-links: '1180591620717411303424' is out of range (want 1 to 256)"));
  CHECK_THAT(peer_error({"--random-seed", "18446744073709551616"}),
             Catch::Contains("(want 0 to 18446744073709551615)"));
}

TEST_CASE("number checks: a config file's nan is refused like the flag's", "[apps][numbers]") {
  std::string pattern = (std::filesystem::temp_directory_path() / "starling-numbers-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  const std::filesystem::path file = std::filesystem::path(pattern) / "peer.toml";
  std::ofstream(file) << "lr = nan\n";
  CLI::App root("test");
  apps::Command peer = apps::add_peer_command(root);
  apps::check_numbers(root);
  std::vector<std::string> args = {"127.0.0.1:7000", "--listen", "peer"};  // CLI11 reads from the back
  root.parse(args);
  const Status applied = apps::apply_config_file(*peer.app, file);
  std::filesystem::remove_all(pattern);
  REQUIRE_FALSE(applied.ok());
  CHECK(applied.error().message.find("not a finite number") != std::string::npos);
}

TEST_CASE("number checks: options with a custom type name are checked by their range's kind", "[apps][numbers]") {
  // `starling scenario FILE --speed nan` passed CLI::Range and died on an
  // assertion in scenario::scaled (speed > 0).
  auto scenario_error = [](std::vector<std::string> args) {
    return parse_error(apps::add_scenario_command, {"scenario", "some.toml"}, std::move(args));
  };
  CHECK(scenario_error({"--speed", "2"}).empty());
  CHECK(scenario_error({"--speed", "nan"}).find("not a finite number") != std::string::npos);
  CHECK(scenario_error({"--peers", "0x10"}).find("--peers") != std::string::npos);
  CHECK(peer_error({"--local-average-every", "nan"}).find("--local-average-every") != std::string::npos);
}
