// runtime::AcceptFailureNotice: accept() out of file descriptors is said,
// naming the cause and the limit, at most once per interval.
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "starling/runtime/accept_failures.h"

using starling::runtime::AcceptFailure;
using starling::runtime::AcceptFailureNotice;
using Catch::Matchers::Contains;

TEST_CASE("accept() out of file descriptors is said, with the limit, once a minute", "[runtime][accept]") {
  AcceptFailureNotice notice;
  const std::string detail = "accept: too many open files (EMFILE)";
  const auto first = notice.failed(AcceptFailure::process_file_limit, detail, 1'000, 1024);
  REQUIRE(first);
  CHECK_THAT(*first, Contains("too many open files (EMFILE)"));
  CHECK_THAT(*first, Contains("out of file descriptors"));
  CHECK_THAT(*first, Contains("is 1024"));
  // libuv calls back for every failed accept, in a loop: the log must not flood.
  for (std::uint64_t ms = 1'001; ms < 61'000; ms += 7)
    CHECK_FALSE(notice.failed(AcceptFailure::process_file_limit, detail, ms, 1024));
  const auto next = notice.failed(AcceptFailure::process_file_limit, detail, 61'000, 1024);
  REQUIRE(next);
  CHECK_THAT(*next, Contains("more failed accepts since the last warning"));
  CHECK(notice.failures() > 8000);
}

TEST_CASE("accept() failures name the system's table and unknown limits", "[runtime][accept]") {
  AcceptFailureNotice notice(10);
  const auto system =
      notice.failed(AcceptFailure::system_file_limit, "accept: file table overflow (ENFILE)", 0, std::nullopt);
  REQUIRE(system);
  CHECK_THAT(*system, Contains("open-file table is full"));
  CHECK_THAT(*system, Contains("unlimited"));
  CHECK_FALSE(notice.failed(AcceptFailure::other, "accept: x", 5, 64));
  const auto other = notice.failed(AcceptFailure::other, "accept: x", 10, 64);
  REQUIRE(other);
  CHECK_THAT(*other, Contains("(1 more failed accepts"));
}
