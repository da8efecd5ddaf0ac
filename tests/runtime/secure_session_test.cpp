// Secure sessions under attack: wrong swarm keys, silent peers, and tampered,
// truncated, replayed and oversized frames. Each must cost the attacker its
// connection, on real sockets and in memory alike.
#include <catch2/catch.hpp>

#include "harness.h"
#include "security_modes.h"

#if STARLING_HAVE_CRYPTO

#include <string>
#include <vector>

#include "starling/crypto/frame.h"

using namespace starling;
using namespace starling::runtime;
using namespace starling::node;
using namespace starling::runtime::testing;

namespace {

constexpr std::uint64_t kWaitMs = 5'000;

// A handshake that says nothing and never finishes: a silent peer.
class SilentSecurity final : public Security {
 public:
  std::string_view name() const override { return "silent"; }
  std::unique_ptr<Handshake> new_handshake(bool) override {
    class Silent final : public Handshake {
     public:
      Result<HandshakeStep> start() override { return HandshakeStep{}; }
      Result<HandshakeStep> receive(ByteSpan) override { return HandshakeStep{}; }
      std::unique_ptr<FrameCipher> take_cipher() override { return nullptr; }
      Bytes remote_identity() const override { return {}; }
    };
    return std::make_unique<Silent>();
  }
  DatagramCipher* datagram_cipher() override { return nullptr; }
};

enum class Attack { flip_bit, truncate, replay };

// Seals honestly through a real session, then damages what goes on the wire.
class AttackCipher final : public FrameCipher {
 public:
  AttackCipher(std::unique_ptr<FrameCipher> inner, Attack attack, int attack_frame)
      : inner_(std::move(inner)), attack_(attack), attack_frame_(attack_frame) {}

  std::size_t overhead() const override {
    // Truncation: every frame arrives one byte short of its tag.
    return attack_ == Attack::truncate ? inner_->overhead() - 1 : inner_->overhead();
  }

  Status seal(ByteSpan plaintext, std::span<std::uint8_t> out) override {
    Bytes sealed(plaintext.size() + inner_->overhead());
    if (auto status = inner_->seal(plaintext, sealed); !status) return status;
    const int index = frames_++;
    if (attack_ == Attack::flip_bit && index == attack_frame_) sealed[sealed.size() / 2] ^= 0x10;
    if (attack_ == Attack::replay && index == attack_frame_) sealed = previous_;
    previous_ = sealed;
    std::copy_n(sealed.begin(), out.size(), out.begin());
    return ok_status();
  }

  Result<std::span<std::uint8_t>> open(std::span<std::uint8_t> sealed) override { return inner_->open(sealed); }

 private:
  std::unique_ptr<FrameCipher> inner_;
  Attack attack_;
  int attack_frame_;
  int frames_ = 0;
  Bytes previous_;
};

class AttackSecurity final : public Security {
 public:
  AttackSecurity(std::shared_ptr<Security> inner, Attack attack, int attack_frame)
      : inner_(std::move(inner)), attack_(attack), attack_frame_(attack_frame) {}
  std::string_view name() const override { return "attack"; }
  std::unique_ptr<Handshake> new_handshake(bool initiator) override {
    class Wrapped final : public Handshake {
     public:
      Wrapped(std::unique_ptr<Handshake> inner, Attack attack, int attack_frame)
          : inner_(std::move(inner)), attack_(attack), attack_frame_(attack_frame) {}
      Result<HandshakeStep> start() override { return inner_->start(); }
      Result<HandshakeStep> receive(ByteSpan frame) override { return inner_->receive(frame); }
      std::unique_ptr<FrameCipher> take_cipher() override {
        return std::make_unique<AttackCipher>(inner_->take_cipher(), attack_, attack_frame_);
      }
      Bytes remote_identity() const override { return inner_->remote_identity(); }

     private:
      std::unique_ptr<Handshake> inner_;
      Attack attack_;
      int attack_frame_;
    };
    return std::make_unique<Wrapped>(inner_->new_handshake(initiator), attack_, attack_frame_);
  }
  DatagramCipher* datagram_cipher() override { return inner_->datagram_cipher(); }

