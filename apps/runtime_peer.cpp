// The runtime's assembly of a node::Peer. See runtime_peer.h.
#include "runtime_peer.h"

#include <nlohmann/json.hpp>

#include <utility>

#include "json_text.h"
#include "log_setup.h"
#include "peer_status.h"
#include "starling/assert.h"
#include "starling/node/record_authority.h"
#include "starling/runtime/crypto_security.h"
#include "starling/runtime/uv_transport.h"

namespace starling::apps {

Result<std::unique_ptr<RuntimePeer>> RuntimePeer::create(runtime::EventLoop& loop, RuntimePeerConfig config,
                                                          crypto::Identity identity, crypto::SwarmKey swarm_key) {
  std::unique_ptr<RuntimePeer> self(new RuntimePeer());
  self->log_ = config.log;
  self->training_ = config.training;
  if (!config.training && config.host) {
    self->handoff_ = config.host;
    self->driver_ = config.driver;
  }
  self->slot_ = config.slot;
  self->swarm_open_ = swarm_key.is_open();
  self->self_key_ = node::to_string(config.listen);
  self->faults_ = std::make_shared<node::FaultPolicy>(std::mt19937_64(std::random_device{}()));
  STARLING_ASSERT_MSG(config.incarnations, "RuntimePeer::create without an incarnation store");
  self->incarnations_ = std::move(config.incarnations);

  runtime::UvTransportOptions transport_options;
  transport_options.faults = self->faults_;
  transport_options.name = self->self_key_;
  transport_options.on_warning = [log = config.log](const std::string& line) { log->warn("{}", line); };
  transport_options.limits.idle_timeout_ms = 30'000;  // connections here are short-lived
  const gossip::NodeId node_id = identity.node_id().bytes();
  auto authority = node::make_record_authority(identity.clone());
  transport_options.security = runtime::make_crypto_security(std::move(identity), swarm_key.clone());
  self->transport_ = runtime::make_uv_transport(loop, std::move(transport_options));

  node::PeerOptions options;
  options.membership = config.membership;
  options.random_seed = std::random_device{}();
  options.node_id = node_id;
  options.authority = std::move(authority);
  options.outbound_only = config.outbound_only;
  if (config.fault_control_from)
    options.fault_control_from = node::Bytes(config.fault_control_from->begin(), config.fault_control_from->end());
  if (config.training) options.training = config.training->driver_options();
  if (!config.training && config.host) options.training = config.driver;
  RuntimePeer* raw = self.get();
  options.log = [raw](node::LogLevel level, std::string_view event, const std::string& message,
                      const node::LogFields& fields) { log_event(*raw->log_, level, event, message, fields); };
  options.status_answer = [raw](const node::PeerStatus& status) {
    nlohmann::json json = status_json(status, raw->swarm_open_);
    if (raw->training_) {
      json["training"] = raw->training_->status_json(status);
    } else if (raw->handoff_ && raw->driver_) {
      json["training"] = handoff_status_json(status, *raw->driver_, *raw->handoff_);
    }
    return to_json_text(json);
  };
  options.on_control = [raw](const wire::Message& control) {
    if (const auto* fault = std::get_if<wire::FaultControl>(&control)) {
      apply_fault_control(*fault, *raw->faults_, raw->self_key_, raw->peer_->membership(), *raw->log_);
    } else if (const auto* train = std::get_if<wire::TrainingControl>(&control)) {
      if (raw->training_) raw->training_->apply(*train);
    }
  };
  node::ModelHost* host = config.training ? &config.training->host() : config.host;
  self->peer_ = std::make_unique<node::Peer>(*self->transport_, host, *self->incarnations_, std::move(options));
  // Set with or without a model host: an embedded membership-only peer
  // answers status() and leaves through the slot too.
  if (config.slot) *config.slot = self->peer_.get();
  if (config.training && config.slot) config.training->attach(loop, config.slot);
  auto bound = self->peer_->listen(config.listen);
  if (!bound) return bound.error();
  return self;
}

std::function<void(Eigen::VectorXf, std::int64_t)> publish_to_loop(std::function<void(std::function<void()>)> post,
                                                                   node::Peer* const* slot) {
  return [post = std::move(post), slot](Eigen::VectorXf parameters, std::int64_t step) {
    post([slot, step, parameters = std::move(parameters)]() mutable {
      if (*slot) (*slot)->on_parameters(std::move(parameters), step);
    });
  };
}

RuntimePeer::~RuntimePeer() {
  if (slot_) *slot_ = nullptr;
  peer_.reset();
  if (transport_) transport_->shutdown();
  transport_.reset();
}

}  // namespace starling::apps
