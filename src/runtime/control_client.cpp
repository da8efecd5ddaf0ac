#include "starling/runtime/control_client.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "starling/runtime/crypto_security.h"
#include "starling/runtime/event_loop.h"
#include "starling/runtime/uv_transport.h"
#include "starling/wire/codec.h"

namespace starling::runtime {

struct ControlClient::State {
  EventLoop loop;
  std::unique_ptr<Transport> transport;
  std::uint64_t next_request_id = 1;
};

ControlClient::ControlClient(crypto::SwarmKey swarm_key)
    : ControlClient(std::move(swarm_key), crypto::Identity::generate()) {}

ControlClient::ControlClient(crypto::SwarmKey swarm_key, crypto::Identity identity)
    : state_(std::make_unique<State>()) {
  UvTransportOptions options;
  // Each exchange() bounds its requests by its own timeout and closes what
  // has not answered: the transport's handshake deadline (5 s) would cut a
  // longer one short (`starling status --timeout 20` gave up after 5 s).
  options.limits.handshake_timeout_ms = kMaxExchangeTimeoutMs;
  options.security = make_crypto_security(std::move(identity), std::move(swarm_key));
  state_->transport = make_uv_transport(state_->loop, std::move(options));
}

ControlClient::~ControlClient() {
  // The transport goes before its loop (uv_transport.h).
  state_->transport->shutdown();
  state_->transport.reset();
}

namespace {

// The words `starling peer` uses for the same bytes (node/membership_driver.cpp).
constexpr const char* kNotStarling =
    "most likely another program listens at that address (a wrong port?), or a starling of an incompatible version";

// Bytes no starling sends (a frame that does not decode, or one past the
// size limit): the decoder's own words (Cap'n Proto's) help nobody here.
bool is_not_starling(const Error& error) {
  return error.kind == ErrorKind::corrupt || error.kind == ErrorKind::overloaded;
}

// What the caller sees when a connection ended before the answer came.
Error explain(const std::string& where, const Error& reason) {
  // The transport tells a refused connect from a refused handshake (Reason).
  if (is_handshake_failure(reason.reason)) {
    const std::string failed = "secure handshake with " + where + " failed";
    // An HTTP server, an echo, random bytes: blaming the swarm key sent
    // users comparing fingerprints.
    if (is_not_starling(reason))
      return make_error(ErrorKind::corrupt, failed + ": its bytes are not starling's handshake: " + kNotStarling);
    // A reply that failed authentication: a starling peer with another key.
    if (reason.kind == ErrorKind::security)
      return make_error(ErrorKind::security, failed + ": " + reason.message + " (does --swarm-key match the peer's?)");
    // A starling peer hangs up on a hello it cannot open (it says nothing to
    // a stranger), and so may any other program.
    if (reason.kind == ErrorKind::disconnected || reason.kind == ErrorKind::io)
      return make_error(ErrorKind::security,
                        failed + ": the other end hung up (" + reason.message +
                            "); a starling peer does so when its swarm key differs (does --swarm-key match the "
                            "peer's?), or it is not a starling peer at all");
    return make_error(reason.kind, failed + ": " + reason.message);  // e.g. another handshake version
  }
  if (is_not_starling(reason))
    return make_error(ErrorKind::corrupt, "the answer from " + where + " is not starling's: " + kNotStarling);
  return make_error(reason.kind, "cannot reach " + where + " (" + to_string(reason.kind) + "): " + reason.message);
}

}  // namespace

std::vector<Result<std::string>> ControlClient::exchange(const std::vector<ControlRequest>& requests,
                                                         std::uint64_t timeout_ms) {
  timeout_ms = std::min(timeout_ms, kMaxExchangeTimeoutMs);
  struct Pending {
    std::size_t index = 0;
    std::uint64_t request_id = 0;
  };
  std::vector<std::optional<Result<std::string>>> results(requests.size());
  std::map<ConnectionId, Pending> pending;
  std::size_t finished = 0;
  auto finish = [&](std::size_t index, Result<std::string> result) {
    if (results[index]) return;
    results[index] = std::move(result);
    ++finished;
  };

  Transport& transport = *state_->transport;
  TransportEvents events;
  events.on_frame = [&](ConnectionId id, ByteSpan frame) {
    auto found = pending.find(id);
    if (found == pending.end()) return;
    const Pending request = found->second;
    const std::string where = to_string(requests[request.index].address);
    auto message = wire::decode(frame);
    if (!message) {
      // Only an open swarm's client reads a frame it did not open first.
      finish(request.index, make_error(ErrorKind::corrupt, "the answer from " + where + " is not starling's: " +
                                                               kNotStarling + " (or a peer with a swarm key, which "
                                                               "needs --swarm-key)"));
    } else if (const auto* answer = std::get_if<wire::StatusAnswer>(&*message);
               answer && answer->request_id == request.request_id) {
      finish(request.index, answer->json);
    } else {
      finish(request.index, make_error(ErrorKind::corrupt, "unexpected answer from " + where + ": " +
                                                               wire::message_name(*message)));
    }
    pending.erase(found);
    transport.close(id);
  };
  events.on_disconnected = [&](ConnectionId id, const Error& reason) {
    auto found = pending.find(id);
    if (found == pending.end()) return;
    finish(found->second.index, explain(to_string(requests[found->second.index].address), reason));
    pending.erase(found);
  };
  transport.set_events(std::move(events));

  for (std::size_t i = 0; i < requests.size(); ++i) {
    const std::string where = to_string(requests[i].address);
    auto id = transport.connect(requests[i].address);
    if (!id) {
      finish(i, make_error(id.error().kind, "cannot connect to " + where + ": " + id.error().message));
      continue;
    }
    const std::uint64_t request_id = state_->next_request_id++;
    pending[*id] = Pending{i, request_id};
    std::vector<wire::Message> messages = requests[i].controls;
    messages.push_back(wire::StatusQuery{request_id});
    for (const wire::Message& message : messages) {
      auto bytes = wire::encode(message);
      if (!bytes) {
        finish(i, make_error(ErrorKind::invalid_argument, std::string("cannot encode ") +
                                                              wire::message_name(message) + ": " +
                                                              bytes.error().message));
        break;
      }
      if (auto sent = transport.send(*id, *bytes); !sent) {
        finish(i, make_error(sent.error().kind, "cannot send to " + where + ": " + sent.error().message));
        break;
      }
    }
    if (results[i]) {
      pending.erase(*id);
      transport.close(*id);
    }
  }

  state_->loop.run_until([&] { return finished == requests.size(); }, timeout_ms);
  for (const auto& [id, request] : pending) {
    transport.close(id);
    finish(request.index,
           make_error(ErrorKind::timeout, "no answer from " + to_string(requests[request.index].address) +
                                              " within " + std::to_string(timeout_ms) +
                                              " ms (is a starling peer running there?)"));
  }
  pending.clear();
  transport.set_events({});  // the callbacks above refer to this frame

  std::vector<Result<std::string>> out;
  out.reserve(results.size());
  for (auto& result : results) out.push_back(std::move(*result));
  return out;
}

Result<std::string> ControlClient::status(const Address& address, std::uint64_t timeout_ms) {
  auto results = exchange({ControlRequest{address, {}}}, timeout_ms);
  return std::move(results.front());
}

void ControlClient::cancel() { state_->loop.stop(); }

}  // namespace starling::runtime
