// Self-describing messages. Every message carries the op's name, its
// instance (how many times this rank posted that name before) and its step,
// so the receiver matches it to its own op whatever order ops were posted in.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bluefog/core/dtype.h"

namespace bluefog {

enum class MessageKind : uint8_t {
  kData = 1,    // payload for an op (inline or in a separate message)
  kError = 2,   // the sender's op failed; text says why
  kProbe = 3,   // stall diagnosis: "have you posted name/instance?"
  kProbeReply = 4,
  kWindow = 5,  // a request for the target's window (name in `text`), served by its engine
  // Peer lifecycle, from one engine to every other (not tied to an op):
  kClosing = 6,   // the sender is shutting down: it posts no more ops
  kGone = 7,      // the sender's ops are all done and it has stopped
  kAbort = 8,     // the sender is exiting on an error; text says which
  kAbortAck = 9,  // the receiver has failed the ops that needed the aborting rank
};

enum class OpType : uint8_t {
  kAllreduce = 1,
  kBroadcast,
  kAllgather,
  kBarrier,
  kNeighborAllreduce,
  kNeighborAllgather,
  kHierarchicalNeighborAllreduce,
  kWinPut,
  kWinAccumulate,
  kWinGet,
  kWinLock,
  kWinUnlock,
  kPairGossip,  // a neighbor_allreduce with one peer, under its own name
};
// The highest value a message may carry (new types go after it: append only).
constexpr OpType kLastOpType = OpType::kPairGossip;

const char* OpTypeName(OpType type);

// MessageHeader::flags of a kError message is the failed op's StatusCode.
// MessageHeader::flags of a kAbort message: the sender exits because of
// another rank's failure.
constexpr uint8_t kAbortIsConsequence = 1;
// MessageHeader::flags of a kWinUnlock request: the op gives up, so release
// the mutex only if this very op (name, instance) holds or awaits it.
constexpr uint8_t kWinUnlockAbandon = 2;
// MessageHeader::flags of a kWinLock request a rank sends to itself
// (win_lock): the holder keeps out every neighbour access, not only theirs
// that require the mutex.
constexpr uint8_t kWinLockExclusive = 4;
// MessageHeader::flags of a window put or accumulate: the data is followed
// by the sender's push-sum weight p.
constexpr uint8_t kWinCarriesP = 1;

// Op keys (MessageHeader::name) that no user name can be: unnamed ops are
// matched per op type in issue order, and each window request of a rank has
// a private key.
constexpr char kUnnamedKeyPrefix = '\x01';
constexpr char kPrivateKeyPrefix = '\x02';
inline bool IsUnnamedKey(const std::string& key) {
  return !key.empty() && key[0] == kUnnamedKeyPrefix;
}
// A new private key, unique in this process, that messages and the timeline
// call `display_name` (a window op's: its window's name).
std::string NewPrivateKey(const std::string& display_name);
// The display name of a private key; "" for other keys.
std::string PrivateKeyDisplayName(const std::string& key);

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
  uint32_t group = 0;  // digest of the ranks a collective runs over (GroupDigest)
  std::string name;
  std::vector<int64_t> shape;
  std::string text;  // error message, probe answer or window name
};

// Header bytes followed by `inline_bytes` of inline payload.
void EncodeMessage(const MessageHeader& header, const void* inline_payload,
                   size_t inline_bytes, std::vector<char>* out);

// Several encoded messages to one destination travel as one frame (tensor
// fusion): a frame marker, then each message's length and bytes.
void EncodeFrame(const std::vector<const std::vector<char>*>& messages,
                 std::vector<char>* out);
bool IsFrame(const char* buffer, size_t length);
// Calls visit(data, length) for each message; false if the frame is malformed.
template <typename Visit>
bool ForEachInFrame(const char* buffer, size_t length, Visit visit);

// Returns false if the buffer is not a well-formed message. On success
// *inline_payload points into `buffer`.
bool DecodeMessage(const char* buffer, size_t length, MessageHeader* header,
                   const char** inline_payload, size_t* inline_bytes);

constexpr uint32_t kFrameMagic = 0xB1F0F4A3;

template <typename Visit>
bool ForEachInFrame(const char* buffer, size_t length, Visit visit) {
  size_t offset = sizeof(uint32_t);
  while (offset < length) {
    uint32_t n = 0;
    if (length - offset < sizeof(n)) return false;
    std::memcpy(&n, buffer + offset, sizeof(n));
    offset += sizeof(n);
    if (length - offset < n) return false;
    visit(buffer + offset, static_cast<size_t>(n));
    offset += n;
  }
  return true;
}

}  // namespace bluefog
