// Where `starling scenario` and `starling simulate` write a report when no
// --out is given: scenario-runs/NAME[-sim]-TIMESTAMP, with NAME taken from the
// file's `name` and made into one safe folder name.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "starling/status.h"

namespace starling::apps {

// `name` as one path component that stays where it is put: letters, digits,
// '.', '_' and '-' are kept, every other byte becomes '_', leading dots are
// dropped (no "..", no hidden folder), and it is cut to 100 bytes. A name
// with nothing left is "scenario". "../../x" -> "_.._x", "/tmp/x" -> "_tmp_x".
std::string safe_folder_name(std::string_view name);

// Makes and returns scenario-runs/SAFE_NAME + `suffix` + "-YYYYmmdd-HHMMSS"
// (local time), or the same with "-2", "-3", ... when a run started in the
// same second took that one: each run claims its own folder with one mkdir,
// so runs started together never share (the second used to be refused).
Result<std::filesystem::path> claim_default_report_dir(std::string_view name, std::string_view suffix);

}  // namespace starling::apps
