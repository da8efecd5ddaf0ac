// The libuv event loop, seen from outside src/runtime. One loop drives any
// number of libuv transports; everything runs on the thread that runs the loop
// (the "loop thread"), except post() and stop(), which any thread may call.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "starling/status.h"

namespace starling::runtime {

class EventLoop {
 public:
  // The constructing thread is the loop thread until another thread calls run*.
  EventLoop();
  // Every transport made on this loop must be destroyed first (asserted).
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs until stop(). The calling thread becomes the loop thread.
  void run();
  // Runs until done() holds or timeout_ms passes, whichever comes first;
  // returns done(). Tests use it so that no wait is ever unbounded.
  bool run_until(const std::function<bool()>& done, std::uint64_t timeout_ms);
  // Runs for duration_ms (or until stop()).
  void run_for(std::uint64_t duration_ms);

  // Makes run / run_until / run_for return soon. Any thread.
  void stop();
  // Runs work on the loop thread, in posting order. Any thread.
  void post(std::function<void()> work);

  // Calls handler(signal_number) on the loop thread on SIGINT, SIGTERM or
  // SIGHUP (a closed terminal), so main can start a graceful shutdown.
  // Replaces an earlier handler.
  Status on_shutdown_signal(std::function<void(int signal_number)> handler);

  // The loop's clock in milliseconds (monotonic, cached per iteration).
  std::uint64_t now_ms() const;

  // src/runtime only: the libuv side of the loop.
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace starling::runtime
