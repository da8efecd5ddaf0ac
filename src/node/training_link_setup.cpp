// TrainingDriver, link set-up: sending on a link, LinkHello, snapshots of a
// new epoch each way, resets. See training_driver.h and docs/learning.md.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <utility>

#include "starling/assert.h"
#include "starling/node/log_budget.h"
#include "starling/wire/codec.h"

#include "training_internal.h"

namespace starling::node {
using namespace training_detail;

// ---- link protocol ---------------------------------------------------------------

bool TrainingDriver::send(Link& link, const wire::Message& message) {
  auto bytes = wire::encode(message);
  if (!bytes) {
    log(DriverLogLevel::error, std::string("cannot encode ") + wire::message_name(message) + ": " + bytes.error().message);
    return false;
  }
  if (auto sent = transport_.send(link.id, *bytes); !sent) {
    log(DriverLogLevel::warning, "cannot send to " + link.address + ": " + sent.error().message);
    return false;
  }
  counters_.delta_bytes_sent += bytes->size();
  link.last_sent_ms = transport_.now_ms();
  count_sent(counters_.traffic_by_kind, wire::message_name(message), bytes->size());
  budget_.charge(bytes->size(), transport_.now_ms());
  return true;
}

void TrainingDriver::send_hello(Link& link) {
  if (link.hello_sent) return;
  wire::LinkHello hello;
  hello.link_epoch = link.state.epoch();
  hello.parameter_count = options_.layout.dimension();
  hello.model_hash = options_.model_hash;
  hello.snapshot_precision = wire::Precision::bf16;
  hello.pair_declines = true;
  hello.based_snapshots = true;
  hello.model_shape = options_.model_shape;
  hello.joining = state_ == "downloading";
  hello.round_deltas = options_.mixing != Mixing::pairwise;
  if (send(link, wire::Message{hello})) {
    link.hello_sent = true;
    link.sent_joining = hello.joining;
  }
}

void TrainingDriver::handle(Link& link, wire::Message message) {
  if (auto* hello = std::get_if<wire::LinkHello>(&message)) return on_hello(link, *hello);
  if (auto* reset = std::get_if<wire::Reset>(&message)) return on_reset(link, *reset);
  if (!link.hello_received) {
    drop_link(link.id, std::string("expected a link hello, got ") + wire::message_name(message));
    return;
  }
  if (auto* chunk = std::get_if<wire::SnapshotChunk>(&message)) return on_snapshot_chunk(link, *chunk);
  if (auto* delta = std::get_if<wire::Delta>(&message)) return on_delta(link, *delta);
  if (auto* digest = std::get_if<wire::Digest>(&message)) return on_digest(link, *digest);
  if (auto* decline = std::get_if<wire::PairDecline>(&message)) return on_pair_decline(link, *decline);
  if (auto* request = std::get_if<wire::ModelRequest>(&message)) return on_model_request(link, *request);
  if (auto* model = std::get_if<wire::ModelChunk>(&message)) return on_model_chunk(link, *model);
  drop_link(link.id, std::string("unexpected ") + wire::message_name(message) + " on a training link");
}

void TrainingDriver::on_hello(Link& link, const wire::LinkHello& hello) {
  if (link.hello_received) {
    drop_link(link.id, "second link hello");
    return;
  }
  // The problem as we see it, and as the neighbour does (the Reset's detail
  // is logged by the side that reads it, so "the neighbour" is us there).
  const std::string theirs = describe_model(hello.model_shape, hello.parameter_count);
  const std::string ours = describe_model(options_.model_shape, options_.layout.dimension());
  std::string problem;
  std::string for_them;
  if (hello.parameter_count != options_.layout.dimension()) {
    problem = "the neighbour trains " + theirs + ", we train " + ours;
    for_them = "the neighbour trains " + ours + ", we train " + theirs;
  } else if (hello.model_hash != options_.model_hash) {
    problem = "the neighbour trains a different model (" + theirs + "; we train " + ours +
              "; model hash differs: check --model and --data)";
    for_them = "the neighbour trains a different model (" + ours + "; we train " + theirs +
               "; model hash differs: check --model and --data)";
  } else if (hello.snapshot_precision != wire::Precision::bf16) {
    problem = "the neighbour wants a snapshot precision other than bf16";
    for_them = "the neighbour wants bf16 snapshots, ours another precision";
  }
  if (!problem.empty()) {
    wire::Reset reset;
    reset.reason = wire::ResetReason::model_mismatch;
    reset.detail = for_them;
    send(link, wire::Message{reset});
    log(DriverLogLevel::warning, "refusing a link with " + link.address + ": " + problem, "link.refused",
        {{"peer", link.address}, {"reason", problem}});
    on_model_mismatch(link, problem);
    // Close after the reset has had a chance to go out.
    const ConnectionId id = link.id;
    if (auto armed = closing_timers_.find(id); armed != closing_timers_.end()) transport_.cancel_timer(armed->second);
    closing_timers_[id] = transport_.start_timer(200, [this, id] {
      closing_timers_.erase(id);
      drop_link(id, "model mismatch");
    });
    link.hello_received = false;
    return;
  }
  link.hello_received = true;
  dial_refusals_.erase(link.address);
  link.peer_declines_pairs = hello.pair_declines;
  link.peer_based_snapshots = hello.based_snapshots;
  link.peer_round_deltas = hello.round_deltas;
  send_hello(link);
  log(DriverLogLevel::info, "link to " + link.address + " up (" + (link.outbound ? "dialled" : "accepted") + ")",
      "link.up", {{"peer", link.address}, {"direction", link.outbound ? "outbound" : "inbound"}});
  // The dialler opens epoch 1, unless only the acceptor is joining: then the
  // acceptor opens once it trains. A trained peer's snapshot to a joiner
  // would wait unanswered behind the joiner's download (on the same
  // connection when we serve it), and be sent again at every stall: on a
  // 40 kB/s path it kept the model chunks from arriving at all
  // (docs/learning.md, "Joining over a slow, lossy path").
  link.peer_joining = hello.joining;
  const bool only_acceptor_joins = link.outbound ? link.peer_joining && !link.sent_joining
                                                 : link.sent_joining && !link.peer_joining;
  if (link.outbound != only_acceptor_joins) link.start_epoch = link.state.epoch() + 1;
  link.opening_awaited_ms = transport_.now_ms();
  maybe_start(link);
  if (download_) request_model();
}

void TrainingDriver::on_model_mismatch(const Link& link, const std::string& problem) {
  ++counters_.links_refused_model;
  counters_.model_mismatch = problem;
  if (!download_ || download_->mismatch_reported) return;
  download_->mismatch_reported = true;
  log(DriverLogLevel::error,
      "cannot download the swarm's model: it has a different shape (" + link.address + ": " + problem +
          "). Start this peer with the swarm's --model and --data (and its --classes: peers with their own files "
          "agree on the classes only through it); meanwhile it waits for a neighbour with its "
          "own model, and trains alone from its own initial parameters if none serves one within " +
          std::to_string(options_.download_timeout_ms / 1000) + " s",
      "training.model_mismatch", {{"peer", link.address}, {"reason", problem}});
}

void TrainingDriver::maybe_start(Link& link) {
  if (!parameters_ || !link.hello_done() || !link.start_epoch || link.state.sending()) return;
  const std::uint64_t epoch = std::max(*link.start_epoch, link.state.epoch());
  link.start_epoch.reset();
  const std::uint64_t base = start_base(link);
  link.reply_base = 0;
  if (base != 0 && start_from_base(link, base, epoch)) return;
  auto snapshot = link.state.start(poisoning() ? poisoned(*parameters_) : *parameters_, epoch);
  if (!snapshot) {
    log(DriverLogLevel::error, "cannot start the link to " + link.address + ": " + snapshot.error().message);
    return;
  }
  link.deltas_since_digest = 0;
  link.awaiting_pair_reply = false;  // a new epoch: an open pairing is void
  link.epoch_started_ms = transport_.now_ms();
  const std::size_t total = snapshot->values.size();
  const std::size_t chunk_values = std::max<std::size_t>(1, options_.snapshot_chunk_values);
  for (std::size_t offset = 0; offset < total || offset == 0; offset += chunk_values) {
    wire::SnapshotChunk chunk;
    chunk.epoch = snapshot->epoch;
    chunk.offset = offset;
    chunk.total = total;
    chunk.precision = wire::Precision::bf16;
    const std::size_t end = std::min(total, offset + chunk_values);
    chunk.values_half.reserve(end - offset);
    for (std::size_t k = offset; k < end; ++k)
      chunk.values_half.push_back(bf16_bits(snapshot->values[k]));
    if (!send(link, wire::Message{std::move(chunk)})) {
      drop_link(link.id, "cannot send the snapshot");
      return;
    }
    if (total == 0) break;
  }
}

void TrainingDriver::on_snapshot_chunk(Link& link, const wire::SnapshotChunk& chunk) {
  const std::size_t dimension = options_.layout.dimension();
  link.last_activity_ms = transport_.now_ms();  // progress: the stall timer waits
  link.peer_joining = false;                     // it trains: it sends its snapshot
  if (chunk.epoch < link.state.epoch()) return;  // superseded by a newer epoch already
  if (chunk.base != 0) return on_based_snapshot(link, chunk);
  link.reply_base = 0;
  if (chunk.precision != wire::Precision::bf16 || chunk.total != dimension ||
      chunk.offset + chunk.values_half.size() > dimension) {
    break_link(link, wire::ResetReason::unspecified, "malformed snapshot chunk");
    return;
  }
  if (chunk.offset == 0) {
    link.snapshot.assign(dimension, 0.0f);
    link.snapshot_epoch = chunk.epoch;
    link.snapshot_filled = 0;
  }
  if (chunk.epoch != link.snapshot_epoch || chunk.offset != link.snapshot_filled) {
    break_link(link, wire::ResetReason::sequence_gap, "snapshot chunks out of order");
    return;
  }
  for (std::size_t k = 0; k < chunk.values_half.size(); ++k)
    link.snapshot[chunk.offset + k] = from_bf16_bits(chunk.values_half[k]);
  link.snapshot_filled += chunk.values_half.size();
  if (link.snapshot_filled < dimension) return;

  node::LinkSnapshot snapshot{link.snapshot_epoch, std::move(link.snapshot)};
  link.snapshot = {};
  link.snapshot_filled = 0;
  const Status accepted = link.state.on_snapshot(snapshot);
  if (!accepted) {
    if (accepted.error().kind == ErrorKind::invalid_argument) return;  // stale
    break_link(link, wire::ResetReason::unspecified, accepted.error().message);
    return;
  }
  link.awaiting_pair_reply = false;  // the neighbour's new epoch: an open pairing is void
  link.neighbour_snapshot_taken = true;
  if (!link.state.sending()) {
    link.start_epoch = link.state.epoch();
    maybe_start(link);
  }
}


// ---- based snapshots: a joiner's link to the peer it downloaded from ---------------

const Eigen::VectorXf* TrainingDriver::base_model(std::uint64_t base, ConnectionId link) const {
  const std::uint64_t now = transport_.now_ms();
  if (downloaded_base_ && downloaded_base_->id == base && downloaded_base_->link == link &&
      downloaded_base_->expires_ms >= now)
    return &downloaded_base_->values;
  // A copy we served counts only on the link that downloaded all of it: a
  // member that asked for 1 byte of a model (or another link's copy) and then
  // named it in a based snapshot had its link count as one that sent us a
  // snapshot, so each malformed chunk after it earned a whole one of ours.
  const auto served = served_.find(base);
  if (served != served_.end() && served->second.expires_ms >= now && served->second.done &&
      served->second.link == link)
    return &served->second.values;
  return nullptr;
}

std::uint64_t TrainingDriver::start_base(const Link& link) const {
  if (link.reply_base != 0 && base_model(link.reply_base, link.id)) return link.reply_base;
  if (link.peer_based_snapshots && downloaded_base_ && !downloaded_base_->offered &&
      base_model(downloaded_base_->id, link.id))
    return downloaded_base_->id;
  return 0;
}

bool TrainingDriver::start_from_base(Link& link, std::uint64_t base, std::uint64_t epoch) {
  const Eigen::VectorXf* model = base_model(base, link.id);
  if (!model) return false;
  if (Status started = link.state.start_from_base(*model, epoch); !started) {
    log(DriverLogLevel::warning, "cannot start the link to " + link.address + " from the downloaded model (" +
                                     started.error().message + "): sending a snapshot instead");
    return false;
  }
  if (downloaded_base_ && downloaded_base_->id == base) downloaded_base_->offered = true;
  link.deltas_since_digest = 0;
  link.awaiting_pair_reply = false;
  link.epoch_started_ms = transport_.now_ms();
  wire::SnapshotChunk chunk;
  chunk.epoch = epoch;
  chunk.total = options_.layout.dimension();
  chunk.precision = wire::Precision::bf16;
  chunk.base = base;
  if (!send(link, wire::Message{std::move(chunk)})) {
    drop_link(link.id, "cannot send the snapshot");
    return true;
  }
  ++counters_.links_started_from_download;
  log(DriverLogLevel::info, "link to " + link.address + ": copies start from the downloaded model (no snapshot)",
      "link.based", {{"peer", link.address}});
  return true;
}

void TrainingDriver::on_based_snapshot(Link& link, const wire::SnapshotChunk& chunk) {
  const Eigen::VectorXf* model = base_model(chunk.base, link.id);
  if (chunk.total != options_.layout.dimension() || !model) {
    break_link(link, wire::ResetReason::unspecified,
               model ? "malformed based snapshot" : "a based snapshot names a model we do not hold", chunk.epoch);
    return;
  }
  link.snapshot = {};
  link.snapshot_filled = 0;
  const Status accepted = link.state.on_based_snapshot(chunk.epoch, *model);
  if (!accepted) {
    if (accepted.error().kind == ErrorKind::invalid_argument) return;  // stale
    break_link(link, wire::ResetReason::unspecified, accepted.error().message);
    return;
  }
  link.awaiting_pair_reply = false;
  link.neighbour_snapshot_taken = true;
  if (!link.state.sending()) {
    link.reply_base = chunk.base;
    link.start_epoch = link.state.epoch();
    maybe_start(link);
    // Both directions started from the served copy: keep it only as long as
    // a finished download's copy was kept before (for a lost last chunk).
    if (auto served = served_.find(chunk.base); served != served_.end())
      served->second.expires_ms = std::min(served->second.expires_ms, transport_.now_ms() + kServedModelTailMs);
  } else if (downloaded_base_ && downloaded_base_->id == chunk.base) {
    downloaded_base_.reset();  // both directions started from it: no longer needed
  }
}

void TrainingDriver::on_reset(Link& link, const wire::Reset& reset) {
  // The neighbour's words, up to 4 kB of its choosing: short in our log.
  const std::string detail = remote_text(reset.detail);
  if (reset.reason == wire::ResetReason::model_mismatch && link.hello_received) {
    // Its hello matched ours (on_hello checked it): the claim contradicts
    // what it said itself. A member could plant "start this peer with the
    // swarm's --model" in our error log and status this way.
    log(DriverLogLevel::warning,
        "link to " + link.address + " closed: the neighbour says our models differ, but its own link hello " +
            "matched ours (" + detail + ")",
        "link.refused", {{"peer", link.address}, {"reason", detail}});
    drop_link(link.id, "the neighbour's model mismatch contradicts its hello");
    return;
  }
  if (reset.reason == wire::ResetReason::shutdown || reset.reason == wire::ResetReason::model_mismatch) {
    if (reset.reason == wire::ResetReason::model_mismatch) {
      log(DriverLogLevel::warning, "link to " + link.address + " refused: " + detail, "link.refused",
          {{"peer", link.address}, {"reason", detail}});
      on_model_mismatch(link, detail);
      // It will refuse again: not at every neighbour check (a joiner checks
      // every 20 ms; two peers with different models redialled each other
      // ~20 times a second, each time logging both ends).
      if (link.outbound) {
        back_off_refused_dial(link);
        resample_neighbour(link);
      }
    }
    drop_link(link.id, "neighbour closed the link (" + detail + ")");
    return;
  }
  log(DriverLogLevel::info, "link to " + link.address + " reset by the neighbour: " + detail, "link.reset",
      {{"peer", link.address}, {"by", "neighbour"}, {"reason", detail}});
  if (count_reset(link)) return;  // closed
  link.state.on_reset(node::LinkReset{reset.epoch, detail});
  link.opening_awaited_ms = transport_.now_ms();
  link.awaiting_pair_reply = false;
  // The neighbour restarts with a snapshot of a newer epoch; we answer it.
  // Until it came, a break closes the link (break_link).
  link.neighbour_snapshot_taken = false;
}

void TrainingDriver::break_link(Link& link, wire::ResetReason reason, const std::string& detail,
                                std::uint64_t void_epoch) {
  if (!link.neighbour_snapshot_taken) {
    // An honest neighbour's first message of an epoch is a snapshot (or it
    // answers ours with one); it has sent none we could take, so what it
    // sent is not a link we can mend by sending ours.
    log(DriverLogLevel::warning,
        "link to " + link.address + " closed: " + detail + " before any snapshot of its own (none of ours sent back)",
        "link.refused_input", {{"peer", link.address}, {"reason", detail}});
    close_link(link, detail + ", before any snapshot of its own");
    return;
  }
  reset_link(link, reason, detail, void_epoch);
}

void TrainingDriver::reset_link(Link& link, wire::ResetReason reason, const std::string& detail,
                                std::uint64_t void_epoch) {
  log(DriverLogLevel::warning, "link to " + link.address + " broken (" + detail + "): resetting with a snapshot",
      "link.reset", {{"peer", link.address}, {"by", "self"}, {"reason", detail}});
  if (count_reset(link)) return;  // closed
  link.awaiting_pair_reply = false;
  link.neighbour_snapshot_taken = false;
  const node::LinkReset reset = link.state.make_reset(detail, void_epoch);
  wire::Reset out;
  out.epoch = reset.epoch;
  out.reason = reason;
  out.detail = detail.substr(0, 1024);
  if (!send(link, wire::Message{out})) {
    drop_link(link.id, "cannot send a reset");
    return;
  }
  link.snapshot = {};
  link.snapshot_filled = 0;
  link.reply_base = 0;
  link.start_epoch = link.state.epoch() + 1;
  maybe_start(link);
}

}  // namespace starling::node
