// What `starling scenario` and `starling simulate` make of a scenario's own
// words: the default report folder.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

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
  for (const char* name : {"../../escaped", "/tmp/x", "..", "a/../../b"}) {
    INFO(name);
    const fs::path dir = default_report_dir(name, "-sim");
    CHECK(dir.parent_path() == "scenario-runs");
    CHECK(dir.lexically_normal().parent_path() == "scenario-runs");
    CHECK(dir.filename().string().find("-sim-") != std::string::npos);
  }
}
