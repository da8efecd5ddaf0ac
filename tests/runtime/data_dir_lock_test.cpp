// runtime::DataDirLock: one holder per data dir; the second is told who holds
// it; the lock goes with its holder (and not with a moved-from one).
#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "starling/runtime/data_dir_lock.h"
#include "../common/temp_dir.h"

using namespace starling;
using namespace starling::runtime;
namespace fs = std::filesystem;
using starling::testing::TempDir;

TEST_CASE("data dir lock: a second holder is refused and told the first one's pid", "[runtime][data_dir]") {
  TempDir a;
  TempDir b;
  auto first = DataDirLock::acquire(a.path);
  REQUIRE(first.ok());
  CHECK(first->path() == a.path / DataDirLock::kFileName);
  std::ifstream file(first->path());
  long written = 0;
  file >> written;
  CHECK(written == ::getpid());
  CHECK((fs::status(first->path()).permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);

  auto second = DataDirLock::acquire(a.path);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().kind == ErrorKind::invalid_argument);
  CHECK(second.error().message ==
        "data dir " + a.path.string() + " is in use by another starling peer in this process (pid " +
            std::to_string(::getpid()) +
            "): leave() that peer first (Python: peer.leave() or a `with` block), or give each peer its own data dir");

  auto other = DataDirLock::acquire(b.path);  // another dir is another lock
  CHECK(other.ok());

  std::optional<DataDirLock> moved(std::move(*first));  // the lock moves; the moved-from one holds nothing
  CHECK_FALSE(DataDirLock::acquire(a.path).ok());
  moved.reset();
  CHECK(DataDirLock::acquire(a.path).ok());  // released with its holder; the file stays
  CHECK(fs::exists(a.path / DataDirLock::kFileName));
}

TEST_CASE("data dir lock: a data dir that does not exist is an io error", "[runtime][data_dir]") {
  TempDir a;
  auto lock = DataDirLock::acquire(a.path / "missing");
  REQUIRE_FALSE(lock.ok());
  CHECK(lock.error().kind == ErrorKind::io);
  CHECK(lock.error().message.find("cannot open") != std::string::npos);
}
