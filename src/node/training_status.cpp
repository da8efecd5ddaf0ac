// Counters of a peer's training over its whole run, across the drivers a
// recovery replaces (Peer::restart_training).
#include "starling/node/training_driver.h"

namespace starling::node {

void add_earlier_counters(TrainingDriverStatus& now, const TrainingDriverStatus& earlier) {
  for (auto counter : {&TrainingDriverStatus::rounds, &TrainingDriverStatus::deltas_sent,
                       &TrainingDriverStatus::deltas_received, &TrainingDriverStatus::delta_bytes_sent,
                       &TrainingDriverStatus::deltas_skipped_queue, &TrainingDriverStatus::deltas_skipped_budget,
                       &TrainingDriverStatus::deltas_shrunk, &TrainingDriverStatus::link_resets,
                       &TrainingDriverStatus::digest_mismatches, &TrainingDriverStatus::corrections_clipped,
                       &TrainingDriverStatus::pair_mirrors, &TrainingDriverStatus::pair_crossings,
                       &TrainingDriverStatus::rounds_pair_open,
                       &TrainingDriverStatus::pairs_declined, &TrainingDriverStatus::pair_declines_received,
                       &TrainingDriverStatus::delta_pulls, &TrainingDriverStatus::delta_pulls_skipped,
                       &TrainingDriverStatus::pairs_unanswered, &TrainingDriverStatus::pairs_too_soon,
                       &TrainingDriverStatus::deltas_unmade,
                       &TrainingDriverStatus::model_bytes_downloaded,
                       &TrainingDriverStatus::model_bytes_served, &TrainingDriverStatus::model_requests_refused,
                       &TrainingDriverStatus::links_started_from_download,
                       &TrainingDriverStatus::links_refused_model,
                       &TrainingDriverStatus::rounds_held_floor, &TrainingDriverStatus::rounds_held_cpu,
                       &TrainingDriverStatus::rounds_held_upload}) {
    now.*counter += earlier.*counter;
  }
  if (now.model_mismatch.empty()) now.model_mismatch = earlier.model_mismatch;
  for (const auto& [kind, traffic] : earlier.traffic_by_kind) {
    KindTraffic& sum = traffic_of(now.traffic_by_kind, kind);
    sum.messages_sent += traffic.messages_sent;
    sum.bytes_sent += traffic.bytes_sent;
    sum.messages_received += traffic.messages_received;
    sum.bytes_received += traffic.bytes_received;
  }
}

}  // namespace starling::node
