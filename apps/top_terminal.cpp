#include "top_terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>

#include "top_frame.h"

namespace starling::apps {

bool terminal_size(int fd, TerminalSize& size) {
  winsize ws{};
  if (ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0 || ws.ws_row == 0) return false;
  size.width = ws.ws_col;
  size.height = ws.ws_row;
  return true;
}

namespace {

double unix_now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the terminal went away; nothing left to show it to
    done += static_cast<std::size_t>(n);
  }
}

// A pipe a signal handler may write to (write(2) is async-signal-safe); the
// loop polls its read end. Non-blocking at both ends: a handler never waits,
// and draining stops when it is empty.
class SelfPipe {
 public:
  SelfPipe() {
    if (::pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
    for (int fd : fds_) {
      if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
  }
  ~SelfPipe() {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  SelfPipe(const SelfPipe&) = delete;
  SelfPipe& operator=(const SelfPipe&) = delete;
  bool ok() const { return fds_[0] >= 0; }
  int read_end() const { return fds_[0]; }
  void notify(unsigned char byte) const { [[maybe_unused]] auto n = ::write(fds_[1], &byte, 1); }
  // The bytes written since the last drain.
  std::string drain() const {
    std::string bytes;
    unsigned char buffer[64];
    ssize_t n;
    while ((n = ::read(fds_[0], buffer, sizeof buffer)) > 0) bytes.append(buffer, buffer + n);
    return bytes;
  }

 private:
  int fds_[2] = {-1, -1};
};

// The signal handlers' only way out: the pipe of the one live view.
std::atomic<const SelfPipe*> signal_pipe{nullptr};

extern "C" void on_top_signal(int number) {
  const int saved_errno = errno;
  if (const SelfPipe* pipe = signal_pipe.load()) pipe->notify(static_cast<unsigned char>(number));
  errno = saved_errno;
}

// Routes SIGINT, SIGTERM, SIGHUP and SIGWINCH to the pipe while it lives;
// the previous handlers come back afterwards.
class SignalRoute {
 public:
  explicit SignalRoute(const SelfPipe& pipe) {
    signal_pipe.store(&pipe);
    struct sigaction action {};
    action.sa_handler = on_top_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &action, &previous_[i]);
  }
  ~SignalRoute() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &previous_[i], nullptr);
    signal_pipe.store(nullptr);
  }
  SignalRoute(const SignalRoute&) = delete;
  SignalRoute& operator=(const SignalRoute&) = delete;

  static constexpr std::array<int, 5> kSignals = {SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP};

 private:
  std::array<struct sigaction, kSignals.size()> previous_{};
};

// Raw keys (no line buffering, no echo; Ctrl-C and Ctrl-Z still raise their
// signals) on the alternate screen with the cursor hidden, for as long as it
// lives: the destructor puts back the saved termios and the screen the user
// had. leave() and enter() do the same around a stop (Ctrl-Z, then fg).
class RawTerminal {
 public:
  explicit RawTerminal(bool keys) : keys_(keys) { enter(); }
  ~RawTerminal() { leave(); }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  void enter() {
    // Saved afresh each time: after a stop the shell may hand the terminal
    // back in another mode, and that is the one to restore.
    if (keys_ && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO | IEXTEN);
      raw.c_iflag &= ~static_cast<tcflag_t>(IXON | ICRNL);
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      restore_ = ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
    }
    write_all(STDOUT_FILENO, "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");
  }
  void leave() {
    write_all(STDOUT_FILENO, "\x1b[?25h\x1b[?1049l");
    if (restore_) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_);
    restore_ = false;
  }

 private:
  bool keys_;
  termios saved_{};
  bool restore_ = false;
};

