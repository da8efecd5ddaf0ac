// TrainingDriver, bandwidth: the per-link, per-round decision of
// node/upload_budget.h with the driver's counters. See docs/learning.md,
// "Bandwidth".
#include "training_internal.h"

namespace starling::node {

DeltaPlan TrainingDriver::plan_link_delta(Link& link, std::size_t links_left, const UploadBudget& budget) {
  const std::size_t pending = transport_.pending_outbound_bytes(link.id);
  // The hard cap stays: nothing more on a link that holds this much.
  if (pending > options_.max_link_backlog_bytes || training_detail::serving_download(serving_, link.id, transport_.now_ms())) {
    ++counters_.deltas_skipped_queue;
    return {};
  }
  const DeltaPlan plan = plan_delta(budget, links_left, pending, link.full_delta_bytes,
                                    options_.compressor.sparsifies());
  if (!plan.send) {
    if (pending > link.full_delta_bytes) ++counters_.deltas_skipped_queue;
    else ++counters_.deltas_skipped_budget;
  } else if (plan.fraction_scale < 1.0) {
    ++counters_.deltas_shrunk;
  }
  return plan;
}

}  // namespace starling::node
