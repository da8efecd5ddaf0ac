// Adapts src/crypto's sans-I/O handshake and AEAD objects to the runtime's
// Security interface. Handshake messages travel as ordinary (unsealed) frames.
#if STARLING_HAVE_CRYPTO

#include "starling/runtime/crypto_security.h"

#include <map>
#include <memory>
#include <mutex>
#include <variant>

#include "crypto_codec.h"
#include "starling/crypto/frame.h"
#include "starling/crypto/handshake.h"

namespace starling::runtime {

namespace {

class CryptoFrameCipher final : public FrameCipher {
 public:
  explicit CryptoFrameCipher(const crypto::Session& session)
      : sealer_(session.make_sealer()), opener_(session.make_opener()) {}

  std::size_t overhead() const override { return crypto::kFrameTagBytes; }
  std::string_view name() const override { return crypto::frame_aead_name(sealer_.aead()); }

  Status seal(ByteSpan plaintext, std::span<std::uint8_t> out) override {
    auto sealed = sealer_.seal(plaintext, out);
    if (!sealed) return sealed.error();
    return ok_status();
  }

  Result<std::span<std::uint8_t>> open(std::span<std::uint8_t> sealed) override {
    return opener_.open_in_place(sealed);
  }

 private:
  crypto::FrameSealer sealer_;
  crypto::FrameOpener opener_;
};

Bytes node_id_bytes(const crypto::NodeId& id) { return Bytes(id.bytes().begin(), id.bytes().end()); }

// The hellos this process has sent and not yet seen through: the ephemeral
// key of each of its initiator handshakes. Its responder refuses a hello
// that proves our own identity; with one of these keys that hello is our
// own dial come back (a --seed naming this peer under another address: the
// dialler then skips it), without, a stranger holding our identity file.
// The key is fresh for every handshake: another process cannot hold one of
// ours unless it sends our own hello back (a reflection, which costs us
// only that seed, as dropping our traffic to it would).
class OwnDials {
 public:
  void add(const crypto::EphemeralPublicKey& key, bool* reached) {
    std::lock_guard lock(mutex_);
    dials_[key] = reached;
  }
  void remove(const crypto::EphemeralPublicKey& key) {
    std::lock_guard lock(mutex_);
    dials_.erase(key);
  }
  // Marks the dial whose hello carried `key`; false when none of ours did.
  bool mark_reached(const crypto::EphemeralPublicKey& key) {
    std::lock_guard lock(mutex_);
    auto found = dials_.find(key);
    if (found == dials_.end()) return false;
    *found->second = true;
    return true;
  }

 private:
  std::mutex mutex_;  // sessions live on their transport's loop thread; a Security could serve two
  std::map<crypto::EphemeralPublicKey, bool*> dials_;
};

class InitiatorHandshake final : public Handshake {
 public:
  InitiatorHandshake(const crypto::Identity& identity, const crypto::SwarmKey& swarm_key, std::uint32_t frame_aeads,
                     std::shared_ptr<OwnDials> own_dials)
      : initiator_(identity, swarm_key, std::nullopt, frame_aeads), own_dials_(std::move(own_dials)) {}
  ~InitiatorHandshake() override {
    if (registered_) own_dials_->remove(ephemeral_key_);
  }

  Result<HandshakeStep> start() override {
    HandshakeStep step;
    const crypto::HandshakeHello hello = initiator_.start();
    ephemeral_key_ = hello.ephemeral_public_key;
    own_dials_->add(ephemeral_key_, &reached_itself_);
    registered_ = true;
    step.frames_to_send.push_back(codec::encode(hello));
    return step;
  }

  Result<HandshakeStep> receive(ByteSpan frame) override {
    auto reply = codec::decode_reply(frame);
    if (!reply) return reply.error();
    auto done = initiator_.on_reply(*reply);
    if (!done) return done.error();
    HandshakeStep step;
    step.frames_to_send.push_back(codec::encode(done->finish));
    step.complete = true;
    cipher_ = std::make_unique<CryptoFrameCipher>(done->session);
    remote_ = node_id_bytes(done->session.peer_id);
    return step;
  }

  std::unique_ptr<FrameCipher> take_cipher() override { return std::move(cipher_); }
  Bytes remote_identity() const override { return remote_; }
  bool reached_itself() const override { return reached_itself_; }

