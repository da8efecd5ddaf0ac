#include <catch2/catch.hpp>

#include <cstdint>

#include "starling/node/download_pace.h"

using starling::node::DownloadPace;

namespace {

// A path that carries `bytes_per_ms` after a round trip of `rtt_ms`: the
// answers to a joiner asking until it holds `total` bytes. Returns the ms
// the download took, and the asks it made.
struct Downloaded {
  std::uint64_t ms = 0;
  int asks = 0;
};
Downloaded download(DownloadPace& pace, std::uint64_t total, double bytes_per_ms, std::uint64_t rtt_ms) {
  Downloaded out;
  std::uint64_t held = 0;
  while (held < total && out.asks < 10'000) {
    const std::uint64_t bytes = std::min<std::uint64_t>(pace.ask_bytes(), total - held);
    const auto elapsed = std::uint64_t(double(rtt_ms) + double(bytes) / bytes_per_ms);
    REQUIRE(elapsed < pace.wait_ms());  // a steady path never looks silent
    pace.on_answer(bytes, elapsed, true);
    held += bytes;
    out.ms += elapsed;
    ++out.asks;
  }
  return out;
}

}  // namespace

TEST_CASE("download pace: the first ask is small, then grows on a fast path to the largest chunk", "[download]") {
  DownloadPace pace(1u << 20);
  CHECK(pace.ask_bytes() == DownloadPace::kFirstBytes);
  CHECK(pace.wait_ms() == DownloadPace::kMinWaitMs);
  // A LAN: 1 ms round trip, 100 MB/s. Each answer doubles the next ask.
  for (int k = 0; k < 4; ++k) {
    const std::uint32_t asked = pace.ask_bytes();
    pace.on_answer(asked, 1 + asked / 100'000, true);
    CHECK(pace.ask_bytes() == std::min<std::uint32_t>(2 * asked, 1u << 20));
  }
  CHECK(pace.ask_bytes() == 1u << 20);
  // A 470 kB model on it: 4 asks of 64, 128, 256 and the last 22 kB.
  DownloadPace fresh(1u << 20);
  const Downloaded lan = download(fresh, 470'292, 100'000.0, 1);
  CHECK(lan.asks == 4);
}

TEST_CASE("download pace: on a slow long path answers settle near the target time and the wait covers them",
          "[download]") {
  // 150 ms each way with 2% loss: TCP carries about 40 kB/s (Mathis et al.).
  DownloadPace pace(1u << 20);
  const Downloaded slow = download(pace, 470'292, 40.0, 300);
  // At most a quarter more than the bytes alone would take (11.8 s): the round
  // trip per answer is the price of one request at a time.
  CHECK(double(slow.ms) <= 1.25 * 470'292 / 40.0);
  CHECK(pace.ask_bytes() >= 40 * (DownloadPace::kTargetMs - 300) * 9 / 10);
  CHECK(pace.ask_bytes() <= 40 * DownloadPace::kTargetMs * 11 / 10);
  // 10 kB/s with a 600 ms round trip: the first 64 kB take 7 s, beyond the
  // first wait (the joiner asks again: late answers are still taken, see
  // the driver), then asks shrink to what the path carries.
  DownloadPace slower(1u << 20);
  CHECK(slower.wait_ms() < 600 + 64 * 1024 / 10);
  slower.on_silence();
  CHECK(slower.ask_bytes() == DownloadPace::kFirstBytes / 2);
  slower.on_answer(DownloadPace::kFirstBytes, 600 + DownloadPace::kFirstBytes / 10, true);
  const Downloaded rest = download(slower, 400'000, 10.0, 600);
  // Answers settle where one takes kTargetMs, so a round trip in each
  // (600 of 2,000 ms) goes unused: the price of one request at a time.
  CHECK(double(rest.ms) <= 1.5 * 400'000 / 10.0);
}

TEST_CASE("download pace: silences shrink the ask and back the wait off, bounded, an answer ends the back-off",
          "[download]") {
  DownloadPace pace(1u << 20);
  std::uint64_t last_wait = pace.wait_ms();
  for (int k = 0; k < 12; ++k) {
    pace.on_silence();
    CHECK(pace.wait_ms() >= last_wait);
    CHECK(pace.wait_ms() <= DownloadPace::kMaxWaitMs);
    last_wait = pace.wait_ms();
  }
  CHECK(pace.ask_bytes() == DownloadPace::kMinBytes);
  CHECK(pace.wait_ms() == DownloadPace::kMaxWaitMs);
  pace.on_answer(DownloadPace::kMinBytes, 100, true);
  CHECK(pace.wait_ms() == DownloadPace::kMinWaitMs);
  // A short answer (the server sent less than asked) counts as an answer
  // but measures nothing.
  const std::uint32_t asked = pace.ask_bytes();
  pace.on_silence();
  pace.on_answer(10, 1, false);
  CHECK(pace.ask_bytes() == asked / 2);
  CHECK(pace.wait_ms() == DownloadPace::kMinWaitMs);
}

TEST_CASE("download pace: a small largest chunk caps every ask", "[download]") {
  DownloadPace pace(999);
  CHECK(pace.ask_bytes() == 999);
  pace.on_silence();
  CHECK(pace.ask_bytes() == 999);
  pace.on_answer(999, 1, true);
  CHECK(pace.ask_bytes() == 999);
  DownloadPace tiny(0);
  CHECK(tiny.ask_bytes() == 4);  // one f32 value at least
}
