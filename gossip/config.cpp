#include "starling/gossip/config.h"

namespace starling::gossip {

Config lan_config() { return Config{}; }

Config wan_config() {
  Config config;
  config.profile = "wan";
  config.probe_interval_ms = 5000;
  config.probe_timeout_ms = 3000;
  config.suspicion_mult = 6;
  config.gossip_interval_ms = 500;
  config.gossip_nodes = 4;
  config.gossip_to_the_dead_ms = 60000;
  config.push_pull_interval_ms = 60000;
  config.join_retry_ms = 1000;
  config.join_retry_max_ms = 60000;
  config.leave_timeout_ms = 15000;
  config.neighbour_rotation_ms = 120000;
  return config;
}

Result<Config> config_for_profile(std::string_view name) {
  if (name == "lan") return lan_config();
  if (name == "wan") return wan_config();
  return make_error(ErrorKind::invalid_argument,
                    "unknown membership profile '" + std::string(name) + "' (expected lan or wan)");
}

Status Config::validate() const {
  auto bad = [](const char* what) { return make_error(ErrorKind::invalid_argument, std::string("gossip config: ") + what); };
  if (probe_interval_ms <= 0) return bad("probe_interval_ms must be positive");
  if (probe_timeout_ms <= 0 || probe_timeout_ms >= probe_interval_ms)
    return bad("probe_timeout_ms must be positive and below probe_interval_ms");
  if (indirect_checks < 0) return bad("indirect_checks must not be negative");
  if (suspicion_mult < 1) return bad("suspicion_mult must be at least 1");
  if (suspicion_max_timeout_mult < 1) return bad("suspicion_max_timeout_mult must be at least 1");
  if (awareness_max_multiplier < 1) return bad("awareness_max_multiplier must be at least 1");
  if (retransmit_mult < 1) return bad("retransmit_mult must be at least 1");
  if (gossip_interval_ms <= 0) return bad("gossip_interval_ms must be positive");
  if (gossip_nodes < 1) return bad("gossip_nodes must be at least 1");
  if (gossip_to_the_dead_ms < 0) return bad("gossip_to_the_dead_ms must not be negative");
  if (piggyback_bytes_max < 512) return bad("piggyback_bytes_max must be at least 512 (one signed update)");
  if (broadcast_queue_max < 16) return bad("broadcast_queue_max must be at least 16");
  if (accuser_strike_limit < 1) return bad("accuser_strike_limit must be at least 1");
  if (accuser_strike_window_ms <= 0 || accuser_ignore_ms < 0)
    return bad("accuser_strike_window_ms must be positive and accuser_ignore_ms not negative");
  if (accusations_per_minute < 1 || accusation_burst < 1)
    return bad("accusations_per_minute and accusation_burst must be at least 1");
  if (push_pull_interval_ms <= 0) return bad("push_pull_interval_ms must be positive");
  if (candidates_max < 1 || candidates_per_source_max < 1 || members_learned_per_source_per_minute < 1 ||
      candidate_ping_attempts < 1 || candidate_pings_per_round < 1)
    return bad("candidate limits must be at least 1");
  if (join_retry_ms <= 0 || join_retry_max_ms < join_retry_ms)
    return bad("join_retry_ms must be positive and at most join_retry_max_ms");
  if (leave_timeout_ms < 0) return bad("leave_timeout_ms must not be negative");
  if (dead_retention_ms < 0 || left_retention_ms < 0) return bad("retention times must not be negative");
  if (neighbour_rotation_ms <= 0) return bad("neighbour_rotation_ms must be positive");
  return ok_status();
}

}  // namespace starling::gossip
