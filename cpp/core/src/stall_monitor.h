// Stall warnings and deadlines: asking the peers of an op that waits
// whether they posted it and what they are doing, then reporting that (a
// stall) or failing the op with it (its deadline, BLUEFOG_OP_TIMEOUT_SECONDS);
// and answering such questions from peers. Engine thread only.
#pragma once
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "bluefog/core/config.h"
#include "engine_services.h"
#include "op_table.h"
#include "peers.h"
#include "send_queue.h"

namespace bluefog {

class StallMonitor {
 public:
  StallMonitor(EngineServices& engine, RankActivity& activity, OpTable& ops, SendQueue& sends,
               PeerTable& peers)
      : engine_(engine), activity_(activity), ops_(ops), sends_(sends), peers_(peers) {}
  void Reset(const Config& config, int rank) {
    config_ = config;
    rank_ = rank;
  }

  // Called every check period.
  void Check(Clock::time_point now);
  // Asks `ranks` about the job's op; a later answer that the rank is in
  // shutdown without having posted it fails the op.
  void Probe(const std::shared_ptr<Job>& job, const std::vector<int>& ranks,
             bool report_stall = false, bool for_deadline = false);
  void Answer(int src, const MessageHeader& probe);
  void TakeReply(int src, const MessageHeader& reply);

 private:
  struct Probing {
    struct Answer {
      int rank;
      bool posted;
      std::string doing;
    };
    std::shared_ptr<Job> job;
    std::set<int> awaiting;
    std::vector<Answer> answers;
    bool report_stall = false;  // log what the answers say
    bool for_deadline = false;  // fail the op with the answers
    Clock::time_point sent;
  };

  void WarnUnconsumed(Clock::time_point now);
  // Those it waits for, else all of its peers (it may wait for a send).
  std::vector<int> Targets(const Op& op) const;
  void FailAtDeadline(Probing& probe);
  void Report(const Probing& probe);

  EngineServices& engine_;
  RankActivity& activity_;
  OpTable& ops_;
  SendQueue& sends_;
  PeerTable& peers_;
  Config config_;
  int rank_ = 0;
  std::unordered_map<OpKey, Probing, OpKeyHash> probes_;
};

}  // namespace bluefog
