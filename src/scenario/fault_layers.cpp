#include "fault_layers.h"

#include <algorithm>
#include <set>

namespace starling::scenario::detail {

void FaultLayers::push(EventKind kind, std::size_t event, const std::vector<int>& peers) {
  for (int p : peers) {
    std::vector<std::size_t>& stack = layers_[{kind, p}];
    std::erase(stack, event);
    stack.push_back(event);
  }
}

std::map<std::optional<std::size_t>, std::vector<int>> FaultLayers::pop(EventKind kind, std::size_t event,
                                                                        const std::vector<int>& peers) {
  std::map<std::optional<std::size_t>, std::vector<int>> out;
  for (int p : peers) {
    auto found = layers_.find({kind, p});
    std::optional<std::size_t> top;
    if (found != layers_.end()) {
      std::erase(found->second, event);
      if (found->second.empty()) layers_.erase(found);
      else top = found->second.back();
    }
    out[top].push_back(p);
  }
  return out;
}

bool FaultLayers::holds(EventKind kind, std::size_t event, int peer) const {
  auto found = layers_.find({kind, peer});
  return found != layers_.end() && std::find(found->second.begin(), found->second.end(), event) != found->second.end();
}

std::vector<std::size_t> FaultLayers::in_force(EventKind kind) const {
  std::set<std::size_t> events;
  for (const auto& [key, stack] : layers_) {
    if (key.first == kind) events.insert(stack.begin(), stack.end());
  }
  return {events.begin(), events.end()};
}

void FaultLayers::clear(const std::vector<EventKind>& kinds, const std::vector<int>& peers) {
  for (EventKind kind : kinds) {
    for (int p : peers) layers_.erase({kind, p});
  }
}

void FaultLayers::clear(EventKind kind) {
  std::erase_if(layers_, [kind](const auto& entry) { return entry.first.first == kind; });
}

}  // namespace starling::scenario::detail
