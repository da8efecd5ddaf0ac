// The --swarm-key option shared by peer and status: no path means the open
// swarm; otherwise the key file must load, or the user hears why.
#pragma once

#include <string>

#include "starling/crypto/keys.h"
#include "starling/status.h"

namespace starling::apps {

inline Result<crypto::SwarmKey> load_swarm_key_option(const std::string& path) {
  if (path.empty()) return crypto::SwarmKey::open();
  auto loaded = crypto::SwarmKey::load(path);
  if (!loaded) {
    return make_error(loaded.error().kind, "cannot use swarm key " + path + " (" + to_string(loaded.error().kind) +
                                               "): " + loaded.error().message);
  }
  return std::move(*loaded);
}

}  // namespace starling::apps
