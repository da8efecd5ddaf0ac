// TrainingDriver, model download: a joiner asks a neighbour for the model in
// chunks (ModelRequest/ModelChunk), resumable across lost links; a trained
// peer serves a frozen copy to a few joiners at once. See training_driver.h.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <utility>

#include "starling/assert.h"
#include "starling/wire/codec.h"

#include "training_internal.h"

namespace starling::node {
using namespace training_detail;

// ---- model download ----------------------------------------------------------------

void TrainingDriver::on_model_request(Link& link, const wire::ModelRequest& request) {
  const std::uint64_t now = transport_.now_ms();
  expire_served_models(now);
  // Bounds against a member that asks without reading (docs/security.md):
  // while the link's outbound queue holds more than the backlog limit, the
  // request is ignored (an honest joiner asks again after its stall timeout),
  // so what one link makes us queue is the limit plus one chunk.
  if (transport_.pending_outbound_bytes(link.id) > options_.max_link_backlog_bytes) {
    ++counters_.model_requests_refused;
    return;
  }
  // At most max_downloads_served links are served at once; a link counts as
  // served while it asked within kServingSlotMs and its download is not done.
  // Others hear "none" and ask another neighbour.
  std::erase_if(serving_, [&](const auto& entry) {
    return !serving_download(serving_, entry.first, now) || links_.find(entry.first) == links_.end();
  });
  wire::ModelChunk chunk;
  chunk.request_id = request.request_id;
  const bool busy = !serving_.count(link.id) && serving_.size() >= options_.max_downloads_served;
  if (state_ == "training" && !parameters_ && !busy) {
    // Training, but the trainer has not published yet (its data may still be
    // loading): hold the request and answer it with the first parameters
    // (on_parameters), rather than send the joiner away for a second.
    serving_[link.id] = now;
    link.model_request_waiting = request;
    return;
  }
  if (state_ != "training" || !parameters_ || busy) {
    if (busy) ++counters_.model_requests_refused;
    chunk.busy = busy && state_ == "training" && parameters_;
    send(link, wire::Message{chunk});  // total 0: nothing to serve (now)
    return;
  }
  serving_[link.id] = now;
  auto found = request.snapshot_id != 0 ? served_.find(request.snapshot_id) : served_.end();
  std::uint64_t offset = request.offset;
  if (found == served_.end()) {
    // A link asking for a new snapshot again within kRefreezeMs gets the one
    // it is being served: each freeze copies (and rounds) the whole model on
    // this thread, and a member asking for 1 byte of a new one in a loop
    // kept the loop thread busy copying.
    const auto recent = std::find_if(served_.begin(), served_.end(), [&](const auto& entry) {
      return entry.second.link == link.id && !entry.second.done && entry.second.precision == request.precision &&
             now < entry.second.frozen_ms + kRefreezeMs;
    });
    if (recent != served_.end()) {
      found = recent;
      offset = 0;
    }
  }
  if (found == served_.end()) {
    // A new snapshot, frozen so that a resumed download continues the same bytes.
    std::uint64_t id = 0;
    while (id == 0 || served_.count(id)) id = random_();
    // A joiner downloads one model at a time: a new snapshot for this link
    // replaces its unfinished one (a request asked again before the first
    // answer came would otherwise freeze a second copy).
    std::erase_if(served_, [&](const auto& entry) { return entry.second.link == link.id && !entry.second.done; });
    make_room_for_served_model();
    found = served_.emplace(id, frozen_model(request.precision, now)).first;
    found->second.link = link.id;
    found->second.frozen_ms = now;
    offset = 0;
  }
  found->second.expires_ms = now + kServedModelLifetimeMs;
  const ServedModel& served = found->second;
  const bool half = served.precision == wire::Precision::bf16;
  static_assert(std::endian::native == std::endian::little, "models are served as little-endian floats");
  const std::uint64_t total = std::uint64_t(served.values.size()) * (half ? 2 : sizeof(float));
  if (offset > total) offset = 0;
  const std::uint64_t limit = request.max_bytes == 0 ? options_.model_chunk_bytes
                                                     : std::min<std::uint64_t>(request.max_bytes, options_.model_chunk_bytes);
  // At least DownloadPace's smallest request (8 kB, or our chunk limit if
  // smaller): an honest joiner never asks for less, and a member asking for a
  // byte at a time held a serving slot for ever without its download ending.
  const std::uint64_t floor = std::min<std::uint64_t>(DownloadPace::kMinBytes, options_.model_chunk_bytes);
  const std::uint64_t size = std::min<std::uint64_t>(total - offset, std::max<std::uint64_t>({limit, floor, 4}));
  // The download is done: kept a while for resumes, and as the base the
  // joiner's link to us starts from (start_base).
  if (offset + size == total) {
    found->second.expires_ms = now + std::max(kServedModelTailMs, kDownloadBaseMs);
    found->second.done = true;
    serving_.erase(link.id);  // its slot is free for the next joiner
  }
  chunk.snapshot_id = found->first;
  chunk.offset = offset;
  chunk.total = total;
  chunk.precision = served.precision;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(served.values.data());
  if (!half) {
    chunk.data.assign(bytes + offset, bytes + offset + size);
  } else {
    // The values' bf16 bit patterns, little-endian, as the f32 path's floats;
    // a chunk may start or end inside a value.
    const std::uint64_t first = offset / 2;
    const std::uint64_t last = (offset + size + 1) / 2;
    std::vector<std::uint16_t> halves(last - first);
    for (std::uint64_t k = first; k < last; ++k) halves[k - first] = bf16_bits(served.values[Eigen::Index(k)]);
    const auto* half_bytes = reinterpret_cast<const std::uint8_t*>(halves.data()) + (offset - 2 * first);
    chunk.data.assign(half_bytes, half_bytes + size);
  }
  if (send(link, wire::Message{std::move(chunk)})) counters_.model_bytes_served += size;
}

void TrainingDriver::make_room_for_served_model() {
  // Copies held: one per joiner being served, plus two finished downloads
  // kept as their links' base (start_base). Past that the oldest finished
  // one goes first (its link then starts from a snapshot), an unfinished
  // one only when none is (its joiner starts over): a slow joiner must not
  // lose its download to the next one.
  const std::size_t cap = options_.max_downloads_served + 2;
  while (served_.size() >= std::max<std::size_t>(cap, 1)) {
    auto victim = served_.begin();
    for (auto it = served_.begin(); it != served_.end(); ++it) {
      if (std::pair(!it->second.done, it->second.expires_ms) < std::pair(!victim->second.done, victim->second.expires_ms))
        victim = it;
    }
    served_.erase(victim);
  }
}

TrainingDriver::ServedModel TrainingDriver::frozen_model(wire::Precision asked, std::uint64_t now_ms) {
  ServedModel served{poisoning() ? poisoned(*parameters_) : *parameters_, now_ms + kServedModelLifetimeMs,
                     wire::Precision::f32};
  if (asked != wire::Precision::bf16) return served;
  Eigen::VectorXf rounded = served.values.unaryExpr([](float v) { return bf16_round(v); });
  // A finite value near the float range's end can round to infinity: such a
  // model goes in f32 (the joiner would refuse it in bf16).
  if (!rounded.allFinite() && served.values.allFinite()) return served;
  served.values = std::move(rounded);
  served.precision = wire::Precision::bf16;
  return served;
}

void TrainingDriver::answer_waiting_model_requests() {
  if (state_ != "training" || !parameters_) return;
  std::vector<ConnectionId> waiting;
  for (const auto& [id, link] : links_) {
    if (link->model_request_waiting) waiting.push_back(id);
  }
  for (ConnectionId id : waiting) {
    auto found = links_.find(id);
    if (found == links_.end() || !found->second->model_request_waiting) continue;
    const wire::ModelRequest request = *found->second->model_request_waiting;
    found->second->model_request_waiting.reset();
    on_model_request(*found->second, request);
  }
}

void TrainingDriver::request_model() {
  if (!download_ || download_->from != 0) return;
  const std::uint64_t now = transport_.now_ms();
  // A refused server (its model failed here) only once no other neighbour
  // served for the grace period: a lone neighbour is still better than our
  // own initial parameters, and the neighbour check (every 500 ms) asks again.
  const bool refused_allowed = now >= download_->started_ms + options_.refused_server_grace_ms;
  const auto refused = [&](const Link& link) {
    return std::find(options_.refused_servers.begin(), options_.refused_servers.end(), link.node_id) !=
           options_.refused_servers.end();
  };
  const auto ask = [&](ConnectionId id, Link& link) {
    wire::ModelRequest request;
    request.snapshot_id = download_->snapshot_id;
    request.offset = download_->bytes.size();
    request.max_bytes = download_->pace.ask_bytes();
    request.precision = options_.download_bf16 ? wire::Precision::bf16 : wire::Precision::f32;
    request.request_id = download_->request_id + 1;
    if (!send(link, wire::Message{request})) return false;
    download_->request_id = request.request_id;
    download_->from = id;
    download_->requested_ms = now;
    download_->asked_bytes = request.max_bytes;
    return true;
  };
  // The server of our snapshot first: anyone else starts another one from
  // byte 0. It may be back on a new link (a resumed download).
  if (!download_->bytes.empty()) {
    for (auto& [id, link] : links_) {
      if (link->node_id != download_->source_node || !link->hello_done() || link->model_retry_at_ms > now) continue;
      if (ask(id, *link)) return;
    }
  }
  for (const bool refused_pass : {false, true}) {
    if (refused_pass && !refused_allowed) return;
    for (auto& [id, link] : links_) {
      if (!link->hello_done() || link->model_retry_at_ms > now || refused(*link) != refused_pass) continue;
      if (ask(id, *link)) return;
    }
  }
}

void TrainingDriver::on_download_timer() {
  download_timer_.reset();
  if (!download_) return;
  const std::uint64_t now = transport_.now_ms();
  const std::uint64_t timeout = options_.download_timeout_ms;
  const std::uint64_t last_limit = download_->started_ms + kDownloadTimeoutsMax * timeout;
  const std::uint64_t deadline = std::min(std::max(download_->started_ms, download_->heard_ms) + timeout, last_limit);
  if (now < deadline) {
    download_timer_ = transport_.start_timer(deadline - now, [this] { on_download_timer(); });
    return;
  }
  std::string why;
  if (download_->bytes.empty() && download_->heard_ms == 0) {
    why = "no neighbour served a model within " + std::to_string(timeout / 1000) + " s";
  } else if (download_->bytes.empty()) {
    why = "the neighbours with a model stayed busy serving other joiners" +
          (now >= last_limit ? " for " + std::to_string((now - download_->started_ms) / 1000) + " s"
                             : std::string(", then none answered for ") + std::to_string(timeout / 1000) + " s");
  } else {
    const std::uint64_t total = std::uint64_t(options_.layout.dimension()) *
                                (download_->precision == wire::Precision::bf16 ? 2 : sizeof(float));
    why = "the model download got " + std::to_string(download_->bytes.size()) + " of " + std::to_string(total) +
          " bytes" +
          (now >= last_limit ? " in " + std::to_string((now - download_->started_ms) / 1000) + " s, its limit"
                             : ", then nothing for " + std::to_string(timeout / 1000) + " s");
  }
  if (download_->mismatch_reported)
    why += " (the swarm's model has a different shape: " + counters_.model_mismatch + ")";
  finish_download(nullptr, why + "; training from our own initial parameters");
}

void TrainingDriver::on_model_chunk(Link& link, const wire::ModelChunk& chunk) {
  if (!download_) return;
  // The answer to our current request, or a late one from our snapshot's
  // server (we asked it again meanwhile): anything else is unasked.
  // (A server without request ids answers 0: its answers count as current.)
  const bool current =
      download_->from == link.id && (chunk.request_id == download_->request_id || chunk.request_id == 0);
  if (!current && download_->source_link != link.id) return;
  const std::uint64_t now = transport_.now_ms();
  link.model_silences = 0;
  if (current) download_->from = 0;
  const auto ask_again = [&] {
    if (download_->from == 0) request_model();
  };
  if (chunk.total == 0) {
    if (!current) return;
    // A busy neighbour has a model for us once a slot is free: the swarm is
    // there, so the download timeout runs from this answer.
    if (chunk.busy) download_->heard_ms = now;
    download_->pace.on_answer(0, now - download_->requested_ms, false);
    link.model_retry_at_ms = now + kModelRefusedRetryMs;
    request_model();
    return;
  }
  const bool half = chunk.precision == wire::Precision::bf16;
  const std::uint64_t expected_total = std::uint64_t(options_.layout.dimension()) * (half ? 2 : sizeof(float));
  if (chunk.total != expected_total) {
    log(DriverLogLevel::warning, link.address + " served a model of " + std::to_string(chunk.total) +
                                     " bytes, expected " + std::to_string(expected_total));
    link.model_retry_at_ms = now + kServedModelLifetimeMs;
    if (download_->source_link == link.id) download_->source_link = 0;
    ask_again();
    return;
  }
  if (chunk.snapshot_id != download_->snapshot_id || chunk.precision != download_->precision) {
    if (!current) return;  // a late answer about a snapshot we left
    if (download_->snapshot_id != 0)
      log(DriverLogLevel::info, "model download restarts: " + link.address + " serves another snapshot");
    download_->snapshot_id = chunk.snapshot_id;
    download_->precision = chunk.precision;
    download_->bytes.clear();
  }
  download_->source_link = link.id;
  download_->source_node = link.node_id;
  // The chunk must touch what we hold: it may repeat some of it (an answer
  // to a request we made again), never leave a gap.
  const std::uint64_t held = download_->bytes.size();
  const std::uint64_t end = chunk.offset + chunk.data.size();
  if (chunk.offset > held || end > expected_total || chunk.data.empty()) {
    ask_again();  // from where we are
    return;
  }
  if (current) {
    const bool full = chunk.data.size() >= download_->asked_bytes || end == expected_total;
    download_->pace.on_answer(chunk.data.size(), now - download_->requested_ms, full);
  }
  if (end <= held) {
    ask_again();  // nothing new
    return;
  }
  download_->bytes.insert(download_->bytes.end(), chunk.data.begin() + std::ptrdiff_t(held - chunk.offset),
                          chunk.data.end());
  counters_.model_bytes_downloaded += end - held;
  download_->heard_ms = now;
  if (download_->bytes.size() < expected_total) {
    if (now >= download_->logged_ms + kDownloadLogMs && now >= download_->started_ms + kDownloadLogMs) {
      download_->logged_ms = now;
      const auto rate = download_->pace.rate_bytes_per_ms();
      log(DriverLogLevel::info, "downloading the model from " + link.address + ": " +
                                    std::to_string(download_->bytes.size() / 1000) + " of " +
                                    std::to_string(expected_total / 1000) + " kB" +
                                    (rate ? " (" + std::to_string(std::llround(*rate)) + " kB/s)" : ""),
          "download.progress",
          {{"peer", link.address},
           {"bytes", std::to_string(download_->bytes.size())},
           {"total", std::to_string(expected_total)}});
    }
    ask_again();
    return;
  }
  Eigen::VectorXf model(Eigen::Index(options_.layout.dimension()));
  if (!half) {
    std::memcpy(model.data(), download_->bytes.data(), expected_total);
  } else {
    std::vector<std::uint16_t> halves(std::size_t(model.size()));
    std::memcpy(halves.data(), download_->bytes.data(), expected_total);
    for (Eigen::Index k = 0; k < model.size(); ++k) model[k] = from_bf16_bits(halves[std::size_t(k)]);
  }
  if (!model.allFinite()) {
    log(DriverLogLevel::warning, link.address + " served a model with NaN/Inf; asking another neighbour");
    download_->snapshot_id = 0;
    download_->bytes.clear();
    download_->source_link = 0;
    download_->source_node = {};
    link.model_retry_at_ms = now + kServedModelLifetimeMs;
    ask_again();
    return;
  }
  downloaded_base_ = DownloadedBase{chunk.snapshot_id, model, link.id, now + kDownloadBaseMs, false};
  started_from_ = ModelSource{link.node_id, link.address};
  finish_download(&model, "downloaded the model (" + std::to_string(expected_total) + " bytes" + (half ? ", bf16" : "") +
                              ") from " + link.address);
}

void TrainingDriver::finish_download(const Eigen::VectorXf* model, const std::string& why) {
  if (!download_) return;
  if (download_timer_) transport_.cancel_timer(*download_timer_);
  download_timer_.reset();
  download_.reset();
  log(model ? DriverLogLevel::info : DriverLogLevel::warning, why);
  state_ = "training";
  host_.start_training(model);
  request_parameters(0);
}

}  // namespace starling::node
