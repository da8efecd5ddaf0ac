// Membership timing and fan-out. Defaults follow HashiCorp memberlist's
// DefaultLANConfig; wan_config() follows its DefaultWANConfig. docs/membership.md
// explains each knob.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "starling/status.h"

namespace starling::gossip {

struct Config {
  std::string profile = "lan";

  // SWIM failure detection.
  std::int64_t probe_interval_ms = 1000;  // one probe per interval (scaled by local health)
  std::int64_t probe_timeout_ms = 500;    // direct ack wait before asking others (scaled too)
  int indirect_checks = 3;                // k members asked to probe on a direct miss

  // Lifeguard.
  int suspicion_mult = 4;              // min suspicion = mult * max(1, log10 n) * probe interval
  int suspicion_max_timeout_mult = 6;  // max suspicion = this * min
  int awareness_max_multiplier = 8;    // local health scales timeouts by 1..this

  // Dissemination.
  int retransmit_mult = 4;                   // each update sent mult * ceil(log10(n + 1)) times
  std::int64_t gossip_interval_ms = 200;     // send queued updates this often ...
  int gossip_nodes = 3;                      // ... to this many random members
  std::int64_t gossip_to_the_dead_ms = 30000;  // dead members still get gossip this long, so they can refute
  int piggyback_updates_max = 10;            // updates per datagram (keeps it under one MTU)
  std::int64_t push_pull_interval_ms = 30000;  // full state exchange with one random member

  // Discovery and lifetime.
  std::int64_t join_retry_ms = 1000;      // first retry while no seed answers (then doubles, jittered)
  std::int64_t join_retry_max_ms = 15000;  // retry backoff cap
  std::int64_t leave_timeout_ms = 5000;   // leave() drains its broadcast at most this long
  std::int64_t dead_retention_ms = 3600000;  // dead members stay listed (and reject stale alive) this long
  std::int64_t left_retention_ms = 600000;   // same for members that left

  // Neighbour sampling for training.
  std::int64_t neighbour_rotation_ms = 30000;  // replace one neighbour this often

  // Checks ranges; an error names the first bad field.
  Status validate() const;
};

// memberlist DefaultLANConfig.
Config lan_config();
// memberlist DefaultWANConfig: slower probes, longer timeouts, more gossip fan-out.
Config wan_config();
// "lan" or "wan" (the `--profile` switch); anything else is invalid_argument.
Result<Config> config_for_profile(std::string_view name);

}  // namespace starling::gossip
