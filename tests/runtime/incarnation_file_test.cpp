// runtime::FileIncarnationStore: an absent file is "never ran"; a saved
// number reads back; anything else (text, negative, past 2^64-1, empty, a
// folder, a device) is an error naming the file, never a silent 0; a save
// leaves no temporary file and replaces what was there whole.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "starling/runtime/incarnation_file.h"
#include "../common/temp_dir.h"

using namespace starling;
using namespace starling::runtime;
namespace fs = std::filesystem;
using starling::testing::TempDir;

namespace {

void write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

}  // namespace

TEST_CASE("incarnation file: absent, then saved and read back", "[runtime][incarnation]") {
  TempDir dir;
  const fs::path path = dir.path / "incarnation";
  auto fresh = FileIncarnationStore::open(path);
  REQUIRE(fresh.ok());
  CHECK_FALSE((*fresh)->load().has_value());
  REQUIRE((*fresh)->save(41).ok());
  CHECK((*fresh)->load() == std::optional<std::uint64_t>(41));
  REQUIRE((*fresh)->save(std::uint64_t{1} << 62).ok());  // the largest a file may hold

  auto again = FileIncarnationStore::open(path);
  REQUIRE(again.ok());
  CHECK((*again)->load() == std::optional<std::uint64_t>(std::uint64_t{1} << 62));
  for (const auto& entry : fs::directory_iterator(dir.path))  // the temporary file was renamed away
    CHECK(entry.path().filename() == "incarnation");
}

TEST_CASE("incarnation file: a number with surrounding white space reads", "[runtime][incarnation]") {
  TempDir dir;
  const fs::path path = dir.path / "incarnation";
  write(path, "  7\r\n");
  auto store = FileIncarnationStore::open(path);
  REQUIRE(store.ok());
  CHECK((*store)->load() == std::optional<std::uint64_t>(7));
}

TEST_CASE("incarnation file: a damaged file is an error naming it, never incarnation 0", "[runtime][incarnation]") {
  TempDir dir;
  const fs::path path = dir.path / "incarnation";
  const auto [text, why] = GENERATE(table<std::string, std::string>({
      {"garbage\n", "does not hold one unsigned decimal number"},
      {"-1\n", "does not hold one unsigned decimal number"},
      {"+3\n", "does not hold one unsigned decimal number"},
      {"12abc\n", "does not hold one unsigned decimal number"},
      {"3 4\n", "does not hold one unsigned decimal number"},
      {"18446744073709551616\n", "past 2^64-1"},
      {"18446744073709551615\n", "above 2^62"},  // the next start wrapped to 0
      {"", "is empty"},
      {"\n", "is empty"},
      {std::string(100, '1'), "longer than one number"},
  }));
  CAPTURE(text);
  write(path, text);
  auto store = FileIncarnationStore::open(path);
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().kind == ErrorKind::corrupt);
  CHECK_THAT(store.error().message, Catch::Contains(path.string()) && Catch::Contains(why) &&
                                        Catch::Contains("remove the file"));
}

TEST_CASE("incarnation file: a folder or a device there is refused", "[runtime][incarnation]") {
  TempDir dir;
  const fs::path folder = dir.path / "incarnation";
  fs::create_directories(folder);
  auto store = FileIncarnationStore::open(folder);
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().kind == ErrorKind::invalid_argument);
  CHECK_THAT(store.error().message, Catch::Contains(folder.string()) && Catch::Contains("not a regular file"));

  const fs::path device = dir.path / "device";
  fs::create_symlink("/dev/zero", device);  // read as a file it would never end
  auto zero = FileIncarnationStore::open(device);
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().kind == ErrorKind::invalid_argument);
}

TEST_CASE("incarnation file: a save replaces the whole file", "[runtime][incarnation]") {
  TempDir dir;
  const fs::path path = dir.path / "incarnation";
  write(path, "123456789\n");
  auto store = FileIncarnationStore::open(path);
  REQUIRE(store.ok());
  REQUIRE((*store)->save(2).ok());
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "2\n");
}

TEST_CASE("incarnation file: a symlink reads through, a dangling one is refused, not 'never ran'",
          "[runtime][incarnation]") {
  TempDir dir;
  const fs::path target = dir.path / "kept";
  write(target, "9\n");
  const fs::path link = dir.path / "incarnation";
  fs::create_symlink(target, link);
  auto store = FileIncarnationStore::open(link);
  REQUIRE(store.ok());
  CHECK((*store)->load() == std::optional<std::uint64_t>(9));

  fs::remove(target);  // the volume it lived on is gone
  auto dangling = FileIncarnationStore::open(link);
  REQUIRE_FALSE(dangling.ok());
  CHECK(dangling.error().kind == ErrorKind::not_found);
  CHECK_THAT(dangling.error().message, Catch::Contains(link.string()) && Catch::Contains(target.string()) &&
                                           Catch::Contains("does not exist"));
  CHECK_FALSE(fs::exists(target));  // nothing was written through the link
}
