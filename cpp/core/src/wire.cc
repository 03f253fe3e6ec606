#include "bluefog/core/wire.h"

#include <atomic>
#include <cstring>

namespace bluefog {
namespace {

constexpr uint32_t kMagic = 0xB1F06A01;

template <typename T>
void Put(std::vector<char>* out, const T& value) {
  const char* p = reinterpret_cast<const char*>(&value);
  out->insert(out->end(), p, p + sizeof(T));
}

class Reader {
 public:
  Reader(const char* data, size_t length) : data_(data), left_(length) {}
  template <typename T>
  bool Get(T* value) {
    if (left_ < sizeof(T)) return false;
    std::memcpy(value, data_, sizeof(T));
    data_ += sizeof(T);
    left_ -= sizeof(T);
    return true;
  }
  bool GetString(std::string* s, uint32_t n) {
    if (left_ < n) return false;
    s->assign(data_, n);
    data_ += n;
    left_ -= n;
    return true;
  }
  const char* position() const { return data_; }
  size_t left() const { return left_; }

 private:
  const char* data_;
  size_t left_;
};

}  // namespace

void EncodeFrame(const std::vector<const std::vector<char>*>& messages,
                 std::vector<char>* out) {
  out->clear();
  Put(out, kFrameMagic);
  for (const std::vector<char>* m : messages) {
    Put(out, static_cast<uint32_t>(m->size()));
    out->insert(out->end(), m->begin(), m->end());
  }
}

bool IsFrame(const char* buffer, size_t length) {
  uint32_t magic = 0;
  if (length < sizeof(magic)) return false;
  std::memcpy(&magic, buffer, sizeof(magic));
  return magic == kFrameMagic;
}

// "\x02<serial>\x02<display name>"
std::string NewPrivateKey(const std::string& display_name) {
  static std::atomic<uint64_t> serial{0};
  return std::string(1, kPrivateKeyPrefix) + std::to_string(serial++) +
         std::string(1, kPrivateKeyPrefix) + display_name;
}

std::string PrivateKeyDisplayName(const std::string& key) {
  if (key.empty() || key[0] != kPrivateKeyPrefix) return "";
  size_t end = key.find(kPrivateKeyPrefix, 1);
  return end == std::string::npos ? key.substr(1) : key.substr(end + 1);
}

const char* OpTypeName(OpType type) {
  switch (type) {
    case OpType::kAllreduce: return "allreduce";
    case OpType::kBroadcast: return "broadcast";
    case OpType::kAllgather: return "allgather";
    case OpType::kBarrier: return "barrier";
    case OpType::kNeighborAllreduce: return "neighbor_allreduce";
    case OpType::kNeighborAllgather: return "neighbor_allgather";
    case OpType::kHierarchicalNeighborAllreduce: return "hierarchical_neighbor_allreduce";
    case OpType::kWinPut: return "win_put";
    case OpType::kWinAccumulate: return "win_accumulate";
    case OpType::kWinGet: return "win_get";
    case OpType::kWinLock: return "win_lock";
    case OpType::kWinUnlock: return "win_unlock";
    case OpType::kPairGossip: return "pair_gossip";
  }
  return "unknown_op";
}

void EncodeMessage(const MessageHeader& h, const void* inline_payload,
                   size_t inline_bytes, std::vector<char>* out) {
  out->clear();
  out->reserve(64 + h.name.size() + h.text.size() + 8 * h.shape.size() +
               inline_bytes);
  Put(out, kMagic);
  Put(out, static_cast<uint8_t>(h.kind));
  Put(out, static_cast<uint8_t>(h.op));
  Put(out, static_cast<uint8_t>(h.dtype));
  Put(out, h.flags);
  Put(out, h.step);
  Put(out, h.root);
  Put(out, h.payload_tag);
  Put(out, h.instance);
  Put(out, h.payload_bytes);
  Put(out, h.weight);
  Put(out, h.group);
  Put(out, static_cast<uint32_t>(h.name.size()));
  Put(out, static_cast<uint32_t>(h.shape.size()));
  Put(out, static_cast<uint32_t>(h.text.size()));
  out->insert(out->end(), h.name.begin(), h.name.end());
  for (int64_t d : h.shape) Put(out, d);
  out->insert(out->end(), h.text.begin(), h.text.end());
  const char* p = static_cast<const char*>(inline_payload);
  if (inline_bytes > 0) out->insert(out->end(), p, p + inline_bytes);
}

bool DecodeMessage(const char* buffer, size_t length, MessageHeader* h,
                   const char** inline_payload, size_t* inline_bytes) {
  Reader r(buffer, length);
  uint32_t magic = 0, name_len = 0, ndim = 0, text_len = 0;
  uint8_t kind = 0, op = 0, dtype = 0;
  if (!r.Get(&magic) || magic != kMagic) return false;
  if (!r.Get(&kind) || !r.Get(&op) || !r.Get(&dtype) || !r.Get(&h->flags))
    return false;
  if (!r.Get(&h->step) || !r.Get(&h->root) || !r.Get(&h->payload_tag) ||
      !r.Get(&h->instance) || !r.Get(&h->payload_bytes) || !r.Get(&h->weight) ||
      !r.Get(&h->group))
    return false;
  if (!r.Get(&name_len) || !r.Get(&ndim) || !r.Get(&text_len)) return false;
  if (dtype >= kNumDataTypes || ndim > 64) return false;
  if (kind < static_cast<uint8_t>(MessageKind::kData) ||
      kind > static_cast<uint8_t>(MessageKind::kAbortAck))
    return false;
  if (op < static_cast<uint8_t>(OpType::kAllreduce) ||
      op > static_cast<uint8_t>(kLastOpType))
    return false;
  h->kind = static_cast<MessageKind>(kind);
  h->op = static_cast<OpType>(op);
  h->dtype = static_cast<DataType>(dtype);
  if (!r.GetString(&h->name, name_len)) return false;
  h->shape.resize(ndim);
  for (auto& d : h->shape)
    if (!r.Get(&d)) return false;
  if (!r.GetString(&h->text, text_len)) return false;
  *inline_payload = r.position();
  *inline_bytes = r.left();
  return true;
}

}  // namespace bluefog
