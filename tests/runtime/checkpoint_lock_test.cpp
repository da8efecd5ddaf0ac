// runtime::CheckpointLock: one `starling train` per checkpoint; the second is
// told who has it; a checkpoint in a running peer's data dir is refused; the
// lock file goes with its holder.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "starling/runtime/checkpoint_lock.h"
#include "starling/runtime/data_dir_lock.h"
#include "../common/temp_dir.h"

using namespace starling;
using namespace starling::runtime;
namespace fs = std::filesystem;
using starling::testing::TempDir;

TEST_CASE("checkpoint lock: a second run on one checkpoint is refused and told the first one's pid",
          "[runtime][checkpoint_lock]") {
  TempDir dir;
  const fs::path checkpoint = dir.path / "model.ckpt";
  CHECK(CheckpointLock::lock_path(checkpoint) == dir.path / ".model.ckpt.lock");
  std::optional<CheckpointLock> first(CheckpointLock::acquire(checkpoint).value());
  CHECK(fs::exists(CheckpointLock::lock_path(checkpoint)));

  auto second = CheckpointLock::acquire(checkpoint);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().kind == ErrorKind::invalid_argument);
  CHECK(second.error().message == "checkpoint " + checkpoint.string() + " is being written by another starling train (pid " +
                                      std::to_string(::getpid()) +
                                      "): wait for that run to end, or give this run another --checkpoint");
  CHECK(CheckpointLock::acquire(dir.path / "other.ckpt").ok());  // another checkpoint is another lock

  std::optional<CheckpointLock> moved(std::move(*first));  // the hold moves with the object
  first.reset();
  CHECK_FALSE(CheckpointLock::acquire(checkpoint).ok());
  moved.reset();
  CHECK_FALSE(fs::exists(CheckpointLock::lock_path(checkpoint)));  // removed at release
  CHECK(CheckpointLock::acquire(checkpoint).ok());
}

TEST_CASE("checkpoint lock: a lock file a killed run left is taken over", "[runtime][checkpoint_lock]") {
  TempDir dir;
  const fs::path checkpoint = dir.path / "a.ckpt";
  std::ofstream(CheckpointLock::lock_path(checkpoint)) << "999999999\n";  // no holder: its run died
  {
    auto taken = CheckpointLock::acquire(checkpoint);
    REQUIRE(taken.ok());
  }
  CHECK_FALSE(fs::exists(CheckpointLock::lock_path(checkpoint)));
}

TEST_CASE("checkpoint lock: a checkpoint in a running peer's data dir is refused, and held against a peer",
          "[runtime][checkpoint_lock]") {
  TempDir dir;
  const fs::path checkpoint = dir.path / "model.ckpt";
  {
    auto peer = DataDirLock::acquire(dir.path);
    REQUIRE(peer.ok());
    auto refused = CheckpointLock::acquire(checkpoint);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == ErrorKind::invalid_argument);
    CHECK(refused.error().message == "checkpoint " + checkpoint.string() +
                                         " is in the data dir of a running starling peer (pid " +
                                         std::to_string(::getpid()) +
                                         "), which writes its own checkpoint there: stop that peer first, or give "
                                         "this run another --checkpoint");
    CHECK_FALSE(fs::exists(CheckpointLock::lock_path(checkpoint)));  // the refused run leaves nothing
  }
  // The peer has gone (its peer.lock stays): the run holds its data dir, so
  // no peer can start there and write the same model.ckpt meanwhile.
  std::optional<CheckpointLock> run(CheckpointLock::acquire(checkpoint).value());
  CHECK_FALSE(DataDirLock::acquire(dir.path).ok());
  run.reset();
  CHECK(DataDirLock::acquire(dir.path).ok());
  CHECK(fs::exists(dir.path / DataDirLock::kFileName));  // the peer's file is not ours to remove
}

TEST_CASE("checkpoint lock: a folder that does not exist is an io error", "[runtime][checkpoint_lock]") {
  TempDir dir;
  auto lock = CheckpointLock::acquire(dir.path / "missing" / "a.ckpt");
  REQUIRE_FALSE(lock.ok());
  CHECK(lock.error().kind == ErrorKind::io);
  CHECK(lock.error().message.find("cannot open " + (dir.path / "missing" / ".a.ckpt.lock").string()) == 0);
}
