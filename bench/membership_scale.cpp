// Membership at scale, in virtual time (issue 12, "Figures"): N membership-only
// peers (MembershipDriver, LAN profile, signed records, plain sessions) on one
// MemoryNetwork, single thread, one seed. Per N it measures
// - wall time of the bootstrap and of a 10-virtual-minute window,
// - time to the first suspicion of a crashed peer and until every peer that
//   was running at the crash lists it dead (peers crash one at a time),
// - dissemination of a newcomer's arrival to 99.9% of the running peers,
// - membership bytes per peer per second (datagrams, streams),
// - false deaths (and suspicions) at 5% and 20% uniform datagram loss.
// Prints one table. See bench/README.md.
//
//   bench_membership_scale [--quick] [--peers 16,128,1024] [--minutes 10]
//                          [--loss-minutes 10] [--seed 1]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "membership_swarm.h"

using namespace starling;
using starling::bench::Listed;
using starling::bench::MembershipSwarm;

namespace {

constexpr std::uint64_t kMsUs = 1000;
constexpr std::uint64_t kSecondUs = 1'000'000;
constexpr std::uint64_t kPollUs = 100 * kMsUs;  // resolution of "listed dead everywhere"

struct Options {
  std::vector<std::size_t> peers{16, 128, 1024};
  double minutes = 10.0;
  double loss_minutes = 10.0;
  std::uint64_t seed = 1;
};

struct Figures {
  std::size_t peers = 0;
  double bootstrap_virtual_s = 0.0;
  bool bootstrap_converged = false;
  double bootstrap_wall_s = 0.0;
  double window_wall_s = 0.0;
  double bootstrap_cpu_s = 0.0;
  double window_cpu_s = 0.0;
  std::vector<double> first_suspicion_s;
  std::vector<double> dead_everywhere_s;
  std::size_t crashes_unresolved = 0;  // not listed dead everywhere by the end
  std::vector<double> dissemination_s;
  std::size_t joins_unresolved = 0;
  double datagram_bytes_per_peer_s = 0.0;
  double stream_bytes_per_peer_s = 0.0;
  std::uint64_t false_deaths_clean = 0;
  std::uint64_t false_suspicions_clean = 0;
  std::uint64_t false_deaths_5 = 0;
  std::uint64_t false_suspicions_5 = 0;
  std::uint64_t false_deaths_20 = 0;
  std::uint64_t false_suspicions_20 = 0;
  double loss_wall_s = 0.0;
};

double wall_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Process CPU seconds: on a shared machine the wall time overstates the cost.
double cpu_now_s() { return double(std::clock()) / CLOCKS_PER_SEC; }

// Nearest-rank percentile.
double percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nan("");
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * double(values.size())));
  return values[std::min(values.size(), std::max<std::size_t>(rank, 1)) - 1];
}

struct PendingCrash {
  std::size_t subject = 0;
  std::uint64_t at_us = 0;
  std::size_t population = 0;  // peers [0, population) running at the crash are the observers
};

struct PendingJoin {
  std::size_t subject = 0;
  std::uint64_t at_us = 0;
  std::size_t target = 0;  // observers that must list it
  std::size_t listed = 0;
  bool done = false;
};

