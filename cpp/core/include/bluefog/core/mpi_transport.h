// The transport over MPI: header messages on one tag, payloads on tags
// reserved per destination (chunked beyond MPI's int counts).
#pragma once
#include <memory>

#include "bluefog/core/transport.h"

namespace bluefog {

class MpiTransport final : public Transport {
 public:
  MpiTransport();
  ~MpiTransport() override;

  // Initialises MPI (unless already initialised).
  Status Init(const Config& config, WorldInfo* world) override;
  // Finalises MPI if this transport initialised it.
  void Finalize() override;

  RequestId SendHeader(int dst, const std::vector<char>& bytes) override;
  RequestId SendPayload(int dst, int tag, const void* data, size_t bytes) override;
  RequestId ReceivePayload(int src, int tag, void* data, size_t bytes) override;
  int ReservePayloadTag(int dst, size_t bytes) override;
  bool Test(RequestId id, std::string* error) override;
  void Abandon(RequestId id) override;
  bool TakeHeader(int* src, std::vector<char>* bytes, std::string* error) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bluefog
