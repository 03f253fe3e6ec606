#include "bluefog/core/op.h"

#include "bluefog/core/tensor.h"

namespace bluefog {

std::string Op::Describe() const {
  return std::string(OpTypeName(id_.type)) + " '" + id_.display_name + "'";
}

std::vector<std::pair<int, MessageHeader>> Op::FailureNotices() const {
  MessageHeader h = MakeHeader(-1);
  h.kind = MessageKind::kError;
  h.flags = static_cast<uint8_t>(status_.code());
  h.text = status_.message();
  std::vector<std::pair<int, MessageHeader>> notices;
  for (int r : Participants()) notices.emplace_back(r, h);
  return notices;
}

MessageHeader Op::MakeHeader(int32_t step) const {
  MessageHeader h;
  h.kind = MessageKind::kData;
  h.op = id_.type;
  h.name = id_.key;
  h.instance = id_.instance;
  h.step = step;
  return h;
}

bool Op::CheckPeer(const Arrival& a, DataType dtype,
                   const std::vector<int64_t>* shape, int32_t root, uint32_t group) {
  const MessageHeader& h = a.header;
  std::string problem;
  if (h.op != id_.type) {
    problem = std::string("rank ") + std::to_string(a.src) + " posted " +
              OpTypeName(h.op) + " under this name";
  } else if (h.dtype != dtype) {
    problem = "rank " + std::to_string(a.src) + " has dtype " +
              DataTypeName(h.dtype) + ", expected " + DataTypeName(dtype);
  } else if (shape != nullptr && h.shape != *shape) {
    problem = "rank " + std::to_string(a.src) + " has shape " +
              ShapeString(h.shape) + ", expected " + ShapeString(*shape);
  } else if (root >= 0 && h.root != root) {
    problem = "rank " + std::to_string(a.src) + " uses root_rank " +
              std::to_string(h.root) + ", expected " + std::to_string(root);
  } else if (group != 0 && h.group != group) {
    problem = "rank " + std::to_string(a.src) + " runs it over a different group of ranks " +
              "(is_hierarchical_local, or the machines' layout, differs between ranks)";
  }
  if (problem.empty()) return true;
  Fail(Status::Mismatch(Describe() + ": mismatch between ranks: " + problem));
  return false;
}

}  // namespace bluefog