 private:
  std::shared_ptr<Security> inner_;
  Attack attack_;
  int attack_frame_;
};

template <typename Net>
struct SecureSetup : Net {
  SealedMode mode;
};

// Records the AEAD name of every session its inner security completes.
class NamingSecurity final : public Security {
 public:
  explicit NamingSecurity(std::shared_ptr<Security> inner) : inner_(std::move(inner)) {}
  std::string_view name() const override { return inner_->name(); }
  std::unique_ptr<Handshake> new_handshake(bool initiator) override {
    class Wrapped final : public Handshake {
     public:
      Wrapped(std::unique_ptr<Handshake> inner, std::vector<std::string>& names)
          : inner_(std::move(inner)), names_(names) {}
      Result<HandshakeStep> start() override { return inner_->start(); }
      Result<HandshakeStep> receive(ByteSpan frame) override { return inner_->receive(frame); }
      std::unique_ptr<FrameCipher> take_cipher() override {
        auto cipher = inner_->take_cipher();
        if (cipher) names_.emplace_back(cipher->name());
        return cipher;
      }
      Bytes remote_identity() const override { return inner_->remote_identity(); }

     private:
      std::unique_ptr<Handshake> inner_;
      std::vector<std::string>& names_;
    };
    return std::make_unique<Wrapped>(inner_->new_handshake(initiator), names);
  }
  DatagramCipher* datagram_cipher() override { return inner_->datagram_cipher(); }

  std::vector<std::string> names;

 private:
  std::shared_ptr<Security> inner_;
};

}  // namespace

TEMPLATE_TEST_CASE("secure: the right swarm key connects and proves identities", "[runtime][secure]", UvHarness,
                   MemoryHarness) {
  SecureSetup<TestType> setup;
  Peer& server = setup.make_peer({}, setup.mode.make());
  Peer& client = setup.make_peer({}, setup.mode.make());
  auto id = client.transport->connect(server.address);
  REQUIRE(id.ok());
  REQUIRE(setup.run_until([&] { return !client.events.connected.empty() && !server.events.connected.empty(); },
                          kWaitMs));
  // Each side learns the other's node id, and they differ.
  CHECK(client.events.connected[0].remote_identity.size() == 32);
  CHECK(server.events.connected[0].remote_identity.size() == 32);
  CHECK(client.events.connected[0].remote_identity != server.events.connected[0].remote_identity);
  // Sealing costs the tag on the wire.
  REQUIRE(client.transport->send(*id, Bytes(100, 1)).ok());
  REQUIRE(setup.run_until([&] { return server.events.frame_count() == 1; }, kWaitMs));
  CHECK(client.transport->stats().bytes_sent >= 100 + 16 + 4);

  // The client closes, done: the server is told, and counts no error (it
  // counted each `starling status` as a connection dropped for one).
  client.transport->close(*id);
  REQUIRE(setup.run_until([&] { return !server.events.disconnected.empty(); }, kWaitMs));
  CHECK(server.events.disconnected.front().second.reason == Reason::closed_by_peer);
  CHECK(server.transport->stats().connections_dropped == 0);
  CHECK(client.transport->stats().connections_dropped == 0);
}

