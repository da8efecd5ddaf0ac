#include <csignal>

#include "event_loop_impl.h"
#include "guard.h"

namespace starling::runtime {

EventLoop::Impl::Impl() {
  wakeup = uv::Async::create(loop, [this] { drain_posted(); });
  // Posting must not keep an otherwise idle loop alive.
  wakeup->unref();
}

void EventLoop::Impl::drain_posted() {
  std::vector<std::function<void()>> work;
  bool stop = false;
  {
    std::lock_guard lock(mutex);
    work.swap(posted);
    stop = stop_requested;
  }
  // One posted item that throws must not cost the others their turn.
  for (auto& item : work) guarded("work posted to the loop", item);
  if (stop) uv_stop(loop.get());
}

EventLoop::EventLoop() : impl_(std::make_unique<Impl>()) {}

EventLoop::~EventLoop() {
  impl_->loop.become_loop_thread();
  impl_->sigint.reset();
  impl_->sigterm.reset();
  impl_->sighup.reset();
  impl_->wakeup.reset();
  {
    std::lock_guard lock(impl_->mutex);
    impl_->posted.clear();
  }
  impl_.reset();
}

void EventLoop::run() {
  Impl& impl = *impl_;
  impl.loop.become_loop_thread();
  {
    std::lock_guard lock(impl.mutex);
    if (impl.stop_requested) {
      impl.stop_requested = false;
      return;
    }
  }
  STARLING_ASSERT_MSG(!impl.running, "EventLoop::run called from inside the loop (libuv cannot nest)");
  // While run() waits for stop(), the wake-up handle holds the loop open.
  impl.wakeup->ref();
  impl.running = true;
  for (;;) {
    uv_run(impl.loop.get(), UV_RUN_DEFAULT);
    std::lock_guard lock(impl.mutex);
    if (impl.stop_requested) {
      impl.stop_requested = false;
      break;
    }
  }
  impl.running = false;
  impl.wakeup->unref();
}

bool EventLoop::run_until(const std::function<bool()>& done, std::uint64_t timeout_ms) {
  Impl& impl = *impl_;
  impl.loop.become_loop_thread();
  STARLING_ASSERT_MSG(!impl.running, "EventLoop::run_until called from inside the loop (libuv cannot nest)");
  if (done()) return true;
  impl.running = true;
  bool expired = false;
  // libuv's cached time stood still since the last run; a caller that idled
  // between runs (ControlClient polled every few seconds by `starling top`)
  // would otherwise get a watchdog that is already due and time out at once.
  uv_update_time(impl.loop.get());
  auto watchdog = uv::Timer::create(impl.loop);
  watchdog->start(timeout_ms, [&expired] { expired = true; });
  for (;;) {
    uv_run(impl.loop.get(), UV_RUN_ONCE);
    if (done()) break;
    if (expired) break;
    std::lock_guard lock(impl.mutex);
    if (impl.stop_requested) {
      impl.stop_requested = false;
      break;
    }
  }
  impl.running = false;
  return done();
}

void EventLoop::run_for(std::uint64_t duration_ms) {
  (void)run_until([] { return false; }, duration_ms);
}

void EventLoop::stop() {
  std::lock_guard lock(impl_->mutex);
  impl_->stop_requested = true;
  impl_->wakeup->send();
}

void EventLoop::post(std::function<void()> work) {
  std::lock_guard lock(impl_->mutex);
  impl_->posted.push_back(std::move(work));
  impl_->wakeup->send();
}

Status EventLoop::on_shutdown_signal(std::function<void(int)> handler) {
  Impl& impl = *impl_;
  impl.loop.assert_on_loop_thread();
  impl.signal_handler = std::move(handler);
  auto forward = [&impl](int number) {
    if (impl.signal_handler) impl.signal_handler(number);
  };
  if (!impl.sigint) {
    impl.sigint = uv::Signal::create(impl.loop);
    impl.sigterm = uv::Signal::create(impl.loop);
    impl.sighup = uv::Signal::create(impl.loop);
    if (auto status = impl.sigint->start(SIGINT, forward); !status) return status;
    if (auto status = impl.sigterm->start(SIGTERM, forward); !status) return status;
    // A closed terminal or SSH session: its default action ended a peer
    // without its final checkpoint, losing up to --checkpoint-every of work.
    if (auto status = impl.sighup->start(SIGHUP, forward); !status) return status;
    // Watching for signals must not keep an otherwise finished loop alive.
    impl.sigint->unref();
    impl.sigterm->unref();
    impl.sighup->unref();
  }
  return ok_status();
}

std::uint64_t EventLoop::now_ms() const { return impl_->loop.now_ms(); }

}  // namespace starling::runtime
