// The libuv loop's own duties: bounded runs, work posted from other threads,
// stop from another thread, and SIGINT/SIGTERM/SIGHUP as a graceful-shutdown request.
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <stdexcept>
#include <thread>

#include "starling/runtime/event_loop.h"
#include "starling/runtime/uv_transport.h"

using namespace starling;
using namespace starling::runtime;

TEST_CASE("event loop: run_until is bounded by its timeout", "[runtime][loop]") {
  EventLoop loop;
  const std::uint64_t start = loop.now_ms();
  CHECK_FALSE(loop.run_until([] { return false; }, 50));
  CHECK(loop.now_ms() - start >= 45);
  CHECK(loop.run_until([] { return true; }, 10'000));
}

TEST_CASE("event loop: work posted from other threads runs on the loop thread in order", "[runtime][loop]") {
  EventLoop loop;
  const auto loop_thread = std::this_thread::get_id();
  std::vector<int> seen;  // touched on the loop thread only
  bool wrong_thread = false;
  std::vector<std::thread> posters;
  for (int t = 0; t < 4; ++t) {
    posters.emplace_back([&loop, &seen, &wrong_thread, loop_thread, t] {
      for (int i = 0; i < 100; ++i)
        loop.post([&seen, &wrong_thread, loop_thread, t, i] {
          if (std::this_thread::get_id() != loop_thread) wrong_thread = true;
          seen.push_back(t * 1000 + i);
        });
    });
  }
  for (auto& poster : posters) poster.join();
  REQUIRE(loop.run_until([&] { return seen.size() == 400; }, 5'000));
  CHECK_FALSE(wrong_thread);
  // Each thread's posts keep their order.
  for (int t = 0; t < 4; ++t) {
    int last = -1;
    for (int value : seen)
      if (value / 1000 == t) {
        CHECK(value % 1000 > last);
        last = value % 1000;
      }
  }
}

TEST_CASE("event loop: stop() from another thread ends run()", "[runtime][loop]") {
  EventLoop loop;
  std::atomic<bool> started{false};
  loop.post([&] { started = true; });
  std::thread stopper([&] {
    while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    loop.stop();
  });
  // A watchdog in case stop() is lost: the test must never hang.
  auto transport = make_uv_transport(loop);
  const TimerId watchdog = transport->start_timer(10'000, [&] { FAIL("stop() did not end run()"); });
  loop.run();
  stopper.join();
  transport->cancel_timer(watchdog);
  CHECK(started);
}

TEST_CASE("event loop: SIGINT, SIGTERM and SIGHUP reach the shutdown handler", "[runtime][loop]") {
  EventLoop loop;
  std::vector<int> signals;
  REQUIRE(loop.on_shutdown_signal([&](int number) { signals.push_back(number); }).ok());
  std::raise(SIGTERM);
  REQUIRE(loop.run_until([&] { return signals.size() == 1; }, 5'000));
  std::raise(SIGINT);
  REQUIRE(loop.run_until([&] { return signals.size() == 2; }, 5'000));
  // A closed terminal: its default action ended the process.
  std::raise(SIGHUP);
  REQUIRE(loop.run_until([&] { return signals.size() == 3; }, 5'000));
  CHECK(signals == std::vector<int>{SIGTERM, SIGINT, SIGHUP});
}

TEST_CASE("event loop: a runtime on a helper thread takes work posted by others", "[runtime][loop]") {
  // The loop thread is whoever runs the loop: here a helper thread owns the
  // loop and its transports from birth to death; the main thread only posts.
  struct Shared {
    EventLoop* loop = nullptr;
    Transport* sender = nullptr;
    Address receiver_address;
  } shared;
  std::atomic<bool> published{false};
  std::atomic<bool> done_posting{false};
  std::atomic<int> received{0};
  std::thread runner([&] {
    EventLoop loop;
    auto sender = make_uv_transport(loop);
    auto receiver = make_uv_transport(loop);
    TransportEvents events;
    events.on_datagram = [&](const Address&, ByteSpan, const Bytes&) { ++received; };
    receiver->set_events(events);
    auto address = receiver->listen(Address{"127.0.0.1", 0});
    if (address.ok()) {
      shared = Shared{&loop, sender.get(), *address};
      published.store(true, std::memory_order_release);
      loop.run_until([&] { return received.load() == 10; }, 5'000);
    }
    // Posts still queued die with the loop, but no post may start after it.
    while (address.ok() && !done_posting.load()) std::this_thread::yield();
  });
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!published.load(std::memory_order_acquire) && std::chrono::steady_clock::now() < give_up)
    std::this_thread::yield();
  REQUIRE(published.load());
  for (int i = 0; i < 10; ++i)
    shared.loop->post([&shared] { (void)shared.sender->send_datagram(shared.receiver_address, Bytes{1}); });
  done_posting = true;
  runner.join();
  CHECK(received.load() == 10);
}

TEST_CASE("event loop: posted work that throws is reported and the rest still runs", "[runtime][loop][exceptions]") {
  starling::runtime::EventLoop loop;
  int ran = 0;
  loop.post([] { throw std::runtime_error("posted bug"); });
  loop.post([&] { ++ran; });
  CHECK(loop.run_until([&] { return ran == 1; }, 2'000));
}
