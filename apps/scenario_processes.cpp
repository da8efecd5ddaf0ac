#include "scenario_processes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace starling::apps {

PeerProcesses::PeerProcesses(std::filesystem::path executable) : executable_(std::move(executable)) {}

PeerProcesses::~PeerProcesses() { kill_all(); }

Result<pid_t> PeerProcesses::start(const std::vector<std::string>& args, const std::filesystem::path& log_path) {
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls until exec.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(executable_.string());
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return make_error(ErrorKind::io, "cannot open " + log_path.string() + ": " + std::strerror(errno));
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    return make_error(ErrorKind::io, std::string("cannot open /dev/null: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    ::close(null_fd);
    return make_error(ErrorKind::io, std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the runner died before prctl
    // The runner may block signals; a peer must see SIGTERM and SIGINT.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from here: no window where a Ctrl-C reaches it
  ::close(log_fd);
  ::close(null_fd);
  running_.insert(pid);
  return pid;
}

Status PeerProcesses::signal(pid_t pid, int signal_number) {
  if (!running_.count(pid)) return make_error(ErrorKind::not_found, "process " + std::to_string(pid) + " is not running");
  if (::kill(pid, signal_number) != 0) {
    return make_error(ErrorKind::io, "kill " + std::to_string(pid) + ": " + std::strerror(errno));
  }
  return ok_status();
}

namespace {

PeerProcesses::Exit describe(pid_t pid, int status) {
  PeerProcesses::Exit exit;
  exit.pid = pid;
  if (WIFEXITED(status)) {
    exit.how = "exit status " + std::to_string(WEXITSTATUS(status));
    exit.clean = WEXITSTATUS(status) == 0;
  } else if (WIFSIGNALED(status)) {
    exit.how = std::string("signal ") + std::to_string(WTERMSIG(status)) + " (" + ::strsignal(WTERMSIG(status)) + ")";
  } else {
    exit.how = "status " + std::to_string(status);
  }
  return exit;
}

}  // namespace

std::vector<PeerProcesses::Exit> PeerProcesses::reap() {
  std::vector<Exit> out;
  for (auto it = running_.begin(); it != running_.end();) {
    int status = 0;
    const pid_t done = ::waitpid(*it, &status, WNOHANG);
    if (done == *it || (done < 0 && errno == ECHILD)) {
      out.push_back(done == *it ? describe(*it, status) : Exit{*it, "vanished", false});
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

bool PeerProcesses::wait_for(pid_t pid, int timeout_ms, Exit* exit) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (running_.count(pid)) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid || (done < 0 && errno == ECHILD)) {
      if (exit != nullptr) *exit = done == pid ? describe(pid, status) : Exit{pid, "vanished", false};
      running_.erase(pid);
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void PeerProcesses::kill_all() {
  for (pid_t pid : running_) {
    ::kill(pid, SIGKILL);
    ::kill(pid, SIGCONT);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!running_.empty() && std::chrono::steady_clock::now() < deadline) {
    reap();
    if (!running_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  running_.clear();
}

Result<int> find_free_port(const std::set<int>& avoid) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    // Let the kernel pick a TCP port, then check UDP can have it too.
    const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (tcp < 0) return make_error(ErrorKind::io, std::string("socket: ") + std::strerror(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    int port = -1;
    if (::bind(tcp, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
        ::getsockname(tcp, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port = ntohs(address.sin_port);
    }
    bool usable = port > 0 && !avoid.count(port);
    if (usable) {
      const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      usable = udp >= 0 && ::bind(udp, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
      if (udp >= 0) ::close(udp);
    }
    ::close(tcp);
    if (usable) return port;
  }
  return make_error(ErrorKind::io, "no free loopback port for both TCP and UDP after 50 tries");
}

}  // namespace starling::apps
