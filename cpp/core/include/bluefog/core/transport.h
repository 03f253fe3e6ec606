// Point-to-point transport over MPI, used only by the engine thread.
// Small messages carry a header (and inline payload) on one tag; large
// payloads follow on tags reserved per destination.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bluefog/core/config.h"
#include "bluefog/core/engine.h"
#include "bluefog/core/status.h"

namespace bluefog {

class MpiTransport {
 public:
  using RequestId = int64_t;

  MpiTransport();
  ~MpiTransport();

  // Initialises MPI (unless already initialised) and fills `world`.
  Status Init(const Config& config, WorldInfo* world);
  // Finalises MPI if this transport initialised it. Not to be called when a
  // peer died: MPI_Finalize would wait for it forever.
  void Finalize();

  RequestId SendHeader(int dst, const std::vector<char>& bytes);
  RequestId SendPayload(int dst, int tag, const void* data, size_t bytes);
  RequestId ReceivePayload(int src, int tag, void* data, size_t bytes);
  // Tags for a payload of `bytes` to dst (large payloads take several).
  int ReservePayloadTag(int dst, size_t bytes);
  // True when complete (the id is then invalid). Sets *error on MPI failure.
  bool Test(RequestId id, std::string* error);
  // Drops a request that can never complete (its peer died).
  void Abandon(RequestId id);
  // Receives one header message if one is waiting.
  bool TakeHeader(int* src, std::vector<char>* bytes, std::string* error);

  const std::vector<int>& pids() const { return pids_; }
  const std::vector<std::string>& hosts() const { return hosts_; }
  int pid_of(int rank) const { return pids_[rank]; }
  bool same_host(int rank) const { return same_host_[rank]; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<int> pids_;
  std::vector<std::string> hosts_;
  std::vector<bool> same_host_;
};

}  // namespace bluefog
