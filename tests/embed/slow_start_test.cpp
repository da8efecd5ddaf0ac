// A peer whose loop thread starts late (a loaded machine), simulated with
// the test hook STARLING_EMBED_TEST_LOOP_START_DELAY_MS: join() and leave()
// must still return, bounded. They hung: a stop that came before the loop
// thread published its loop was lost, and the loop then ran for good.
#include <catch2/catch.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "starling/embed.h"
#include "temp_dir.h"

namespace fs = std::filesystem;
using starling::ErrorKind;
using starling::Status;
using starling::embed::ModelLayout;
using starling::embed::Peer;
using Clock = std::chrono::steady_clock;

namespace {

using starling::embed_test::TempDir;

// The hook, set for one test case.
struct LoopStartDelay {
  explicit LoopStartDelay(const char* ms) { ::setenv("STARLING_EMBED_TEST_LOOP_START_DELAY_MS", ms, 1); }
  ~LoopStartDelay() { ::unsetenv("STARLING_EMBED_TEST_LOOP_START_DELAY_MS"); }
};

// A hang is this test's failure: report it and end the process rather than
// leave ctest waiting for its timeout (the hung thread cannot be joined).
template <typename T>
T within(std::future<T>& result, std::chrono::seconds bound, const char* what) {
  if (result.wait_for(bound) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: %s did not return within %lld s\n", what, static_cast<long long>(bound.count()));
    std::_Exit(1);
  }
  return result.get();
}

std::unique_ptr<Peer> make_peer(const TempDir& dir) {
  auto made = Peer::create({{"listen", "127.0.0.1:0"}, {"data-dir", (dir.path / "p").string()}});
  REQUIRE(made);
  return std::move(*made);
}

}  // namespace

TEST_CASE("embedded peers: leave() during a slow loop start returns promptly", "[embed]") {
  TempDir dir;
  LoopStartDelay delay("60000");
  std::vector<float> a(100, 1.0f);
  auto peer = make_peer(dir);
  REQUIRE(peer->attach(a.data(), a.size(), ModelLayout{"toy", {{100}}}));
  auto joined = std::async(std::launch::async, [&] { return peer->join(60'000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto t0 = Clock::now();
  auto left = std::async(std::launch::async, [&] { return peer->leave(); });
  CHECK(within(left, std::chrono::seconds(15), "leave()"));
  CHECK(Clock::now() - t0 < std::chrono::seconds(3));
  const Status join_result = within(joined, std::chrono::seconds(5), "join()");
  REQUIRE_FALSE(join_result);
  CHECK(join_result.error().kind == ErrorKind::disconnected);
  CHECK_THAT(join_result.error().message, Catch::Contains("left while joining"));
  CHECK(peer->status()->state == "left");
}

TEST_CASE("embedded peers: a loop that starts after join()'s listen wait does not hang join() or leave()",
          "[embed]") {
  TempDir dir;
  LoopStartDelay delay("12000");  // past the 10 s listen wait
  auto peer = make_peer(dir);
  const auto t0 = Clock::now();
  auto joined = std::async(std::launch::async, [&] { return peer->join(60'000); });
  const Status join_result = within(joined, std::chrono::seconds(30), "join()");
  CHECK(Clock::now() - t0 < std::chrono::seconds(12));  // the 10 s wait, not the late start
  REQUIRE_FALSE(join_result);
  CHECK(join_result.error().kind == ErrorKind::timeout);
  CHECK_THAT(join_result.error().message, Catch::Contains("did not start within 10 s"));
  auto left = std::async(std::launch::async, [&] { return peer->leave(); });
  CHECK(within(left, std::chrono::seconds(5), "leave()"));
  CHECK(peer->status()->state == "failed");
  // The data dir is free again: the abandoned start released it.
  CHECK(Peer::create({{"listen", "127.0.0.1:0"}, {"data-dir", (dir.path / "p").string()}}));
}
