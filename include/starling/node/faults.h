// The fault layer: one sans-I/O policy object that decides, per message, what
// the network does to it: drop, delay (+jitter), duplicate, throttle to a
// bandwidth, or block it across a partition. Both transports consult it (the
// libuv one for what it sends, the memory network for every message), and the
// simulator will too. Time comes in as an argument; randomness comes from the
// generator given at construction, so a seed replays every decision.
//
// Peers are named by PeerKey strings: by convention the text form of a peer's
// listen address ("127.0.0.1:4000", "node-7:1"), see docs/runtime.md.
//
// Thread-safe: a scenario runner may switch faults from another thread while a
// loop thread asks for decisions. Disabled or empty policies cost one atomic
// load per message.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace starling::node {

using PeerKey = std::string;

// What loss and duplication do to a connection's frames (datagrams are always
// lost, duplicated and reordered as they are).
//   retransmit (the default): as over TCP, a frame is never lost, duplicated
//     or overtaken. A frame "lost" (drop_probability) arrives a round trip
//     later (at least 10 ms), and if the repair is lost too, a retransmission
//     timeout (at least 200 ms) later again, doubling per further loss; the
//     frames behind it wait for it (head-of-line blocking), and jitter delays
//     without reordering. A drop_probability of 1 is a dead path: frames are
//     dropped.
//   raw: a connection's frames are dropped, duplicated and reordered by jitter
//     like datagrams, which no real stream does: for tests of what a link does
//     with a gap in its frames.
// Before this choice existed every frame was raw, so a scenario's 20% `loss`
// cut most training links into resets (a gap in a link's deltas resets it),
// where the same loss on a real path costs TCP retransmissions and time.
enum class StreamLoss : std::uint8_t { retransmit, raw };

// What happens on one directed link. All zero: a perfect link.
struct LinkFaults {
  double drop_probability = 0.0;       // each message lost with this probability
  double duplicate_probability = 0.0;  // each delivered message sent twice with this probability
  std::uint64_t delay_us = 0;          // added to every delivery
  std::uint64_t jitter_us = 0;         // plus a uniform extra in [0, jitter_us] (reorders datagrams and raw frames)
  std::uint64_t bandwidth_bytes_per_second = 0;  // 0: unlimited; else messages queue behind each other
  // Mean one-way delay when above delay_us: delay_us is then the minimum and
  // an exponential tail with mean (delay_mean_us - delay_us) is added, the
  // long-tailed latency of real paths (TigerBeetle's one_way_delay_min/mean).
  std::uint64_t delay_mean_us = 0;
  StreamLoss stream_loss = StreamLoss::retransmit;

  bool is_perfect() const {
    return drop_probability <= 0.0 && duplicate_probability <= 0.0 && delay_us == 0 && jitter_us == 0 &&
           bandwidth_bytes_per_second == 0 && delay_mean_us <= delay_us;
  }
  friend bool operator==(const LinkFaults&, const LinkFaults&) = default;
};

// The fate of one message: deliver `copies` copies (0 = dropped), copy i after
// delay_us[i] from now.
struct FaultDecision {
  static constexpr std::size_t kMaxCopies = 2;
  std::size_t copies = 1;
  std::array<std::uint64_t, kMaxCopies> delay_us{};
  // The part of delay_us[i] copy i spends in the sender's queue: behind a
  // bandwidth cap, a clog or a TCP repair. A transport counts a held frame as
  // its pending outbound bytes for that long only; the rest (delay, jitter,
  // the long tail) is the path's, which TCP's window keeps in flight while
  // the application sends on. (Counting the whole delay let a 300 ms path
  // hold a link to one delta in flight, a throttle no real connection has.)
  std::array<std::uint64_t, kMaxCopies> queue_us{};
  bool partitioned = false;  // dropped because of a partition, not by chance
  // A connection's frame may not overtake the frames held before it on the
  // same connection: a transport holds it behind them, even when its own
  // delay is 0. False only under StreamLoss::raw (and for datagrams, which
  // transports never hold in order).
  bool in_order = true;

  bool dropped() const { return copies == 0; }
};

struct FaultStats {
  std::uint64_t messages = 0;     // decisions taken while active
  std::uint64_t dropped = 0;      // by drop_probability
  std::uint64_t partitioned = 0;  // by a partition or block
  std::uint64_t duplicated = 0;
  std::uint64_t delayed = 0;      // delivered later than now
  std::uint64_t clogged = 0;      // held by a clog
  std::uint64_t retransmitted = 0;  // stream frames "lost" and delayed by retransmission timeouts
};

class FaultPolicy {
 public:
  explicit FaultPolicy(std::mt19937_64 generator);
  FaultPolicy(const FaultPolicy&) = delete;
  FaultPolicy& operator=(const FaultPolicy&) = delete;