Figures measure(std::size_t n, const Options& options) {
  Figures figures;
  figures.peers = n;
  MembershipSwarm swarm(options.seed, gossip::lan_config(), kMsUs);
  std::mt19937_64 random(options.seed * 7919 + n);

  // Bootstrap: one peer every 20 ms through a random earlier one (any member
  // is a seed), then until everyone lists everyone alive (at most 300 s).
  auto start = std::chrono::steady_clock::now();
  double cpu_start = cpu_now_s();
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::size_t> seeds;
    if (i > 0) seeds.push_back(std::uniform_int_distribution<std::size_t>(0, i - 1)(random));
    swarm.add_peer(seeds);
    swarm.run_for(20 * kMsUs);
  }
  const std::uint64_t bootstrap_start_us = 0;
  while (!swarm.converged() && swarm.now_us() < 300 * kSecondUs) swarm.run_for(kSecondUs);
  figures.bootstrap_converged = swarm.converged();
  figures.bootstrap_virtual_s = double(swarm.now_us() - bootstrap_start_us) / kSecondUs;
  figures.bootstrap_wall_s = wall_since(start);
  figures.bootstrap_cpu_s = cpu_now_s() - cpu_start;

  // The window: crashes one at a time (30 s apart) during the first 60%,
  // newcomers (20 s apart) during the rest.
  const std::uint64_t window_us = std::uint64_t(options.minutes * 60.0 * kSecondUs);
  const std::uint64_t window_start_us = swarm.now_us();
  const std::size_t crashes = std::max<std::size_t>(1, std::size_t(0.6 * double(window_us) / (30.0 * kSecondUs)));
  const std::size_t joins = std::max<std::size_t>(1, std::size_t(0.35 * double(window_us) / (20.0 * kSecondUs)));
  std::map<std::uint64_t, bool> schedule;  // time -> crash (true) or join (false)
  for (std::size_t j = 0; j < crashes; ++j) schedule[window_start_us + 5 * kSecondUs + j * 30 * kSecondUs] = true;
  const std::uint64_t joins_start_us = window_start_us + 5 * kSecondUs + crashes * 30 * kSecondUs;
  for (std::size_t j = 0; j < joins; ++j) schedule[joins_start_us + j * 20 * kSecondUs] = false;

  std::vector<PendingCrash> pending_crashes;
  std::map<std::size_t, PendingJoin> pending_joins;
  swarm.on_change = [&](std::size_t, std::size_t subject, Listed before, Listed after) {
    auto found = pending_joins.find(subject);
    if (found == pending_joins.end() || found->second.done) return;
    if (before == Listed::unknown && after == Listed::alive && ++found->second.listed >= found->second.target) {
      found->second.done = true;
      figures.dissemination_s.push_back(double(swarm.now_us() - found->second.at_us) / kSecondUs);
    }
  };
  const std::uint64_t datagram_bytes_before = swarm.datagram_bytes_sent();
  const std::uint64_t stream_bytes_before = swarm.stream_bytes_sent();
  double peer_seconds = 0.0;

  start = std::chrono::steady_clock::now();
  cpu_start = cpu_now_s();
  while (swarm.now_us() < window_start_us + window_us) {
    auto next = schedule.begin();
    if (next != schedule.end() && next->first <= swarm.now_us()) {
      if (next->second) {
        std::vector<std::size_t> candidates;
        for (std::size_t i = 0; i < n; ++i)
          if (swarm.live(i)) candidates.push_back(i);
        const std::size_t victim = candidates[std::uniform_int_distribution<std::size_t>(0, candidates.size() - 1)(random)];
        swarm.crash(victim);
        pending_crashes.push_back({victim, swarm.now_us(), swarm.size()});
      } else {
        std::vector<std::size_t> seeds;
        for (std::size_t i = 0; i < swarm.size(); ++i)
          if (swarm.live(i)) seeds.push_back(i);
        const std::size_t seed = seeds[std::uniform_int_distribution<std::size_t>(0, seeds.size() - 1)(random)];
        const std::size_t others = swarm.live_count();
        const std::size_t newcomer = swarm.add_peer({seed});
        pending_joins[newcomer] = {newcomer, swarm.now_us(),
                                   std::size_t(std::ceil(0.999 * double(others) - 1e-9)), 0, false};
      }
      schedule.erase(next);
    }
    peer_seconds += double(swarm.live_count()) * double(kPollUs) / kSecondUs;
    swarm.run_for(kPollUs);
    for (auto it = pending_crashes.begin(); it != pending_crashes.end();) {
      std::size_t observers = 0, listing = 0;
      for (std::size_t o = 0; o < it->population; ++o) {
        if (!swarm.live(o)) continue;
        ++observers;
        if (swarm.listed(o, it->subject) == Listed::dead) ++listing;
      }
      if (listing == observers) {
        figures.first_suspicion_s.push_back(double(swarm.first_suspected_us(it->subject) - it->at_us) / kSecondUs);
        figures.dead_everywhere_s.push_back(double(swarm.now_us() - it->at_us) / kSecondUs);
        it = pending_crashes.erase(it);
      } else {
        ++it;
      }
    }
  }
  figures.window_wall_s = wall_since(start);
  figures.window_cpu_s = cpu_now_s() - cpu_start;
  figures.crashes_unresolved = pending_crashes.size();
  for (const auto& [index, join] : pending_joins) figures.joins_unresolved += join.done ? 0 : 1;
  figures.datagram_bytes_per_peer_s = double(swarm.datagram_bytes_sent() - datagram_bytes_before) / peer_seconds;
  figures.stream_bytes_per_peer_s = double(swarm.stream_bytes_sent() - stream_bytes_before) / peer_seconds;
  figures.false_deaths_clean = swarm.false_deaths();
  figures.false_suspicions_clean = swarm.false_suspicions();
  swarm.on_change = nullptr;

  // Loss windows: nobody crashes, so every death is false.
  start = std::chrono::steady_clock::now();
  const std::uint64_t loss_us = std::uint64_t(options.loss_minutes * 60.0 * kSecondUs);
  for (double loss : {0.05, 0.20}) {
    swarm.reset_false_counts();
    swarm.set_datagram_loss(loss);
    swarm.run_for(loss_us);
    (loss < 0.1 ? figures.false_deaths_5 : figures.false_deaths_20) = swarm.false_deaths();
    (loss < 0.1 ? figures.false_suspicions_5 : figures.false_suspicions_20) = swarm.false_suspicions();
  }
  figures.loss_wall_s = wall_since(start);
  return figures;
}

