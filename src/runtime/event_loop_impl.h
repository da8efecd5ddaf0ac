// EventLoop's libuv side, shared by the files of src/runtime.
#pragma once

#include <csignal>
#include <functional>
#include <mutex>
#include <vector>

#include "starling/runtime/event_loop.h"
#include "uv.h"

namespace starling::runtime {

struct EventLoop::Impl {
  Impl();
  void drain_posted();

  uv::Loop loop;  // first member: destroyed last, after every handle below closed
  uv::Ptr<uv::Async> wakeup;
  uv::Ptr<uv::Signal> sigint;
  uv::Ptr<uv::Signal> sigterm;
  uv::Ptr<uv::Signal> sighup;
  std::function<void(int)> signal_handler;

  std::mutex mutex;  // guards the two fields below; other threads touch only them
  std::vector<std::function<void()>> posted;
  bool stop_requested = false;
  bool running = false;  // loop thread only
};

}  // namespace starling::runtime
