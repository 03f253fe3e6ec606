// Allgather: every rank sends its tensor to every other rank; headers carry
// the shape, so dim 0 may differ. The output is allocated once all shapes are
// known and filled in group order.
#include <cstring>
#include <map>

#include "bluefog/core/collectives.h"
#include "bluefog/core/status.h"
#include "collective_args.h"

namespace bluefog {
namespace {

class AllgatherOp : public Op {
 public:
  AllgatherOp(OpIdentity id, TensorView input, OutputAllocator allocate,
              std::vector<int> group)
      : Op(std::move(id)), input_(std::move(input)), allocate_(std::move(allocate)),
        group_(std::move(group)) {}

  std::vector<int> Participants() const override { return group_; }
  std::vector<int> WaitingOn() const override {
    std::vector<int> missing;
    for (int r : group_)
      if (r != self_ && !pieces_.count(r)) missing.push_back(r);
    return missing;
  }

  void Start(OpContext& ctx) override {
    self_ = ctx.rank();
    MessageHeader h = MakeHeader(0);
    h.dtype = input_.dtype;
    h.shape = input_.shape;
    for (int r : group_)
      if (r != self_) ctx.Send(r, h, input_.data, input_.bytes());
    MaybeAssemble();
  }

  void OnData(OpContext&, Arrival& a) override {
    const MessageHeader& h = a.header;
    if (!CheckPeer(a, input_.dtype, nullptr)) return;
    std::vector<int64_t> mine(input_.shape.begin() + 1, input_.shape.end());
    if (h.shape.empty() ||
        std::vector<int64_t>(h.shape.begin() + 1, h.shape.end()) != mine) {
      Fail(Status::Mismatch(Describe() + ": mismatch between ranks: rank " +
                           std::to_string(a.src) + " has shape " + ShapeString(h.shape) +
                           "; all dimensions but the first must equal this rank's " +
                           ShapeString(input_.shape)));
      return;
    }
    if (pieces_.count(a.src)) {
      Fail(Status::Internal(Describe() + ": duplicate message from rank " +
                           std::to_string(a.src)));
      return;
    }
    size_t expected = DataTypeSize(input_.dtype);
    for (int64_t d : h.shape) expected *= static_cast<size_t>(d);
    if (a.bytes != expected) {
      Fail(Status::Invalid(Describe() + ": rank " + std::to_string(a.src) +
                           " sent a payload that does not match its shape"));
      return;
    }
    pieces_.emplace(a.src, std::move(a));
    MaybeAssemble();
  }

 private:
  void MaybeAssemble() {
    if (pieces_.size() + 1 < group_.size()) return;
    std::vector<int64_t> shape = input_.shape;
    shape[0] = 0;
    for (int r : group_)
      shape[0] += r == self_ ? input_.shape[0] : pieces_.at(r).header.shape[0];
    char* out = static_cast<char*>(allocate_(shape));
    for (int r : group_) {
      const char* data = static_cast<const char*>(input_.data);
      size_t bytes = input_.bytes();
      if (r != self_) {
        data = pieces_.at(r).data;
        bytes = pieces_.at(r).bytes;
      }
      if (bytes > 0) std::memcpy(out, data, bytes);
      out += bytes;
    }
    pieces_.clear();
    Finish();
  }

  TensorView input_;
  OutputAllocator allocate_;
  std::vector<int> group_;
  int self_ = -1;
  std::map<int, Arrival> pieces_;
};

}  // namespace

std::unique_ptr<Op> MakeAllgatherOp(OpIdentity id, int rank, TensorView input,
                                    OutputAllocator allocate, std::vector<int> group) {
  GroupIndex(id, group, rank);
  if (input.shape.empty())
    throw InvalidArgument(OpLabel(id) + ": needs a tensor with at least one dimension");
  return std::make_unique<AllgatherOp>(std::move(id), input, std::move(allocate),
                                       std::move(group));
}

}  // namespace bluefog