  // Which LinkFaults apply to a message from -> to: the link's own if set,
  // else the sender's outbound, else the receiver's inbound, else the default.
  void set_default(const LinkFaults& faults);
  void set_link(const PeerKey& from, const PeerKey& to, const LinkFaults& faults);
  void set_outbound(const PeerKey& peer, const LinkFaults& faults);
  void set_inbound(const PeerKey& peer, const LinkFaults& faults);
  // Both directions of every link that touches peer.
  void set_peer(const PeerKey& peer, const LinkFaults& faults);

  // Peers in different groups cannot reach each other (both directions);
  // peers in no group are unaffected. Replaces the previous partition.
  void partition(const std::vector<std::vector<PeerKey>>& groups);
  // One-way block: from's messages to `to` are lost, the reverse still flows.
  void block(const PeerKey& from, const PeerKey& to);
  // Clogging: every message from or to `peer` decided before until_us is
  // held and delivered at until_us (nothing is lost; order is kept), as when a
  // path stalls. A later clog of the same peer replaces the earlier one.
  void clog(const PeerKey& peer, std::uint64_t until_us);
  void unclog(const PeerKey& peer);
  // Removes partitions, blocks and clogs, keeps link faults.
  void heal();
  // Removes everything: a perfect network again.
  void clear();
  // Switches the whole layer off (and on) without forgetting its settings.
  void set_enabled(bool enabled);

  // True when any decision could differ from "deliver one copy now".
  bool active() const { return active_.load(std::memory_order_acquire); }

  // What a message is, for the bandwidth model: a connection's frames queue
  // behind each other whole (the sender's socket buffer); a datagram shares
  // the link's rate but waits behind at most kDatagramQueueUs of that
  // backlog, as behind a real bottleneck's buffer. Without this, a membership
  // probe waited behind a whole 1 MB model chunk (10 s at 100 kB/s) and
  // healthy peers were declared dead (issue 13, edge-uplink).
  enum class Traffic : std::uint8_t { stream, datagram };
  static constexpr std::uint64_t kDatagramQueueUs = 250'000;
  // StreamLoss::retransmit: a first loss costs a round trip, at least
  // kMinFastRepairUs (fast retransmit or Linux's tail loss probe); a lost
  // repair waits a retransmission timeout, at least Linux's minimum RTO or
  // two round trips, doubled per further loss up to 2^kMaxBackoffShift; a
  // frame is delivered after at most kMaxRetransmits losses (a real
  // connection would be given up near there).
  static constexpr std::uint64_t kMinFastRepairUs = 10'000;
  static constexpr std::uint64_t kMinRetransmitUs = 200'000;
  static constexpr unsigned kMaxBackoffShift = 3;
  static constexpr unsigned kMaxRetransmits = 8;
  // StreamLoss::retransmit also slows a lossy path down as TCP's congestion
  // control does: a connection that loses a share p of its segments on a
  // path of mean round trip R carries at most kSegmentBytes * sqrt(3/2) /
  // (R * sqrt(p)) bytes a second (Mathis et al. 1997), as if that were the
  // path's bandwidth (the lower of the two when both are set). 20% loss at
  // 100 ms: about 40 kB/s. Paths under kMinLossLimitRoundTripS are left
  // alone: on loopback the kernel's TCP keeps megabytes a second at 50% loss
  // (bench/kernel_loss.sh), where the formula, which ignores how fast a
  // short path recovers, would be meaningless.
  static constexpr double kSegmentBytes = 1448.0;
  static constexpr double kMinLossLimitRoundTripS = 0.002;

  // The bytes per second a stream under `faults` carries (StreamLoss::
  // retransmit): rate (0: unlimited) lowered to the Mathis limit above.
  static std::uint64_t with_loss_limit(std::uint64_t rate, const LinkFaults& faults);

  // Decides the fate of one message of `bytes` bytes sent at now_us. The
  // traffic has no default: a datagram asked about as a stream is delayed
  // where it should be lost (the gossip swarm harness lost no datagram for a
  // session that way).
  FaultDecision decide(const PeerKey& from, const PeerKey& to, std::size_t bytes, std::uint64_t now_us,
                       Traffic traffic);

  FaultStats stats() const;

 private:
  bool is_blocked(const PeerKey& from, const PeerKey& to) const;
  const LinkFaults& faults_for(const PeerKey& from, const PeerKey& to) const;
  void refresh_active();
  double uniform();
  std::uint64_t clog_delay_us(const PeerKey& from, const PeerKey& to, std::uint64_t now_us) const;

  mutable std::mutex mutex_;
  std::atomic<bool> active_{false};
  bool enabled_ = true;
  std::mt19937_64 generator_;
  LinkFaults default_;
  std::map<std::pair<PeerKey, PeerKey>, LinkFaults> links_;
  std::map<PeerKey, LinkFaults> outbound_;
  std::map<PeerKey, LinkFaults> inbound_;
  std::map<PeerKey, std::size_t> partition_group_;
  std::set<std::pair<PeerKey, PeerKey>> blocked_;
  std::map<PeerKey, std::uint64_t> clogged_until_us_;
  std::map<std::pair<PeerKey, PeerKey>, std::uint64_t> link_busy_until_us_;  // bandwidth queues
  FaultStats stats_;
};

}  // namespace starling::node
