// The live part of `starling top`: the terminal (raw mode, alternate screen,
// size, signals) and the loop that polls a peer and redraws. What a frame
// shows is top_frame.h's business; this file only decides when to draw it
// and leaves the terminal as it found it on every way out.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "starling/status.h"

namespace starling::apps {

// Where status answers come from (the control channel in `starling top`, a
// fake in tests). fetch() runs on the polling thread, which also creates and
// destroys the source; cancel() may come from any thread while a fetch()
// runs and makes it return soon (with any error).
class StatusSource {
 public:
  virtual ~StatusSource() = default;
  virtual Result<std::string> fetch() = 0;
  virtual void cancel() = 0;
};

struct TopLiveOptions {
  std::string address;          // shown in the header
  double interval_seconds = 1;  // from the start of one poll to the next
  std::function<std::unique_ptr<StatusSource>()> make_source;
};

// Runs the live view on the controlling terminal until `q` (exit code 0) or
// SIGINT, SIGTERM or SIGHUP (128 + the signal); redraws on every answer, on a
// resize and once a second. An unreachable peer is shown as such and polled
// again; it never ends the view. Needs stdout to be a terminal (an error
// message and exit code 1 otherwise); without a terminal on stdin it runs
// without keys (quit with a signal).
int run_top_live(const TopLiveOptions& options);

// The terminal's size, or nothing when fd is not a terminal.
struct TerminalSize {
  int width = 80;
  int height = 24;
};
bool terminal_size(int fd, TerminalSize& size);

}  // namespace starling::apps
