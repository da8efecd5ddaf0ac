// What a listening transport says when accept() fails: out of file
// descriptors (EMFILE: this process's limit; ENFILE: the system's), a peer
// turns every newcomer away, and libuv reported it to a callback that said
// nothing. A warning naming the cause and the limit, at most once per
// interval (libuv calls back for every failed accept, in a loop, while the
// descriptors stay short), with a count of the failures in between.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace starling::runtime {

enum class AcceptFailure { process_file_limit, system_file_limit, other };

class AcceptFailureNotice {
 public:
  static constexpr std::uint64_t kDefaultIntervalMs = 60'000;
  explicit AcceptFailureNotice(std::uint64_t interval_ms = kDefaultIntervalMs) : interval_ms_(interval_ms) {}

  // One failed accept at `now_ms` (a monotonic clock): the line to log, or
  // nothing within the interval of the last one. `detail` is the error as
  // the transport has it; `file_limit` the soft RLIMIT_NOFILE (nullopt:
  // unknown or unlimited).
  std::optional<std::string> failed(AcceptFailure cause, const std::string& detail, std::uint64_t now_ms,
                                    std::optional<std::uint64_t> file_limit);

  std::uint64_t failures() const { return failures_; }

 private:
  std::uint64_t interval_ms_;
  std::optional<std::uint64_t> last_warning_ms_;
  std::uint64_t failures_ = 0;
  std::uint64_t unreported_ = 0;  // failures since the last warning
};

}  // namespace starling::runtime
