#include "starling/runtime/accept_failures.h"

namespace starling::runtime {

std::optional<std::string> AcceptFailureNotice::failed(AcceptFailure cause, const std::string& detail,
                                                       std::uint64_t now_ms, std::optional<std::uint64_t> file_limit) {
  ++failures_;
  if (last_warning_ms_ && now_ms - *last_warning_ms_ < interval_ms_) {
    ++unreported_;
    return std::nullopt;
  }
  const std::string limit = file_limit ? std::to_string(*file_limit) : std::string("unlimited");
  std::string line = "cannot accept inbound connections (" + detail + "): ";
  switch (cause) {
    case AcceptFailure::process_file_limit:
      line += "this process is out of file descriptors (its limit, ulimit -n / LimitNOFILE=, is " + limit +
              "); newcomers are turned away until some close: raise the limit or lower --max-links";
      break;
    case AcceptFailure::system_file_limit:
      line += "the system's open-file table is full (fs.file-max; this process's limit is " + limit +
              "); newcomers are turned away until descriptors free up";
      break;
    case AcceptFailure::other:
      line += "newcomers are turned away while it lasts";
      break;
  }
  if (unreported_ > 0) line += " (" + std::to_string(unreported_) + " more failed accepts since the last warning)";
  last_warning_ms_ = now_ms;
  unreported_ = 0;
  return line;
}

}  // namespace starling::runtime
