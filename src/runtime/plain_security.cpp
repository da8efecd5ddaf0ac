#include "starling/runtime/security.h"

namespace starling::runtime {

namespace {

class PlainSecurity final : public Security {
 public:
  std::string_view name() const override { return "plain"; }
  std::unique_ptr<Handshake> new_handshake(bool) override { return nullptr; }
  DatagramCipher* datagram_cipher() override { return nullptr; }
};

}  // namespace

std::shared_ptr<Security> make_plain_security() { return std::make_shared<PlainSecurity>(); }

}  // namespace starling::runtime