// Ctrl-Z: the terminal goes back to the user, then the process stops as
// SIGTSTP's default would; a SIGCONT (fg) carries on here.
void stop_like_sigtstp(RawTerminal& terminal) {
  terminal.leave();
  struct sigaction default_action {}, ours {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  sigaction(SIGTSTP, &default_action, &ours);
  ::raise(SIGTSTP);  // stops the whole process until SIGCONT
  sigaction(SIGTSTP, &ours, nullptr);
  terminal.enter();
}

// What the polling thread found, read by the drawing thread.
struct Shared {
  std::mutex mutex;
  std::condition_variable wake;
  bool stop = false;
  StatusSource* source = nullptr;  // while the polling thread has one
  std::optional<nlohmann::json> current, previous;
  std::optional<std::string> error;
  double unreachable_since_unix_seconds = 0;
  double last_answer_unix_seconds = 0;
};

void poll_peer_or_throw(const TopLiveOptions& options, Shared& shared, const SelfPipe& redraw) {
  std::unique_ptr<StatusSource> source = options.make_source();
  // Unpublished before the source is destroyed, however this function ends,
  // so the drawing thread never cancels a source that is gone.
  struct Published {
    Shared& shared;
    explicit Published(Shared& s, StatusSource* source) : shared(s) {
      std::lock_guard lock(shared.mutex);
      shared.source = source;
    }
    ~Published() {
      std::lock_guard lock(shared.mutex);
      shared.source = nullptr;
    }
    Published(const Published&) = delete;
    Published& operator=(const Published&) = delete;
  } published(shared, source.get());
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(options.interval_seconds));
  for (;;) {
    {
      std::lock_guard lock(shared.mutex);
      if (shared.stop) break;
    }
    const auto started = std::chrono::steady_clock::now();
    const double started_unix = unix_now_seconds();
    Result<std::string> answer = source->fetch();
    std::optional<nlohmann::json> parsed;
    std::string error;
    if (answer) {
      auto json = nlohmann::json::parse(*answer, nullptr, /*allow_exceptions=*/false);
      if (json.is_object()) {
        parsed = std::move(json);
      } else {
        error = "the peer answered with malformed JSON";
      }
    } else {
      error = answer.error().message;
    }
    {
      std::unique_lock lock(shared.mutex);
      if (shared.stop) break;  // a cancelled fetch says nothing about the peer
      if (parsed) {
        shared.previous = std::move(shared.current);
        shared.current = std::move(parsed);
        shared.error.reset();
        shared.last_answer_unix_seconds = unix_now_seconds();
      } else {
        if (!shared.error) shared.unreachable_since_unix_seconds = started_unix;
        shared.error = error;
      }
      redraw.notify(0);
      shared.wake.wait_until(lock, started + interval, [&] { return shared.stop; });
    }
  }
}

// Nothing may escape the thread (std::terminate would leave the terminal
// raw): an unexpected exception is shown like an unreachable peer, and the
// view stays until the user quits.
void poll_peer(const TopLiveOptions& options, Shared& shared, const SelfPipe& redraw) {
  try {
    poll_peer_or_throw(options, shared, redraw);
  } catch (const std::exception& e) {
    std::lock_guard lock(shared.mutex);
    if (!shared.error) shared.unreachable_since_unix_seconds = unix_now_seconds();
    shared.error = std::string("polling stopped: ") + e.what();
    redraw.notify(0);
  }
}

// Blocks the signals the view handles in the calling thread while it lives,
// so the thread started meanwhile leaves them to the drawing thread.
class BlockSignals {
 public:
  BlockSignals() {
    sigset_t set;
    sigemptyset(&set);
    for (int number : SignalRoute::kSignals) sigaddset(&set, number);
    pthread_sigmask(SIG_BLOCK, &set, &previous_);
  }
  ~BlockSignals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  BlockSignals(const BlockSignals&) = delete;
  BlockSignals& operator=(const BlockSignals&) = delete;

 private:
  sigset_t previous_{};
};

