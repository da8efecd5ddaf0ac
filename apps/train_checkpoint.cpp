#include "train_checkpoint.h"

#include <filesystem>

namespace starling::apps {

Status check_checkpoint_overwrite(const std::string& path, bool resume, bool force) {
  namespace fs = std::filesystem;
  if (resume || force) return ok_status();
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) return ok_status();
  if (fs::is_regular_file(status) && fs::file_size(path, ec) == 0 && !ec) return ok_status();  // nothing to lose
  return make_error(ErrorKind::invalid_argument,
                    "--checkpoint " + path + " already exists (an earlier run's checkpoint): pass --resume to "
                    "continue that run, or --force to replace it with this one");
}

}  // namespace starling::apps
