// The engine's point-to-point transport, used only by the engine thread:
// small header messages (one ordered stream per pair of ranks) and payloads
// on tags reserved per destination. MpiTransport (mpi_transport.h) is the
// product's; tests plug in others.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bluefog/core/config.h"
#include "bluefog/core/status.h"
#include "bluefog/core/world.h"

namespace bluefog {

class Transport {
 public:
  using RequestId = int64_t;

  virtual ~Transport() = default;

  // Joins the job and fills `world`; pids()/hosts() are valid afterwards.
  virtual Status Init(const Config& config, WorldInfo* world) = 0;
  // Leaves the job. Not to be called when a peer died: an MPI transport
  // would wait for it forever.
  virtual void Finalize() = 0;

  virtual RequestId SendHeader(int dst, const std::vector<char>& bytes) = 0;
  virtual RequestId SendPayload(int dst, int tag, const void* data, size_t bytes) = 0;
  virtual RequestId ReceivePayload(int src, int tag, void* data, size_t bytes) = 0;
  // Tags for a payload of `bytes` to dst (large payloads may take several).
  virtual int ReservePayloadTag(int dst, size_t bytes) = 0;
  // True when complete (the id is then invalid). Sets *error on failure.
  virtual bool Test(RequestId id, std::string* error) = 0;
  // Drops a request that can never complete (its peer died).
  virtual void Abandon(RequestId id) = 0;
  // Receives one header message if one is waiting.
  virtual bool TakeHeader(int* src, std::vector<char>* bytes, std::string* error) = 0;

  const std::vector<int>& pids() const { return pids_; }
  const std::vector<std::string>& hosts() const { return hosts_; }
  int pid_of(int rank) const { return pids_[rank]; }
  bool same_host(int rank) const { return same_host_[rank]; }

 protected:
  std::vector<int> pids_;
  std::vector<std::string> hosts_;
  std::vector<bool> same_host_;
};

}  // namespace bluefog
