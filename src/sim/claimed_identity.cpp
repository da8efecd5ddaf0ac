#include "claimed_identity.h"

#include <algorithm>

namespace starling::sim {

namespace {

using node::Bytes;
using node::ByteSpan;

// Frames travel as they are; the session still calls seal/open.
class PassThroughCipher final : public runtime::FrameCipher {
 public:
  std::size_t overhead() const override { return 0; }
  Status seal(ByteSpan plaintext, std::span<std::uint8_t> out) override {
    std::copy(plaintext.begin(), plaintext.end(), out.begin());
    return Ok{};
  }
  Result<std::span<std::uint8_t>> open(std::span<std::uint8_t> sealed) override { return sealed; }
};

class ClaimedIdentityHandshake final : public runtime::Handshake {
 public:
  explicit ClaimedIdentityHandshake(const gossip::NodeId& self) : self_(self.begin(), self.end()) {}

  Result<runtime::HandshakeStep> start() override {
    runtime::HandshakeStep step;
    step.frames_to_send.push_back(self_);
    return step;
  }
  Result<runtime::HandshakeStep> receive(ByteSpan frame) override {
    if (frame.size() != self_.size())
      return make_error(ErrorKind::corrupt, "simulator handshake: expected a node id");
    remote_.assign(frame.begin(), frame.end());
    runtime::HandshakeStep step;
    step.complete = true;
    return step;
  }
  std::unique_ptr<runtime::FrameCipher> take_cipher() override { return std::make_unique<PassThroughCipher>(); }
  Bytes remote_identity() const override { return remote_; }

 private:
  Bytes self_;
  Bytes remote_;
};

class ClaimedIdentitySecurity final : public runtime::Security {
 public:
  explicit ClaimedIdentitySecurity(const gossip::NodeId& self) : self_(self) {}
  std::string_view name() const override { return "sim-claimed-identity"; }
  std::unique_ptr<runtime::Handshake> new_handshake(bool) override {
    return std::make_unique<ClaimedIdentityHandshake>(self_);
  }
  runtime::DatagramCipher* datagram_cipher() override { return nullptr; }  // datagrams stay plain

 private:
  gossip::NodeId self_;
};

}  // namespace

std::shared_ptr<runtime::Security> make_claimed_identity_security(const gossip::NodeId& self) {
  return std::make_shared<ClaimedIdentitySecurity>(self);
}

}  // namespace starling::sim
