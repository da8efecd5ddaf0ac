#include <catch2/catch.hpp>

#include <string>

#include "json_fields.h"
#include "status_table.h"

using nlohmann::json;
using starling::apps::status_json;
using starling::apps::status_table;

TEST_CASE("status table: a peer's own answer", "[apps][status]") {
  const json status = json::parse(R"({"node_id": "14a496a56d780e682f6dcacc", "address": "127.0.0.1:7600",
    "uptime_seconds": 9.04, "incarnation": 3, "health_score": 1, "joined": true, "bytes_sent": 224,
    "bytes_received": 384, "datagrams_rejected": 0,
    "members": [{"node_id": "ab12cd34ef56ab12cd34", "address": "127.0.0.1:7601", "state": "alive",
                 "incarnation": 2, "state_age_seconds": 4.5}]})");
  const std::string table = status_table(status);
  CHECK(table.find("node      14a496a56d780e682f6dcacc\n") != std::string::npos);
  CHECK(table.find("uptime    9.0 s   incarnation 3   health 1   joined\n") != std::string::npos);
  CHECK(table.find("traffic   224 bytes sent, 384 received, 0 datagrams rejected\n") != std::string::npos);
  CHECK(table.find("ab12cd34ef56   127.0.0.1:7601           alive              2       4.5\n") != std::string::npos);
  CHECK(table.find("(1 other member)\n") != std::string::npos);
}

TEST_CASE("status table: a training peer's step, accuracies, links and upload", "[apps][status]") {
  // The plain table had no training figure at all (only --json had).
  const json status = json::parse(R"({"node_id": "14", "joined": true, "training": {"state": "training",
    "step": 12000, "train_loss": 0.41234, "test_accuracy": 0.8691, "evaluated_at_step": 12000,
    "local_average_accuracy": 0.8712, "local_average_neighbours": 2,
    "neighbours": [{"ready": true}, {"ready": false}, {"ready": true}],
    "upload_budget_bytes_per_second": 1000000, "upload_bytes_per_second": 950123.4}})");
  const std::string table = status_table(status);
  CHECK(table.find("training  training   step 12000   train loss 0.4123   links 2/3 ready\n") != std::string::npos);
  CHECK(table.find("accuracy  own 86.91% (step 12000)   local average 87.12% (2 neighbours)\n") != std::string::npos);
  CHECK(table.find("upload    950123 B/s of a 1000000 B/s budget\n") != std::string::npos);
  // Not evaluated yet, no budget; a membership-only peer has no such lines.
  const std::string fresh = status_table(json::parse(R"({"training": {"state": "starting", "test_accuracy": null,
    "upload_budget_bytes_per_second": 0}})"));
  CHECK(fresh.find("accuracy  own - (step 0)   local average - (0 neighbours)\n") != std::string::npos);
  CHECK(fresh.find("upload    0 B/s of no budget\n") != std::string::npos);
  CHECK(status_table(json::parse(R"({"node_id": "14"})")).find("training") == std::string::npos);
}

TEST_CASE("status table: a hostile answer's wrong types and control bytes", "[apps][status]") {
  // Each of these threw out of nlohmann's value() before (exit 1), or reached
  // the terminal as an escape sequence.
  const json status = json::parse(R"({"node_id": 5, "address": "\u001b]0;owned\u0007", "joined": "yes",
    "health_score": 1e300, "members": [7, {"node_id": ["x"], "state": {"a": 1}, "address": "a\u001b[2Jb"}]})");
  std::string table;
  REQUIRE_NOTHROW(table = status_table(status));
  CHECK(table.find('\x1b') == std::string::npos);
  CHECK(table.find('\a') == std::string::npos);
  CHECK(table.find("node      ?\n") != std::string::npos);
  CHECK(table.find("address   ?]0;owned?\n") != std::string::npos);
  CHECK(table.find("health 0   not joined yet") != std::string::npos);
  CHECK(table.find("a?[2Jb") != std::string::npos);
  CHECK(table.find("(1 other member)\n") != std::string::npos);  // the 7 is no member
  REQUIRE_NOTHROW(status_table(json::parse(R"({"members": {"node_id": "x"}})")));
  REQUIRE_NOTHROW(status_table(json::parse(R"({"training": {"state": {"a": 1}, "neighbours": [1, {"ready": "y"}],
    "step": -5, "train_loss": "x", "local_average_neighbours": 1e300}})")));
  REQUIRE_NOTHROW(status_table(json::array()));
}

TEST_CASE("status --json writes the answer again, or refuses it", "[apps][status]") {
  CHECK(status_json(R"({"b": 1, "a": "x\u001by", "c": [1, {"d": null}]})") ==
        R"({"b":1,"a":"x\u001by","c":[1,{"d":null}]})");  // order kept, ESC escaped
  CHECK(status_json("{\"a\": \"caf\xc3\xa9\"}") == R"({"a":"caf\u00e9"})");
  CHECK(status_json("{\"a\": \"\xff\"}").empty());  // not UTF-8: no JSON (a peer writes U+FFFD)
  CHECK(status_json("not json").empty());
  CHECK(status_json("[1, 2]").empty());
  CHECK(status_json("").empty());
  // A million '[': parsed without recursion, but dump() recursed once per
  // level and overflowed the stack.
  const std::string deep = "{\"a\": " + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}";
  CHECK(status_json(deep).empty());
  const std::string nested_ok = "{\"a\": " + std::string(30, '[') + std::string(30, ']') + "}";
  CHECK_FALSE(status_json(nested_ok).empty());
}

TEST_CASE("text_or, flag_or, printable", "[apps][json]") {
  using starling::apps::flag_or;
  using starling::apps::printable;
  using starling::apps::text_or;
  const json object = json::parse(R"({"s": "v", "n": 1, "b": true, "f": false})");
  CHECK(text_or(object, "s", "?") == "v");
  CHECK(text_or(object, "n", "?") == "?");
  CHECK(text_or(object, "missing", "") == "");
  CHECK(text_or(json::array(), "s", "?") == "?");
  CHECK(flag_or(object, "b", false));
  CHECK_FALSE(flag_or(object, "f", true));
  CHECK(flag_or(object, "s", true));  // not a boolean: the fallback
  CHECK(printable("a\tb\x1b\x7f\xc3\xa9z") == "a?b????z");
}
