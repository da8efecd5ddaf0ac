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
  // Piggybacked updates per datagram, by estimated encoded bytes (each signed
  // update is ~250-320 bytes): 900 keeps a sealed membership datagram under
  // the transport's 1400-byte max_datagram_bytes with room for the envelope.
  std::int64_t piggyback_bytes_max = 900;
  int broadcast_queue_max = 1024;            // pending updates; beyond it the most-sent one is dropped
  std::int64_t push_pull_interval_ms = 30000;  // full state exchange with one random member

  // Lying members (docs/membership.md, "Lying members"). An accuser whose
  // accusations were refuted accuser_strike_limit times within
  // accuser_strike_window_ms is ignored for accuser_ignore_ms; and every
  // accuser's new accusations pass a token bucket.
  int accuser_strike_limit = 3;
  std::int64_t accuser_strike_window_ms = 300000;
  std::int64_t accuser_ignore_ms = 600000;
  int accusations_per_minute = 120;  // refill of each accuser's bucket (an honest one makes <= 1 per probe)
  int accusation_burst = 10;         // bucket size

  // Floods: members learned second-hand wait as candidates until they answer
  // us themselves (docs/membership.md, "Floods").
  int candidates_max = 1024;                         // in all
  int candidates_per_source_max = 64;                // pending from one source; also its bucket size
  int members_learned_per_source_per_minute = 60;    // bucket refill; confirmed candidates refund
  int candidate_ping_attempts = 3;                   // pings (probe_interval_ms apart) before giving up
  int candidate_pings_per_round = 8;                 // pings to candidates per gossip_interval_ms

  // Discovery and lifetime.
  // First retry while no seed answers (then doubles, jittered): short, so
  // peers started together with their seed join as soon as it listens.
  std::int64_t join_retry_ms = 200;
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
