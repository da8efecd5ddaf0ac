// `starling train`'s checkpoint file as a run sees it: whether this run may
// write it (docs/checkpoints.md).
#pragma once

#include <string>

#include "starling/status.h"

namespace starling::apps {

// Whether a run may start at `path`: with --resume always (it continues the
// file, or starts it when absent); otherwise only when nothing is there (or
// an empty file), or with --force. An earlier run's checkpoint is
// invalid_argument naming the file and both ways on: it used to be
// overwritten in silence at the first epoch's end.
Status check_checkpoint_overwrite(const std::string& path, bool resume, bool force);

}  // namespace starling::apps