// The polling thread, stopped and joined on every way out of the view (a
// joinable std::thread left behind would std::terminate with the terminal
// still raw). Stopping cancels a poll in flight, so quitting never waits out
// a silent peer's timeout.
class Poller {
 public:
  Poller(const TopLiveOptions& options, Shared& shared, const SelfPipe& redraw) : shared_(shared) {
    BlockSignals blocked;  // the new thread inherits the mask: signals go to the drawing thread
    thread_ = std::thread([&options, &shared, &redraw] { poll_peer(options, shared, redraw); });
  }
  ~Poller() {
    {
      std::lock_guard lock(shared_.mutex);
      shared_.stop = true;
      if (shared_.source) shared_.source->cancel();
    }
    shared_.wake.notify_all();
    thread_.join();
  }
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

 private:
  Shared& shared_;
  std::thread thread_;
};

std::string frame_bytes(const std::vector<std::string>& lines) {
  std::string out = "\x1b[H";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    out += lines[i];
    out += "\x1b[K";
    if (i + 1 < lines.size()) out += "\r\n";
  }
  out += "\x1b[J";
  return out;
}

// Draws until a key or a signal says stop; returns the exit code.
int draw_loop(const TopLiveOptions& options, Shared& shared, const SelfPipe& redraw, const SelfPipe& signals,
              RawTerminal& terminal, bool keys) {
  TerminalSize size;
  terminal_size(STDOUT_FILENO, size);
  for (;;) {
    {
      std::lock_guard lock(shared.mutex);
      TopFrameInput input;
      input.address = options.address;
      input.current = shared.current ? &*shared.current : nullptr;
      input.previous = shared.previous ? &*shared.previous : nullptr;
      input.error = shared.error;
      input.unreachable_since_unix_seconds = shared.unreachable_since_unix_seconds;
      input.last_answer_unix_seconds = shared.last_answer_unix_seconds;
      input.now_unix_seconds = unix_now_seconds();
      input.interval_seconds = options.interval_seconds;
      input.width = size.width;
      input.height = size.height;
      write_all(STDOUT_FILENO, frame_bytes(render_top_frame(input)));
    }
    pollfd fds[3] = {{signals.read_end(), POLLIN, 0}, {redraw.read_end(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    // Once a second at least, so "ago" and the clock move while a peer is silent.
    const int ready = ::poll(fds, keys ? 3 : 2, 1000);
    if (ready < 0 && errno != EINTR) return 1;
    if (fds[0].revents & POLLIN) {
      for (unsigned char number : signals.drain()) {
        if (number == SIGWINCH) {
          terminal_size(STDOUT_FILENO, size);
        } else if (number == SIGTSTP) {
          stop_like_sigtstp(terminal);
          terminal_size(STDOUT_FILENO, size);  // it may have changed meanwhile
        } else {
          return 128 + number;
        }
      }
    }
    if (fds[1].revents & POLLIN) redraw.drain();
    if (keys && (fds[2].revents & (POLLIN | POLLHUP))) {
      char buffer[64];
      const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      // The terminal hung up or reads fail: no more keys (SIGHUP or another
      // signal ends the view), rather than a loop spinning on the error.
      if ((n == 0 && (fds[2].revents & POLLHUP)) || (n < 0 && errno != EAGAIN && errno != EINTR)) keys = false;
      for (ssize_t i = 0; i < n; ++i) {
        if (buffer[i] == 'q' || buffer[i] == 'Q') return 0;
      }
    }
  }
}

}  // namespace

int run_top_live(const TopLiveOptions& options) {
  if (!::isatty(STDOUT_FILENO)) {
    std::fprintf(stderr, "starling top: error: stdout is not a terminal (use --once for one frame as text)\n");
    return 1;
  }
  SelfPipe redraw, signals;
  if (!redraw.ok() || !signals.ok()) {
    std::fprintf(stderr, "starling top: error: cannot create a pipe\n");
    return 1;
  }
  SignalRoute route(signals);
  Shared shared;
  Poller poller(options, shared, redraw);
  const bool keys = ::isatty(STDIN_FILENO) != 0;
  RawTerminal terminal(keys);  // declared last: the terminal is the user's again before the poller is joined
  return draw_loop(options, shared, redraw, signals, terminal, keys);
}

}  // namespace starling::apps