TEMPLATE_TEST_CASE("secure: sessions use AES-256-GCM when both ends can, ChaCha20-Poly1305 otherwise",
                   "[runtime][secure][aead]", UvHarness, MemoryHarness) {
  const bool server_aes = GENERATE(true, false);
  const bool client_aes = GENERATE(true, false);
  INFO("server offers AES: " << server_aes << ", client offers AES: " << client_aes);
  SecureSetup<TestType> setup;
  setup.mode.allow_aes_gcm = server_aes;
  auto server_security = std::make_shared<NamingSecurity>(setup.mode.make());
  setup.mode.allow_aes_gcm = client_aes;
  auto client_security = std::make_shared<NamingSecurity>(setup.mode.make());
  Peer& server = setup.make_peer({}, server_security);
  Peer& client = setup.make_peer({}, client_security);
  auto id = client.transport->connect(server.address);
  REQUIRE(id.ok());
  REQUIRE(setup.run_until([&] { return !client.events.connected.empty() && !server.events.connected.empty(); },
                          kWaitMs));
  const bool aes = server_aes && client_aes && crypto::aes256gcm_available();
  const std::string expected = aes ? "aes256-gcm" : "chacha20-poly1305";
  REQUIRE(server_security->names.size() == 1);
  REQUIRE(client_security->names.size() == 1);
  CHECK(server_security->names[0] == expected);
  CHECK(client_security->names[0] == expected);
  // A delta-sized frame each way arrives intact.
  Bytes big(235'146);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7);
  const ConnectionId server_id = server.events.connected[0].id;
  REQUIRE(client.transport->send(*id, big).ok());
  REQUIRE(server.transport->send(server_id, big).ok());
  REQUIRE(setup.run_until([&] { return server.events.frame_count() == 1 && client.events.frame_count() == 1; },
                          kWaitMs));
  CHECK(server.events.frames[server_id][0] == big);
  CHECK(client.events.frames[*id][0] == big);
}

TEMPLATE_TEST_CASE("secure: a wrong swarm key is dropped within the handshake timeout", "[runtime][secure]",
                   UvHarness, MemoryHarness) {
  SecureSetup<TestType> setup;
  TransportLimits limits;
  limits.handshake_timeout_ms = 1'000;
  Peer& server = setup.make_peer(limits, setup.mode.make());
  Peer& outsider = setup.make_peer(limits, setup.mode.make_outsider());
  const std::uint64_t start = setup.now_ms();
  auto id = outsider.transport->connect(server.address);
  REQUIRE(id.ok());
  REQUIRE(setup.run_until([&] { return outsider.events.disconnected_with(*id); }, kWaitMs));
  CHECK(setup.now_ms() - start <= limits.handshake_timeout_ms + 100);
  REQUIRE(setup.run_until([&] { return server.events.disconnected.empty() && server.transport->connection_count() == 0; },
                          kWaitMs));
  CHECK(outsider.events.connected.empty());
  CHECK(server.events.connected.empty());
  CHECK(server.events.frame_count() == 0);
  // The server noticed the forgery itself (it drops inbound connections it never announced).
  CHECK(server.transport->stats().connections_dropped == 1);
  // Counted by reason (the metrics' starling_handshake_failures_total): the
  // server saw the proof fail; the outsider saw it fail or the server hang up.
  CHECK(server.transport->stats().handshake_failures.security == 1);
  const node::HandshakeFailures& outsider_failures = outsider.transport->stats().handshake_failures;
  CHECK(outsider_failures.security + outsider_failures.closed == 1);
  CHECK(outsider_failures.timeout + outsider_failures.protocol == 0);

  // An outsider's datagrams do not get through either.
  REQUIRE(outsider.transport->send_datagram(server.address, Bytes{1, 2, 3}).ok());
  REQUIRE(setup.run_until([&] { return server.transport->stats().datagrams_rejected == 1; }, kWaitMs));
  CHECK(server.events.datagrams.empty());
}

TEMPLATE_TEST_CASE("secure: a silent peer is dropped at the handshake timeout", "[runtime][secure]", UvHarness,
                   MemoryHarness) {
  SecureSetup<TestType> setup;
  TransportLimits limits;
  limits.handshake_timeout_ms = 300;
  Peer& server = setup.make_peer(limits, setup.mode.make());
  Peer& silent = setup.make_peer({}, std::make_shared<SilentSecurity>());
  const std::uint64_t start = setup.now_ms();
  auto id = silent.transport->connect(server.address);
  REQUIRE(id.ok());
  REQUIRE(setup.run_until([&] { return silent.events.disconnected_with(*id); }, kWaitMs));
  const std::uint64_t elapsed = setup.now_ms() - start;
  CHECK(elapsed >= 290);
  CHECK(elapsed <= 1'000);
  CHECK(server.transport->connection_count() == 0);
  CHECK(server.transport->stats().connections_dropped == 1);
  CHECK(server.transport->stats().handshake_failures.timeout == 1);
  CHECK(server.transport->stats().handshake_failures.security == 0);
}

TEMPLATE_TEST_CASE("secure: damaged frames cost the connection", "[runtime][secure]", UvHarness, MemoryHarness) {
  SecureSetup<TestType> setup;
  setup.mode.allow_aes_gcm = GENERATE(true, false);  // AES-256-GCM (where the CPU has it) and ChaCha20-Poly1305
  INFO("AES-256-GCM offered: " << setup.mode.allow_aes_gcm);
  Peer& server = setup.make_peer({}, setup.mode.make());
  const auto [attack, name] = GENERATE(table<Attack, const char*>(
      {{Attack::flip_bit, "tampered"}, {Attack::truncate, "truncated"}, {Attack::replay, "replayed"}}));
  INFO(name);
  const int attack_frame = attack == Attack::truncate ? 0 : 3;
  Peer& attacker = setup.make_peer({}, std::make_shared<AttackSecurity>(setup.mode.make(), attack, attack_frame));
  auto id = attacker.transport->connect(server.address);
  REQUIRE(id.ok());
  REQUIRE(setup.run_until([&] { return !server.events.connected.empty(); }, kWaitMs));
  const ConnectionId server_id = server.events.connected.back().id;
  for (std::uint8_t i = 0; i < 6; ++i) REQUIRE(attacker.transport->send(*id, Bytes(64, i)).ok());
  REQUIRE(setup.run_until([&] { return server.events.disconnected_with(server_id); }, kWaitMs));
  CHECK(server.events.reason_for(server_id)->kind == ErrorKind::security);
  // Every frame before the damaged one arrived; none after it.
  CHECK(server.events.frames[server_id].size() == static_cast<std::size_t>(attack_frame));
  REQUIRE(setup.run_until([&] { return attacker.events.disconnected_with(*id); }, kWaitMs));
}

TEMPLATE_TEST_CASE("secure: an oversized frame costs the connection", "[runtime][secure]", UvHarness, MemoryHarness) {
  SecureSetup<TestType> setup;
  TransportLimits small;
  small.max_frame_bytes = 64 * 1024;
  Peer& server = setup.make_peer(small, setup.mode.make());
  Peer& client = setup.make_peer({}, setup.mode.make());  // allows 16 MiB frames
  auto id = client.transport->connect(server.address);
  REQUIRE(id.ok());
  REQUIRE(setup.run_until([&] { return !server.events.connected.empty(); }, kWaitMs));
  const ConnectionId server_id = server.events.connected.back().id;
  REQUIRE(client.transport->send(*id, Bytes(small.max_frame_bytes, 1)).ok());  // at the limit: fine
  REQUIRE(client.transport->send(*id, Bytes(small.max_frame_bytes + 1, 2)).ok());
  REQUIRE(setup.run_until([&] { return server.events.disconnected_with(server_id); }, kWaitMs));
  CHECK(server.events.reason_for(server_id)->kind == ErrorKind::overloaded);
  CHECK(server.events.frames[server_id].size() == 1);
}

TEMPLATE_TEST_CASE("secure: replayed datagrams are dropped", "[runtime][secure]", UvHarness, MemoryHarness) {
  SecureSetup<TestType> setup;
  Peer& a = setup.make_peer({}, setup.mode.make());
  Peer& b = setup.make_peer({}, setup.mode.make());
  // The fault layer's duplication is a perfect replay of the sealed datagram.
  setup.faults().set_link(a.key(), b.key(), LinkFaults{.duplicate_probability = 1.0});
  REQUIRE(a.transport->send_datagram(b.address, Bytes{7, 7}).ok());
  REQUIRE(setup.run_until([&] { return b.transport->stats().datagrams_rejected == 1; }, kWaitMs));
  CHECK(b.events.datagrams.size() == 1);
}

#endif  // STARLING_HAVE_CRYPTO

// Two processes started from one identity file: the responder is the only end
// that can tell (it says nothing to a failed handshake), so it counts the
// failure as own_identity, with the address it came from, not as security.
// Another process with our identity file: a Security of its own (one per
// process) holding the same identity.
TEMPLATE_TEST_CASE("secure: a peer holding our own identity is counted as such", "[runtime][secure]", UvHarness,
                   MemoryHarness) {
  SecureSetup<TestType> setup;
  const crypto::Identity identity = crypto::Identity::generate();
  Peer& server = setup.make_peer({}, make_crypto_security(identity.clone(), setup.mode.swarm_key.clone()));
  Peer& twin = setup.make_peer({}, make_crypto_security(identity.clone(), setup.mode.swarm_key.clone()));
  auto id = twin.transport->connect(server.address);
  REQUIRE(id.ok());
  REQUIRE(setup.run_until([&] { return twin.events.disconnected_with(*id); }, kWaitMs));
  REQUIRE(setup.run_until([&] { return server.transport->stats().handshake_failures.own_identity == 1; }, kWaitMs));
  const node::HandshakeFailures& failures = server.transport->stats().handshake_failures;
  CHECK(failures.security == 0);
  CHECK_FALSE(failures.own_identity_last_from.empty());
  CHECK(server.events.connected.empty());
  CHECK(twin.events.connected.empty());
  // The twin learns only that the handshake failed.
  CHECK(is_handshake_failure(twin.events.reason_for(*id)->reason));
  CHECK(twin.events.reason_for(*id)->reason != Reason::own_address);
}

// A peer dialling an address of its own (a seed that names it under another
// address) reaches its own responder, which refuses the handshake as ours:
// the dial ends with own_address, which the membership driver acts on, not
// as a failed handshake (retried for ever, blamed on the swarm key), and
// neither end counts a clone of its identity.
TEMPLATE_TEST_CASE("secure: a dial that reaches this very process ends with own_address", "[runtime][secure]",
                   UvHarness, MemoryHarness) {
  SecureSetup<TestType> setup;
  Peer& peer = setup.make_peer({}, setup.mode.make());
  auto id = peer.transport->connect(peer.address);
  REQUIRE(id.ok());
  REQUIRE(setup.run_until([&] { return peer.events.disconnected_with(*id); }, kWaitMs));
  const auto reason = peer.events.reason_for(*id);
  REQUIRE(reason);
  CHECK(reason->reason == Reason::own_address);
  CHECK_THAT(reason->message, Catch::Contains("this peer's own"));
  const node::HandshakeFailures& failures = peer.transport->stats().handshake_failures;
  CHECK(failures.own_identity == 0);
  CHECK(failures.security == 0);
  CHECK(failures.closed == 0);
  CHECK(peer.events.connected.empty());
}
