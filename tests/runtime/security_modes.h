// The security modes the conformance suite runs each transport in.
#pragma once

#include <memory>

#include "starling/runtime/security.h"

namespace starling::runtime::testing {

struct PlainMode {
  static constexpr const char* kName = "plain";
  static constexpr bool kSealed = false;
  std::shared_ptr<Security> make() { return make_plain_security(); }
};

}  // namespace starling::runtime::testing
