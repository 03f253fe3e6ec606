// Self-describing messages. Every message carries the op's name, its
// instance (how many times this rank posted that name before) and its step,
// so the receiver matches it to its own op whatever order ops were posted in.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "bluefog/core/dtype.h"

namespace bluefog {

enum class MessageKind : uint8_t {
  kData = 1,    // payload for an op (inline or in a separate message)
  kError = 2,   // the sender's op failed; text says why
  kProbe = 3,   // stall diagnosis: "have you posted name/instance?"
  kProbeReply = 4,
};

enum class OpType : uint8_t {
  kAllreduce = 1,
  kBroadcast,
  kAllgather,
  kBarrier,
  kNeighborAllreduce,
  kNeighborAllgather,
};

const char* OpTypeName(OpType type);

struct MessageHeader {
  MessageKind kind = MessageKind::kData;
  OpType op = OpType::kAllreduce;
  DataType dtype = DataType::kFloat32;
  uint8_t flags = 0;
  int32_t step = 0;
  int32_t root = -1;
  int32_t payload_tag = 0;  // 0: payload follows the header in this message
  uint64_t instance = 0;
  uint64_t payload_bytes = 0;
  double weight = 1.0;
  std::string name;
  std::vector<int64_t> shape;
  std::string text;  // error message or probe answer
};

// Header bytes followed by `inline_bytes` of inline payload.
void EncodeMessage(const MessageHeader& header, const void* inline_payload,
                   size_t inline_bytes, std::vector<char>* out);

// Returns false if the buffer is not a well-formed message. On success
// *inline_payload points into `buffer`.
bool DecodeMessage(const char* buffer, size_t length, MessageHeader* header,
                   const char** inline_payload, size_t* inline_bytes);

}  // namespace bluefog
