// The timeline's clock offsets: how far this rank's steady clock is from
// rank 0's, from timed exchanges with rank 0 (Cristian's method over
// pair_gossip, keeping the exchange with the shortest round trip), at init
// and again at shutdown so that the drift between them shows how far the
// alignment of the ranks' files can be trusted. Written to the timeline as
// "bluefog_clock_offset" lines; rank 0's offset is 0.
#include <ATen/ATen.h>

#include <chrono>
#include <limits>
#include <string>

#include "bluefog/core/logging.h"
#include "bluefog/core/timeline.h"
#include "bluefog/torch.h"
#include "torch_internal.h"

namespace bluefog {
namespace api {
namespace {

constexpr int kExchanges = 8;

double NowUs() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Sends {t0, t1} to `peer` and returns the peer's pair, or false when the
// exchange failed or took longer than `limit_s` (then abandoned).
bool Exchange(int peer, const std::string& name, double t0, double t1, double limit_s,
              double got[2]) {
  at::Tensor mine = at::tensor({t0, t1}, at::kDouble);
  PairGossipOptions options;
  options.self_weight = 0.0;  // the result is the peer's pair, exactly
  options.pair_weight = 1.0;
  options.name = name;
  Work work = pair_gossip(mine, peer, options);
  if (!work.wait(limit_s)) {
    work.abandon();
    return false;
  }
  if (work.error()) return false;
  at::Tensor theirs = work.result();
  got[0] = theirs[0].item<double>();
  got[1] = theirs[1].item<double>();
  return true;
}

void Record(const char* when, double offset_us, double rtt_us) {
  Timeline::Global().Metadata(
      "bluefog_clock_offset",
      std::string("{\"when\": \"") + when + "\", \"reference_rank\": 0, \"offset_us\": " +
          std::to_string(static_cast<int64_t>(offset_us)) +
          ", \"rtt_us\": " + std::to_string(static_cast<int64_t>(rtt_us)) + "}");
}

// Rank 0's side: answers each rank's exchanges in turn.
void ServeOffsets(const WorldInfo& world, double limit_s) {
  for (int peer = 1; peer < world.size; ++peer) {
    const std::string name = "bluefog.clock_offset." + std::to_string(peer);
    double received = 0, got[2];
    for (int k = 0; k <= kExchanges; ++k) {
      if (!Exchange(peer, name, NowUs(), received, limit_s, got)) break;
      received = NowUs();
    }
  }
}

// Another rank's side. Exchange k carries rank 0's send time of k and its
// receive time of k - 1, so exchange k - 1 is complete once k returned.
bool MeasureOffset(const WorldInfo& world, double limit_s, double* offset_us, double* rtt_us) {
  const std::string name = "bluefog.clock_offset." + std::to_string(world.rank);
  double sent = 0, received = 0, their_sent = 0, got[2];
  *rtt_us = std::numeric_limits<double>::infinity();
  for (int k = 0; k <= kExchanges; ++k) {
    double now = NowUs();
    if (!Exchange(0, name, now, received, limit_s, got)) return false;
    double now_received = NowUs();
    if (k > 0) {
      // Rank 0 sent at their_sent and received ours at got[1] (its clock);
      // we sent at `sent` and received its at `received` (ours).
      double there = received - their_sent, back = got[1] - sent;
      if (there + back < *rtt_us) {
        *rtt_us = there + back;
        *offset_us = (there - back) / 2;
      }
    }
    sent = now;
    received = now_received;
    their_sent = got[0];
  }
  return true;
}

}  // namespace

void MeasureClockOffset(const char* when, double limit_s) {
  if (!Timeline::Global().enabled()) return;
  const WorldInfo& world = RunningEngine().world();
  double offset_us = 0, rtt_us = 0;
  bool measured = true;
  try {
    if (world.rank == 0) {
      ServeOffsets(world, limit_s);
    } else {
      // Rank 0 serves the ranks before this one first.
      measured = MeasureOffset(world, limit_s * world.size, &offset_us, &rtt_us);
    }
  } catch (const std::exception& e) {
    BF_LOG(kWarning) << "timeline: measuring the clock offset failed: " << e.what();
    measured = false;
  }
  if (measured) {
    Record(when, offset_us, rtt_us);
  } else if (world.rank != 0) {
    BF_LOG(kWarning) << "timeline: the clock offset to rank 0 could not be measured at " << when
                     << "; merging the ranks' files will use the last one measured";
  }
}

}  // namespace api
}  // namespace bluefog
