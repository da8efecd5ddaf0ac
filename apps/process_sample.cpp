// Sampling the peer processes: one status request per running peer over the
// control port (with its fault state again if it is a new process), each
// answer (`starling status --json`) read into an observation Sample.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <optional>

#include "json_fields.h"
#include "process_backend.h"

namespace starling::apps {
namespace {

using nlohmann::json;

constexpr double kPollTimeoutMs = 2'000;
constexpr int kFinalRoundAttempts = 4;

std::optional<double> number(const json& object, const char* key) { return number_as<double>(object, key); }

}  // namespace

std::vector<scenario::Sample> ProcessBackend::sample(const scenario::SampleRequest& request) {
  std::vector<runtime::ControlRequest> requests;
  std::vector<int> order;
  for (Slot& s : slots_) {
    if (s.phase != scenario::PeerPhase::running || s.pid == 0) continue;
    runtime::ControlRequest ask{*runtime::parse_address(address(s)), {}};
    if (s.resend_controls) {
      if (s.network_faulted()) ask.controls.push_back(fault_control(s));
      if (s.training_faulted()) ask.controls.push_back(training_control(s));
    }
    requests.push_back(std::move(ask));
    order.push_back(s.index);
  }
  // Bounded by the next timeline action, so a silent peer delays no event by
  // more than about half a second. At the end a lossy peer may lose its
  // answer, so the ones missing are asked again.
  const double until_next = request.next_action_seconds - now_seconds();
  const auto timeout_ms = static_cast<std::uint64_t>(std::clamp(until_next * 1000.0, 500.0, kPollTimeoutMs));
  const int attempts = request.final_round ? kFinalRoundAttempts : 1;
  std::map<int, std::string> answers_by_peer;
  for (int attempt = 0; attempt < attempts && !requests.empty(); ++attempt) {
    auto answers = client_->exchange(requests, timeout_ms);
    std::vector<runtime::ControlRequest> missing;
    std::vector<int> missing_order;
    for (std::size_t i = 0; i < answers.size(); ++i) {
      if (!answers[i] || !json::parse(*answers[i], nullptr, false).is_object()) {
        missing.push_back(requests[i]);
        missing_order.push_back(order[i]);
        continue;
      }
      slot(order[i]).resend_controls = false;
      answers_by_peer[order[i]] = *answers[i];
    }
    requests = std::move(missing);
    order = std::move(missing_order);
  }

  std::vector<scenario::Sample> samples;
  for (Slot& s : slots_) {
    if (s.life < 0) continue;
    scenario::Sample sample;
    sample.peer = s.index;
    sample.life = s.life;
    sample.phase = s.phase;
    if (auto found = answers_by_peer.find(s.index); found != answers_by_peer.end()) {
      read_status(found->second, s, sample);
    }
    sample.node_id = s.node_id;
    sample.address = address(s);
    samples.push_back(std::move(sample));
  }
  return samples;
}

void ProcessBackend::read_status(const std::string& answer, Slot& s, scenario::Sample& sample) {
  const json status = json::parse(answer, nullptr, false);
  sample.answered = status.is_object();  // text that is no JSON object is no answer
  if (!sample.answered) return;
  s.answer_deadline = 0.0;  // up: a restart or join came through
  // A new node id: the process restarted under a new identity.
  if (const std::string id = text_or(status, "node_id", ""); !id.empty()) s.node_id = id;
  sample.bytes_sent = number_as<std::uint64_t>(status, "bytes_sent").value_or(0);
  sample.bytes_received = number_as<std::uint64_t>(status, "bytes_received").value_or(0);
  if (auto members = status.find("members"); members != status.end() && members->is_array()) {
    for (const json& m : *members) {
      if (!m.is_object()) continue;
      sample.members.push_back(
          {text_or(m, "node_id", ""), text_or(m, "state", ""), text_or(m, "address", ""), number(m, "state_age_seconds")});
    }
  }
  if (auto training = status.find("training"); training != status.end() && training->is_object()) {
    sample.accuracy = number(*training, "test_accuracy");
    sample.local_average_accuracy = number(*training, "local_average_accuracy");
    sample.loss = number(*training, "train_loss");
    sample.consensus_distance = number(*training, "consensus_distance");
    if (auto step = number_as<std::uint64_t>(*training, "step")) sample.step = *step;
    sample.training_state = text_or(*training, "state", "");
    if (auto neighbours = training->find("neighbours"); neighbours != training->end() && neighbours->is_array()) {
      for (const json& n : *neighbours) {
        const std::optional<double> trust = n.is_object() ? number(n, "trust") : std::nullopt;
        // Another process's word: a factor in [0, 1] (±1e308 made the plot's scale infinite).
        if (trust) sample.neighbour_trust.emplace_back(text_or(n, "node_id", ""), std::clamp(*trust, 0.0, 1.0));
      }
    }
  }
}

}  // namespace starling::apps
