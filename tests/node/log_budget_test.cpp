// LogBudget and remote_text (node/log_budget.h): a burst, then one line an
// interval per kind, the count of lines left out on the next one; the text
// of other machines cut short on a UTF-8 boundary.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "starling/node/log_budget.h"

using namespace starling::node;

TEST_CASE("log budget: a burst, then one line an interval, and the next line counts those left out",
          "[node][log_budget]") {
  LogBudget budget(3, 1000);
  std::uint64_t left_out = 99;
  for (int i = 0; i < 3; ++i) {
    CHECK(budget.allow("link.up", 0, &left_out));
    CHECK(left_out == 0);
  }
  for (int i = 0; i < 5; ++i) CHECK_FALSE(budget.allow("link.up", 10 + std::uint64_t(i), &left_out));
  CHECK(budget.allow("link.reset", 20, &left_out));  // kinds are counted apart
  CHECK(left_out == 0);
  CHECK_FALSE(budget.allow("link.up", 999, &left_out));  // 6 left out, the budget not yet refilled
  CHECK(budget.allow("link.up", 1999, &left_out));       // one more a second
  CHECK(left_out == 6);
  CHECK_FALSE(budget.allow("link.up", 1999, &left_out));
  CHECK(budget.left_out_total() == 7);
  // A quiet spell refills the burst, never more than it.
  for (int i = 0; i < 3; ++i) CHECK(budget.allow("link.up", 100'000, &left_out));
  CHECK_FALSE(budget.allow("link.up", 100'000, &left_out));
}

TEST_CASE("remote text: short text as it came, long text cut on a UTF-8 boundary with its size",
          "[node][log_budget]") {
  CHECK(remote_text("short") == "short");
  CHECK(remote_text(std::string(200, 'a')) == std::string(200, 'a'));
  CHECK(remote_text(std::string(4096, 'a')) == std::string(200, 'a') + "... (4096 bytes)");
  // "é" is two bytes: a cut at byte 5 would split the third one.
  const std::string accents = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9";
  CHECK(remote_text(accents, 5) == "\xc3\xa9\xc3\xa9... (8 bytes)");
}
