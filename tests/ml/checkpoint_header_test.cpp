// Crafted checkpoint headers, with checksums that hold: each is refused as
// corrupt with a message that names the file and what is wrong in starling's
// words. nlohmann's exception text ("[json.exception.type_error.302] type
// must be string, but is number") reached the user before.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>

#include "../common/temp_dir.h"
#include "starling/ml/checkpoint.h"

using namespace starling;
using namespace starling::ml;
using starling::testing::TempDir;

namespace {

// A checkpoint file split into its header's text and what surrounds it.
struct Parts {
  std::string magic_line;
  std::string header;
  std::string payload;
};

Parts saved_parts(const std::string& path) {
  Checkpoint c;
  c.spec = *ModelSpec::parse("mlp:4");
  c.inputs = 3;
  c.classes = 2;
  c.parameters = Eigen::VectorXf::Ones(Eigen::Index(Mlp::parameter_count_for(c.spec, c.inputs, c.classes)));
  c.optimizer_state = {Eigen::VectorXf::Zero(c.parameters.size())};
  c.metadata = {{"data", "toy.csv"}};
  REQUIRE(save_checkpoint(path, c).ok());
  std::ifstream in(path, std::ios::binary);
  Parts parts;
  std::string size_line;
  std::getline(in, parts.magic_line);
  std::getline(in, size_line);
  parts.header.resize(std::stoul(size_line));
  in.read(parts.header.data(), std::streamsize(parts.header.size()));
  parts.payload.assign(std::istreambuf_iterator<char>(in), {});
  return parts;
}

// Writes `parts` with `header` in place of theirs, under a checksum that matches it.
void write_with_header(const std::string& path, const Parts& parts, const std::string& header) {
  char size_line[64];
  std::snprintf(size_line, sizeof size_line, "%zu %lx", header.size(),
                crc32(0L, reinterpret_cast<const Bytef*>(header.data()), uInt(header.size())));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << parts.magic_line << '\n' << size_line << '\n' << header << parts.payload;
}

std::string edited(const std::string& header, void (*edit)(nlohmann::json&)) {
  auto json = nlohmann::json::parse(header);
  edit(json);
  return json.dump();
}

// Sets the training counters and the run layout keys (docs/checkpoints.md,
// "Resuming"; "" leaves a key out, as an older starling did).
void counters(nlohmann::json& j, std::int64_t step, std::int64_t samples, double epoch, const std::string& batch,
              const std::string& shard_samples) {
  j["step"] = step;
  j["samples"] = samples;
  j["epoch"] = epoch;
  if (!batch.empty()) j["metadata"]["batch"] = batch;
  if (!shard_samples.empty()) j["metadata"]["shard_samples"] = shard_samples;
}

// `header` with the first `from` replaced by `to` (text the JSON library
// would not write, such as 1e400).
std::string replaced(std::string header, const std::string& from, const std::string& to) {
  const auto at = header.find(from);
  REQUIRE(at != std::string::npos);
  return header.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("a crafted checkpoint header is corrupt, in starling's words") {
  TempDir dir;
  const std::string path = (dir.path / "crafted.ckpt").string();
  const Parts parts = saved_parts(path);
  REQUIRE(load_checkpoint(path).ok());
  const std::string& h = parts.header;

  const std::vector<std::pair<std::string, std::string>> crafted = {
      // Bad JSON.
      {h.substr(0, h.size() - 1), "the header is not valid JSON (at byte"},
      {"{\"model\": \"mlp:4\",}", "the header is not valid JSON (at byte 19)"},
      {std::string(h.size(), '\0'), "the header is not valid JSON"},
      {"[1, 2]", "the header is not a JSON object: [1,2]"},
      // A field of the wrong type.
      {edited(h, [](auto& j) { j["model"] = 8; }), "'model' is not text: 8"},
      {edited(h, [](auto& j) { j["epoch"] = "1.5"; }), "'epoch' is not a number: \"1.5\""},
      {edited(h, [](auto& j) { j["optimizer"] = nlohmann::json::array(); }), "'optimizer' is not an object: []"},
      {edited(h, [](auto& j) { j["optimizer"]["nesterov"] = "yes"; }), "'optimizer.nesterov' is not true or false"},
      {edited(h, [](auto& j) { j["optimizer"]["kind"] = "lbfgs"; }), "'optimizer.kind': unknown optimizer"},
      {edited(h, [](auto& j) { j["metadata"]["data"] = 5; }), "'metadata.data' is not text: 5"},
      {edited(h, [](auto& j) { j["metadata"] = "toy.csv"; }), "'metadata' is not an object"},
      {edited(h, [](auto& j) { j["vectors"] = {{1}}; }), "'a vector's length' is not a whole number: array"},
      {edited(h, [](auto& j) { j["step"] = nullptr; }), "'step' is not a whole number: null"},
      {edited(h, [](auto& j) { j["model"] = "cnn:3"; }), "'model': unknown model spec 'cnn:3' (expected"},
      {edited(h, [](auto& j) { j["model"] = std::string(5000, 'x'); }), "'model': unknown model spec \"xxxx"},
      // A field missing.
      {edited(h, [](auto& j) { j.erase("inputs"); }), "field 'inputs' is missing"},
      {edited(h, [](auto& j) { j["optimizer"].erase("epsilon"); }), "field 'optimizer.epsilon' is missing"},
      {edited(h, [](auto& j) { j.erase("payload_crc32"); }), "field 'payload_crc32' is missing"},
      // Huge numbers.
      {replaced(h, "\"epoch\":0.0", "\"epoch\":1e400"), "the header holds a number too large for any field"},
      {replaced(h, "\"momentum\":", "\"momentum\":-1e999,\"x\":"), "the header holds a number too large"},
      {replaced(h, "\"inputs\":3", "\"inputs\":123456789012345678901234567890"), "'inputs' is not a whole number"},
      {edited(h, [](auto& j) { j["classes"] = 1ull << 40; }), "'classes' is out of range: 1099511627776"},
      {edited(h, [](auto& j) { j["samples"] = 1e300; }), "'samples' is not a whole number: 1e+300"},
      {edited(h, [](auto& j) { j["data_mean"] = 1e300; }), "'data_mean' is out of range for a float"},
      // Negative sizes and counters.
      {edited(h, [](auto& j) { j["payload_bytes"] = -8; }), "'payload_bytes' is out of range: -8"},
      {edited(h, [](auto& j) { j["vectors"] = {-5, -5}; }), "a stored vector has -5 values"},
      {edited(h, [](auto& j) { j["inputs"] = -3; }), "bad model shape"},
      {edited(h, [](auto& j) { j["step"] = -1; }), "negative step"},
      // Counters a resumed run would overflow (samples += batch at INT64_MAX).
      {edited(h, [](auto& j) { j["samples"] = 9223372036854775800ll; }), "counters above 2^53"},
      {edited(h, [](auto& j) { j["step"] = (1ll << 53) + 1; }), "counters above 2^53"},
      // A version other than the first line's (it was never read).
      {edited(h, [](auto& j) { j["version"] = 0; }), "'version' is 0, not 1 as the file's first line says"},
      {edited(h, [](auto& j) { j.erase("version"); }), "field 'version' is missing"},
      // Counters no run writes: step 938 with no samples resumed, and the
      // run then said "1.00 epochs" after two.
      {edited(h, [](auto& j) { j["step"] = 938; }), "step 938 with 0 samples: every step trains at least one"},
      {edited(h, [](auto& j) { counters(j, 2, 128, 1.0, "64", "100"); }), "a shard of 100 samples makes that epoch"},
      {edited(h, [](auto& j) { counters(j, 2, 128, 0.0, "64", ""); }), "no epoch without samples, nor samples"},
      {edited(h, [](auto& j) { counters(j, 0, 0, 0.5, "", ""); }), "no epoch without samples, nor samples"},
  };
  for (const auto& [header, expected] : crafted) {
    write_with_header(path, parts, header);
    auto loaded = load_checkpoint(path);
    INFO("header: " << header.substr(0, 200));
    REQUIRE_FALSE(loaded.ok());
    const std::string& message = loaded.error().message;
    INFO("message: " << message);
    CHECK(loaded.error().kind == ErrorKind::corrupt);
    CHECK(message.find("checkpoint " + path + " is corrupt: ") == 0);
    CHECK(message.find(expected) != std::string::npos);
    CHECK(message.find("json.exception") == std::string::npos);
    CHECK(message.size() < 300);  // a long field is cut, not repeated whole
  }
}

TEST_CASE("a header with fields this starling does not know still loads") {
  TempDir dir;
  const std::string path = (dir.path / "newer.ckpt").string();
  const Parts parts = saved_parts(path);
  write_with_header(path, parts, edited(parts.header, [](auto& j) { j["comment"] = {{"from", "a later starling"}}; }));
  CHECK(load_checkpoint(path).ok());
}

// What `train` and `peer` write, resumed runs too: a step takes 1 to `batch`
// samples (fewer at an epoch's end; a resumed peer starts its batch order
// over), the epoch is samples over the shard's size, and an older starling
// recorded neither.
TEST_CASE("the training counters every run writes still load") {
  TempDir dir;
  const std::string path = (dir.path / "run.ckpt").string();
  const Parts parts = saved_parts(path);
  REQUIRE(load_checkpoint(path).ok());
  const std::vector<std::string> consistent = {
      edited(parts.header, [](auto& j) { counters(j, 2, 100, 1.0, "64", "100"); }),   // 64 + 36: an epoch
      edited(parts.header, [](auto& j) { counters(j, 3, 164, 1.64, "64", "100"); }),  // and 64 more
      edited(parts.header, [](auto& j) { counters(j, 3, 192, 1.92, "64", "100"); }),  // 64 each: resumed by a peer
      edited(parts.header, [](auto& j) { counters(j, 938, 60000, 1.0, "64", "60000"); }),
      edited(parts.header, [](auto& j) { counters(j, 5, 320, 3.2, "", ""); }),  // no layout recorded
      edited(parts.header, [](auto& j) { counters(j, 0, 0, 0.0, "64", "100"); }),
  };
  for (const std::string& header : consistent) {
    INFO("header: " << header);
    write_with_header(path, parts, header);
    auto loaded = load_checkpoint(path);
    CHECK(loaded.ok());
    if (!loaded) FAIL_CHECK(loaded.error().message);
  }
}
