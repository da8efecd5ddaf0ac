// The peer processes of a scenario run: started from our own binary, each in
// its own process group (a Ctrl-C at the terminal reaches only the runner,
// which then ends them all), each told by the kernel to die with the runner
// (PR_SET_PDEATHSIG), so none outlives it, even after a crash of the runner.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "starling/status.h"

namespace starling::apps {

class PeerProcesses {
 public:
  explicit PeerProcesses(std::filesystem::path executable);
  // Kills (SIGKILL) and reaps every process still running.
  ~PeerProcesses();
  PeerProcesses(const PeerProcesses&) = delete;
  PeerProcesses& operator=(const PeerProcesses&) = delete;

  // Starts `executable args...` with stdin from /dev/null and stdout and
  // stderr appended to log_path. Errors: io.
  Result<pid_t> start(const std::vector<std::string>& args, const std::filesystem::path& log_path);

  // Sends a signal to a process we started and have not reaped.
  Status signal(pid_t pid, int signal_number);

  struct Exit {
    pid_t pid = 0;
    std::string how;  // "exit status 1", "signal 9"
    bool clean = false;  // exit status 0
  };
  // Exited processes, without blocking.
  std::vector<Exit> reap();
  // Waits up to timeout_ms for pid to exit; true if it did (and was reaped).
  bool wait_for(pid_t pid, int timeout_ms, Exit* exit);

  // SIGCONT + SIGKILL to every process still running, then reaps them
  // (bounded: a process the kernel does not reap in 5 s is reported).
  void kill_all();
  std::size_t running() const { return running_.size(); }

 private:
  std::filesystem::path executable_;
  std::set<pid_t> running_;
};

// A loopback port free for both TCP and UDP right now, not in `avoid`.
Result<int> find_free_port(const std::set<int>& avoid);

}  // namespace starling::apps