std::vector<std::size_t> parse_list(const char* text) {
  std::vector<std::size_t> values;
  std::string item;
  for (const char* c = text;; ++c) {
    if (*c == ',' || *c == '\0') {
      if (!item.empty()) values.push_back(std::stoul(item));
      item.clear();
      if (*c == '\0') break;
    } else {
      item += *c;
    }
  }
  return values;
}

void print(const std::vector<Figures>& all, const Options& options) {
  std::printf("\nmembership at scale: LAN profile, 1 ms links, plain sessions, seed %llu; window %.1f virtual min, "
              "loss windows %.1f virtual min each\n\n",
              static_cast<unsigned long long>(options.seed), options.minutes, options.loss_minutes);
  std::printf("| N | bootstrap virtual s (wall s, cpu s) | window wall s (cpu s) | crashes | first suspicion p50/p99 s | "
              "dead everywhere p50/p99 s | joins | 99.9%% dissemination p50/max s | B/peer/s datagram+stream | "
              "false deaths (suspicions) 0%% / 5%% / 20%% loss | loss windows wall s |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Figures& f : all) {
    std::printf("| %zu | %.1f%s (%.1f, %.1f) | %.1f (%.1f) | %zu%s | %.2f / %.2f | %.1f / %.1f | %zu%s | %.2f / %.2f | "
                "%.0f + %.0f = %.0f | %llu (%llu) / %llu (%llu) / %llu (%llu) | %.1f |\n",
                f.peers, f.bootstrap_virtual_s, f.bootstrap_converged ? "" : " (not converged)", f.bootstrap_wall_s,
                f.bootstrap_cpu_s, f.window_wall_s, f.window_cpu_s, f.dead_everywhere_s.size(),
                f.crashes_unresolved ? (" +" + std::to_string(f.crashes_unresolved) + " unresolved").c_str() : "",
                percentile(f.first_suspicion_s, 50), percentile(f.first_suspicion_s, 99),
                percentile(f.dead_everywhere_s, 50), percentile(f.dead_everywhere_s, 99), f.dissemination_s.size(),
                f.joins_unresolved ? (" +" + std::to_string(f.joins_unresolved) + " unresolved").c_str() : "",
                percentile(f.dissemination_s, 50), percentile(f.dissemination_s, 100), f.datagram_bytes_per_peer_s,
                f.stream_bytes_per_peer_s, f.datagram_bytes_per_peer_s + f.stream_bytes_per_peer_s,
                static_cast<unsigned long long>(f.false_deaths_clean),
                static_cast<unsigned long long>(f.false_suspicions_clean),
                static_cast<unsigned long long>(f.false_deaths_5), static_cast<unsigned long long>(f.false_suspicions_5),
                static_cast<unsigned long long>(f.false_deaths_20),
                static_cast<unsigned long long>(f.false_suspicions_20), f.loss_wall_s);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--quick") {
      quick = true;
      options.peers = {16};
      options.minutes = 2.0;
      options.loss_minutes = 1.0;
    } else if (arg == "--peers" && has_value) {
      options.peers = parse_list(argv[++i]);
    } else if (arg == "--minutes" && has_value) {
      options.minutes = std::atof(argv[++i]);
    } else if (arg == "--loss-minutes" && has_value) {
      options.loss_minutes = std::atof(argv[++i]);
    } else if (arg == "--seed" && has_value) {
      options.seed = std::stoull(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: %s [--quick] [--peers 16,128,1024] [--minutes 10] [--loss-minutes 10] [--seed 1]\n",
                   argv[0]);
      return 2;
    }
  }
  std::vector<Figures> all;
  for (std::size_t n : options.peers) {
    std::fprintf(stderr, "N = %zu ...\n", n);
    all.push_back(measure(n, options));
    print({all.back()}, options);
  }
  if (all.size() > 1) print(all, options);
  if (quick) {
    // The smoke test: the figures exist and the clean window is sane.
    const Figures& f = all.front();
    const bool ok = f.bootstrap_converged && f.crashes_unresolved == 0 && !f.dead_everywhere_s.empty() &&
                    f.joins_unresolved == 0 && f.false_deaths_clean == 0 && f.false_deaths_5 == 0 &&
                    f.datagram_bytes_per_peer_s > 0.0;
    if (!ok) std::fprintf(stderr, "quick run: a figure is out of its sane range\n");
    return ok ? 0 : 1;
  }
  return 0;
}
