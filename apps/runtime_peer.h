// How `starling peer` assembles a node::Peer: the libuv transport (with the
// scenario fault layer and the secure session), the incarnation in a file,
// the training thread as the model host, spdlog as the log sink, and the
// status answer as JSON. The simulator assembles the same node::Peer from
// its own parts (memory transport, memory incarnation store, stepped
// trainer); everything between the parts is node::Peer's.
#pragma once

#include <spdlog/spdlog.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "peer_training.h"
#include "starling/crypto/keys.h"
#include "starling/gossip/config.h"
#include "starling/node/faults.h"
#include "starling/node/peer.h"
#include "starling/runtime/event_loop.h"
#include "starling/runtime/incarnation_file.h"
#include "starling/runtime/step_handoff.h"
#include "starling/status.h"

namespace starling::apps {

struct RuntimePeerConfig {
  node::Address listen;
  gossip::Config membership;
  // The incarnation file (runtime::FileIncarnationStore::open on the data
  // dir's `incarnation`): opened by the caller, so a corrupt one is refused
  // with its own message before anything listens. Required.
  std::unique_ptr<runtime::FileIncarnationStore> incarnations;
  PeerTraining* training = nullptr;  // null: membership only (--no-train)
  // Or a trainer of the caller's (the embedding API) behind the same
  // step-boundary hand-off, with its gossip options.
  runtime::StepHandoff* host = nullptr;
  std::optional<node::TrainingDriverOptions> driver;
  bool outbound_only = false;        // --outbound-only
  // --fault-control-from: the scenario runner's node id, the only client
  // whose fault injection is applied (node::PeerOptions::fault_control_from).
  std::optional<gossip::NodeId> fault_control_from;
  std::shared_ptr<spdlog::logger> log;
  // Where work posted to the loop thread (published parameters, an embedded
  // peer's status and leave) finds the peer, set whether or not it trains;
  // must outlive the loop's posted work (declare it before the loop).
  node::Peer** slot = nullptr;
};

// The publish sink of a runtime::StepHandoff, the same for `starling peer`
// and an embedded peer: the parameter copy travels (moved, not copied again)
// in a closure handed to `post` (which runs it on the loop thread) and
// reaches node::Peer::on_parameters there; dropped when *slot is null.
std::function<void(Eigen::VectorXf, std::int64_t)> publish_to_loop(std::function<void(std::function<void()>)> post,
                                                                   node::Peer* const* slot);

class RuntimePeer {
 public:
  // Makes the transport, the store and the peer, and listens on config.listen.
  // Errors: those of listening (io, invalid_argument).
  static Result<std::unique_ptr<RuntimePeer>> create(runtime::EventLoop& loop, RuntimePeerConfig config,
                                                     crypto::Identity identity, crypto::SwarmKey swarm_key);
  ~RuntimePeer();

  node::Peer& peer() { return *peer_; }
  node::Transport& transport() { return *transport_; }
  const std::string& address() const { return peer_->address(); }

 private:
  RuntimePeer() = default;

  std::shared_ptr<spdlog::logger> log_;
  PeerTraining* training_ = nullptr;
  const runtime::StepHandoff* handoff_ = nullptr;  // an embedded trainer's
  std::optional<node::TrainingDriverOptions> driver_;
  node::Peer** slot_ = nullptr;
  std::shared_ptr<node::FaultPolicy> faults_;
  std::string self_key_;
  bool swarm_open_ = false;
  std::unique_ptr<runtime::FileIncarnationStore> incarnations_;
  std::unique_ptr<node::Transport> transport_;
  std::unique_ptr<node::Peer> peer_;
};

}  // namespace starling::apps
