// `starling peer --metrics HOST:PORT`: fills runtime::PeerMetrics from the
// peer's status and training progress (on the loop thread) and serves it
// through runtime::MetricsServer. docs/metrics.md lists the metrics.
#pragma once

#include <memory>
#include <string>

#include "peer_training.h"
#include "starling/node/peer.h"
#include "starling/runtime/event_loop.h"
#include "starling/runtime/metrics.h"
#include "starling/runtime/metrics_server.h"
#include "starling/status.h"

namespace starling::apps {

// `training` may be null (--no-train).
runtime::PeerMetrics collect_peer_metrics(const node::PeerStatus& status, const PeerTraining* training);

// Serves /metrics on `listen` ("HOST:PORT"). `peer` and `training` must
// outlive the server; destroy it on the loop thread or after the loop stops.
// Errors: a bad address (invalid_argument), a busy or refused port (io).
Result<std::unique_ptr<runtime::MetricsServer>> serve_peer_metrics(runtime::EventLoop& loop, const std::string& listen,
                                                                   const node::Peer& peer,
                                                                   const PeerTraining* training);

}  // namespace starling::apps
