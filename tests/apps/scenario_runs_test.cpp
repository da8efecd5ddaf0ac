// What `starling scenario` and `starling simulate` make of a scenario's own
// words: the default report folder, and the line quoted for a peer that
// ended at start.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "peer_exit_reason.h"
#include "report_folder.h"

using namespace starling::apps;
namespace fs = std::filesystem;

TEST_CASE("a scenario's name becomes one safe folder under scenario-runs/", "[apps][scenario]") {
  CHECK(safe_folder_name("crash-one") == "crash-one");
  CHECK(safe_folder_name("v1.2_fast") == "v1.2_fast");
  // `name = "../../escaped"` wrote to scenario-runs/../../escaped-sim-...,
  // `name = "/tmp/x"` to /tmp/x-sim-...
  CHECK(safe_folder_name("../../escaped") == "_.._escaped");
  CHECK(safe_folder_name("/tmp/x") == "_tmp_x");
  CHECK(safe_folder_name("..") == "scenario");
  CHECK(safe_folder_name(".hidden") == "hidden");
  CHECK(safe_folder_name("two words\n") == "two_words_");
  CHECK(safe_folder_name("") == "scenario");
  CHECK(safe_folder_name(std::string(300, 'a')).size() == 100);
  // The default folders are made in the working directory: a scratch one.
  std::string scratch = (fs::temp_directory_path() / "starling-report-dirs-XXXXXX").string();
  REQUIRE(::mkdtemp(scratch.data()) != nullptr);
  const fs::path before = fs::current_path();
  fs::current_path(scratch);
  for (const char* name : {"../../escaped", "/tmp/x", "..", "a/../../b"}) {
    INFO(name);
    auto claimed = claim_default_report_dir(name, "-sim");
    REQUIRE(claimed.ok());
    const fs::path dir = *claimed;
    CHECK(dir.parent_path() == "scenario-runs");
    CHECK(dir.lexically_normal().parent_path() == "scenario-runs");
    CHECK(dir.filename().string().find("-sim-") != std::string::npos);
    CHECK(fs::is_directory(dir));
  }
  // Runs started in the same second each get their own (the second was refused).
  auto first = claim_default_report_dir("same", "");
  auto second = claim_default_report_dir("same", "");
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(*first != *second);
  fs::current_path(before);
  fs::remove_all(scratch);
}

namespace {

std::string reason_of(const std::string& log_text) {
  std::string pattern = (fs::temp_directory_path() / "starling-exit-reason-XXXXXX").string();
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  const fs::path log = fs::path(pattern) / "peer-0.log";
  std::ofstream(log) << log_text;
  std::string reason = peer_exit_reason(log);
  fs::remove_all(pattern);
  return reason;
}

}  // namespace

TEST_CASE("a peer that ended at start is quoted by its error line, not CLI11's help hint", "[apps][scenario]") {
  const std::string marker = "==== starling scenario: starting peer 0 (life 1) at 0.0 s on port 4000 ====\n";
  // The runner quoted "Run with --help for more information.".
  CHECK(reason_of(marker + "--lr: 'nan' is not a finite number\nRun with --help for more information.\n") ==
        "--lr: 'nan' is not a finite number");
  CHECK(reason_of(marker + "2026-01-01T00:00:00.000Z info created identity x (mode 0600)\n"
                           "starling peer: error: --data 'x' is neither a known data set\n\n") ==
        "starling peer: error: --data 'x' is neither a known data set");
  // Only the last life counts: an earlier life's error is not this exit's.
  CHECK(reason_of("starling peer: error: old\n" + marker + "something else\n") == "something else");
  CHECK(reason_of(marker) == "");
}
