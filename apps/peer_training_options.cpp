// The flags of `starling peer`'s training half (and their config keys, which
// the config reader derives from them). See peer_training.h.
#include "peer_training.h"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include "number_checks.h"
#include "parsed_check.h"
#include "peer_gossip_options.h"
#include "starling/compress/spec.h"
#include "starling/node/training_driver.h"

namespace starling::apps {

void add_peer_training_options(CLI::App& app, PeerTrainingOptions& o) {
  app.add_flag("--no-train", o.no_train, "Keep membership only (a bootstrap or relay node): no data, no model");
  add_training_options(app, o.training, "--random-seed");
  app.add_option("--compress", o.compress, "Delta compressor: none | topk:F | randk:F | int8 | sign | sign2")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(parsed_check(compress::CompressorSpec::parse, "COMPRESSOR"));
  app.add_option("--gamma", o.gamma, "Consensus step size (0: the compressor's default, see docs/learning.md)")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(CLI::Range(0.0, node::kMaxGamma));
  app.add_option("--clip", o.clip, "Clip each neighbour's correction: auto (adaptive radius) | off | RADIUS")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(parsed_check(node::parse_clip, "CLIP"));
  app.add_option("--neighbours", o.neighbours, "Links this peer dials (others dial it too)")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(CLI::Range(1, node::kMaxNeighbours));
  app.add_option("--max-links", o.max_links, "Links kept at most (dialled and accepted)")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--mixing", o.mixing,
                 "How a round mixes: pairwise (one random neighbour, mirrored pull; one delta and its reply per round) | "
                 "neighbourhood (a delta to every link, all pulls at our round, Metropolis-Hastings weights) | "
                 "on-delta (the same deltas; each link pulls when the neighbour's delta arrives)")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(CLI::IsMember({"neighbourhood", "pairwise", "on-delta"}));
  app.add_option("--round-steps", o.round_steps,
                 "SGD steps between delta rounds (0: the compressor's default, see docs/learning.md)")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(CLI::Range(0, node::kMaxRoundSteps));
  app.add_option("--gossip-interval", o.gossip_interval_ms,
                 "Longest time between delta rounds in ms (a slow or stalled peer still mixes)")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(CLI::Range(10, 60'000));
  app.add_option("--round-floor", o.round_floor_ms,
                 "Shortest time between delta rounds in ms (0: none; then k steps and --round-cpu-share pace them)")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(CLI::Range(0, 60'000));
  app.add_option("--round-cpu-share", o.round_cpu_share,
                 "Share of wall time the loop thread may spend in delta rounds (0: no limit; docs/learning.md)")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--consensus-control", o.consensus_control,
               "Adapt the steps between rounds (1 to 16) to keep the disagreement with the neighbours under "
               "--consensus-target (docs/learning.md, \"Consensus control\")")
      ->group(kGossipOptionGroup);
  app.add_option("--consensus-target", o.consensus_target,
                 "Consensus control's target disagreement, in local SGD steps")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(CLI::Range(0.01, 1000.0));
  app.add_option("--momentum-mode", o.momentum_mode,
                 "What SGD's velocity makes of a gossip round's correction: local (nothing) | absorb (takes the pull "
                 "per step since the last round) | quasi-global (QG-DSGDm). Default: local for sign, absorb for the "
                 "others (docs/learning.md, \"Momentum and gossip\")")
      ->check(CLI::IsMember({"local", "absorb", "quasi-global"}));
  app.add_option("--absorb-share", o.absorb_share,
                 "absorb's cap on the share of a round's correction the velocity takes per step since the last "
                 "round (0: 1 - momentum, 0.1 at the default momentum; smaller damps it; docs/learning.md, "
                 "\"Absorb with low-bit gossip\")")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--max-upload", o.max_upload,
                 "Upload budget for the gossip traffic in bytes per second (0: none, for fast links); membership and "
                 "status are not counted (docs/learning.md, \"Bandwidth\")")
      ->group(kGossipOptionGroup)
      ->capture_default_str();
  app.add_option("--download-precision", o.download_precision,
                 "What a joining peer asks its neighbour's model in: bf16 (half the bytes; the joiner starts from "
                 "every value rounded to bf16) | f32 (bit for bit; an embedded peer's default, for buffers holding "
                 "more than weights; docs/embedding.md)")
      ->group(kGossipOptionGroup)
      ->capture_default_str()
      ->check(CLI::IsMember({"bf16", "f32"}));
  app.add_option("--eval-every", o.eval_every,
                 "Training steps between test-set evaluations of the own model and the local average (0: never)")
      ->type_name("STEPS")
      ->capture_default_str();
  app.add_option("--local-average-every", o.local_average_every,
                 "Evaluate the local average after every Nth evaluation of the own model, at steps that are "
                 "multiples of N x --eval-every (1: after each; 0: never). Each one costs a second evaluation")
      ->type_name("N")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app.add_option("--export-model", o.export_model,
                 "What the final checkpoint DATA_DIR/model.ckpt holds: local-average (the model averaged with "
                 "the neighbours' copies, see docs/learning.md) or own")
      ->check(CLI::IsMember({"own", "local-average"}))
      ->capture_default_str();
  app.add_option("--checkpoint-every", o.checkpoint_every,
                 "Seconds between checkpoints to DATA_DIR/model.ckpt (0: only at stop; else at least 1)")
      ->capture_default_str()
      ->check(zero_or_range(kMinCheckpointEverySeconds, kMaxCheckpointEverySeconds, "only at stop"));
  app.add_flag("--resume", o.resume, "Continue from DATA_DIR/model.ckpt if it exists (no model download)");
}

Result<std::int64_t> parse_eval_every(const std::string& text) {
  const auto refuse = [&] {
    return make_error(ErrorKind::invalid_argument,
                      "--eval-every counts training steps (it was seconds before): give 0 (never) or a whole number "
                      ">= 10, e.g. --eval-every 500; got '" + text + "'");
  };
  if (text.empty() || text.size() > 12) return refuse();
  std::int64_t steps = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return refuse();
    steps = steps * 10 + (c - '0');
  }
  if (steps != 0 && steps < 10) return refuse();
  return steps;
}

}  // namespace starling::apps
