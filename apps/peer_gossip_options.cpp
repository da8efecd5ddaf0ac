// See peer_gossip_options.h.
#include "peer_gossip_options.h"

#include <algorithm>
#include <string>
#include <utility>

#include "starling/node/transport.h"
#include "starling/node/wire_fit.h"
#include "starling/runtime/thread_clock.h"
#include "starling/text.h"

namespace starling::apps {

Result<node::TrainingDriverOptions> gossip_driver_options(const PeerTrainingOptions& options,
                                                          compress::Layout layout, wire::Hash32 model_hash) {
  auto compressor = compress::CompressorSpec::parse(options.compress);
  if (!compressor) return make_error(ErrorKind::invalid_argument, "--compress: " + compressor.error().message);
  auto clip = node::parse_clip(options.clip);
  if (!clip) return make_error(ErrorKind::invalid_argument, "--clip: " + clip.error().message);
  node::TrainingDriverOptions d;
  d.layout = std::move(layout);
  d.compressor = *compressor;
  d.model_hash = model_hash;
  d.gamma = float(options.gamma);
  d.neighbours = std::size_t(options.neighbours);
  d.max_links = std::size_t(options.max_links);
  d.round_every_steps = std::uint64_t(options.round_steps);
  d.mixing = node::parse_mixing(options.mixing).value_or(node::kDefaultMixing);  // CLI-checked
  d.round_max_interval_ms = std::uint64_t(options.gossip_interval_ms);
  // Round pacing (node/round_pacing.h): rounds follow k steps, no sooner
  // than --round-floor ms after the last (default 50; 0: no floor) and while
  // their own CPU stays under --round-cpu-share of the loop thread. The
  // floor is on by default: without it a 1 ms-step peer gossips every few
  // steps and sends about 4x the bytes (483 MB per peer in the 90 s
  // quickstart against about 100 MB) for ~10% fewer steps to 88%
  // (docs/learning.md, "When a peer gossips").
  // A floor above the ceiling would never apply (a round is due every
  // --gossip-interval): refused rather than silently lowered to it.
  if (options.round_floor_ms > options.gossip_interval_ms) {
    return make_error(ErrorKind::invalid_argument,
                      "--round-floor " + std::to_string(options.round_floor_ms) + " is above --gossip-interval " +
                          std::to_string(options.gossip_interval_ms) +
                          ": a round is due at least every --gossip-interval ms, so the shortest time between "
                          "rounds must not exceed it (lower --round-floor or raise --gossip-interval)");
  }
  d.round_min_interval_ms = std::uint64_t(std::max(options.round_floor_ms, 0));
  d.round_cpu_share = options.round_cpu_share;
  d.round_cpu_clock_us = runtime::thread_cpu_time_us;
  d.consensus_control = options.consensus_control;
  d.consensus_control_config.target = options.consensus_target;
  d.upload_budget.bytes_per_second = options.max_upload;
  if (options.download_precision != "bf16" && options.download_precision != "f32") {
    return make_error(ErrorKind::invalid_argument,
                      "--download-precision: " + quoted_text(options.download_precision) + " is not bf16 or f32");
  }
  d.download_bf16 = options.download_precision == "bf16";
  d.clip = clip->mode;
  d.clip_radius = clip->radius;
  if (Status fits = node::check_links_carry(d.layout, d.compressor, d.warmup,
                                            node::TransportLimits{}.max_pending_outbound_bytes);
      !fits)
    return fits.error();
  return d;
}

nlohmann::json round_pacing_json(const node::TrainingDriverStatus& d) {
  return nlohmann::json{{"round_wait", d.round_wait},
                        {"round_floor_ms", d.round_floor_ms},
                        {"round_cpu_share_budget", d.round_cpu_share_budget},
                        {"round_cpu_us", d.round_cpu_us},
                        {"round_cpu_share", d.round_cpu_share},
                        {"round_interval_ms", d.round_interval_ms},
                        {"steps_per_round", d.steps_per_round},
                        {"rounds_held_floor", d.rounds_held_floor},
                        {"rounds_held_cpu", d.rounds_held_cpu},
                        {"rounds_held_upload", d.rounds_held_upload}};
}

}  // namespace starling::apps