 private:
  crypto::HandshakeInitiator initiator_;
  std::shared_ptr<OwnDials> own_dials_;
  crypto::EphemeralPublicKey ephemeral_key_{};
  bool registered_ = false;
  bool reached_itself_ = false;  // set by this process's responder (OwnDials)
  std::unique_ptr<FrameCipher> cipher_;
  Bytes remote_;
};

class ResponderHandshake final : public Handshake {
 public:
  ResponderHandshake(const crypto::Identity& identity, const crypto::SwarmKey& swarm_key, std::uint32_t frame_aeads,
                     std::shared_ptr<OwnDials> own_dials)
      : responder_(identity, swarm_key, frame_aeads), own_dials_(std::move(own_dials)) {}

  Result<HandshakeStep> start() override { return HandshakeStep{}; }

  Result<HandshakeStep> receive(ByteSpan frame) override {
    HandshakeStep step;
    if (!hello_seen_) {
      auto hello = codec::decode_hello(frame);
      if (!hello) return hello.error();
      auto reply = responder_.on_hello(*hello);
      if (!reply) {
        // Refused either way; only the reason differs (see OwnDials).
        if (reply.error().reason == Reason::own_identity && own_dials_->mark_reached(hello->ephemeral_public_key))
          return make_error(ErrorKind::invalid_argument,
                            "handshake: the initiator is this very process (it dialled an address of its own)",
                            Reason::own_address);
        return reply.error();
      }
      hello_seen_ = true;
      step.frames_to_send.push_back(codec::encode(*reply));
      return step;
    }
    auto finish = codec::decode_finish(frame);
    if (!finish) return finish.error();
    auto session = responder_.on_finish(*finish);
    if (!session) return session.error();
    step.complete = true;
    cipher_ = std::make_unique<CryptoFrameCipher>(*session);
    remote_ = node_id_bytes(session->peer_id);
    return step;
  }

  std::unique_ptr<FrameCipher> take_cipher() override { return std::move(cipher_); }
  Bytes remote_identity() const override { return remote_; }

 private:
  crypto::HandshakeResponder responder_;
  std::shared_ptr<OwnDials> own_dials_;
  bool hello_seen_ = false;
  std::unique_ptr<FrameCipher> cipher_;
  Bytes remote_;
};

class CryptoDatagramCipher final : public DatagramCipher {
 public:
  // `self` must outlive the cipher (CryptoSecurity owns both).
  CryptoDatagramCipher(const crypto::SwarmKey& swarm_key, const crypto::Identity& self,
                       const crypto::DatagramLimits& limits)
      : sealer_(swarm_key, self), opener_(swarm_key, limits) {}

  Result<Bytes> seal(ByteSpan payload, std::uint64_t now_ms) override {
    return codec::encode(sealer_.seal(payload, now_ms));
  }

  Result<OpenedDatagram> open(ByteSpan sealed, std::uint64_t now_ms) override {
    auto datagram = codec::decode_datagram(sealed);
    if (!datagram) return datagram.error();
    auto payload = opener_.open(*datagram, now_ms);
    if (!payload) return payload.error();
    return OpenedDatagram{std::move(payload.value()), node_id_bytes(datagram->sender)};
  }

 private:
  crypto::DatagramSealer sealer_;
  crypto::DatagramOpener opener_;
};

class CryptoSecurity final : public Security {
 public:
  CryptoSecurity(crypto::Identity identity, crypto::SwarmKey swarm_key, CryptoSecurityOptions options)
      : identity_(std::move(identity)),
        swarm_key_(std::move(swarm_key)),
        frame_aeads_(options.allow_aes_gcm ? crypto::local_frame_aeads() : crypto::kFrameAeadChaCha20Poly1305),
        datagrams_(swarm_key_, identity_, options.datagram_limits) {}

  std::string_view name() const override { return "sealed"; }

  std::unique_ptr<Handshake> new_handshake(bool initiator) override {
    if (initiator) return std::make_unique<InitiatorHandshake>(identity_, swarm_key_, frame_aeads_, own_dials_);
    return std::make_unique<ResponderHandshake>(identity_, swarm_key_, frame_aeads_, own_dials_);
  }

  DatagramCipher* datagram_cipher() override { return &datagrams_; }

 private:
  crypto::Identity identity_;
  crypto::SwarmKey swarm_key_;
  std::uint32_t frame_aeads_;  // offered in every handshake
  CryptoDatagramCipher datagrams_;
  // Shared with the handshakes, which may outlive this object in a transport's teardown.
  std::shared_ptr<OwnDials> own_dials_ = std::make_shared<OwnDials>();
};

}  // namespace

std::shared_ptr<Security> make_crypto_security(crypto::Identity identity, crypto::SwarmKey swarm_key,
                                               CryptoSecurityOptions options) {
  return std::make_shared<CryptoSecurity>(std::move(identity), std::move(swarm_key), options);
}

}  // namespace starling::runtime

#endif  // STARLING_HAVE_CRYPTO
