// The runtime implements the peer core's Transport (node/transport.h) over
// libuv and in memory, and applies node/'s fault model to what it carries;
// this header makes that vocabulary the runtime's own, so its code reads
// `Transport`, `Address`, `FaultPolicy` as the interface it implements.
#pragma once

#include "starling/node/faults.h"
#include "starling/node/transport.h"

namespace starling::runtime {

using node::Address;
using node::Bytes;
using node::ByteSpan;
using node::ConnectionId;
using node::ConnectionInfo;
using node::TimerId;
using node::Transport;
using node::TransportEvents;
using node::TransportLimits;
using node::TransportStats;
using node::parse_address;
using node::to_string;

using node::FaultDecision;
using node::FaultPolicy;
using node::FaultStats;
using node::LinkFaults;
using node::PeerKey;

}  // namespace starling::runtime
