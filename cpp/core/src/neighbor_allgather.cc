// Neighbour allgather: send this rank's tensor to the destinations, receive
// the sources' tensors (dim 0 may differ) and concatenate them in the order
// of the source list.
#include <algorithm>
#include <cstring>
#include <map>

#include "bluefog/core/neighbor_ops.h"
#include "bluefog/core/status.h"
#include "collective_args.h"
#include "neighbor_agreement.h"
#include "neighbor_args.h"

namespace bluefog {
namespace {

class NeighborAllgatherOp : public Op {
 public:
  NeighborAllgatherOp(OpIdentity id, TensorView input, OutputAllocator allocate,
                      std::vector<int> srcs, std::vector<int> dsts)
      : Op(std::move(id)), input_(std::move(input)), allocate_(std::move(allocate)),
        srcs_(std::move(srcs)), dsts_(std::move(dsts)) {}

  std::vector<int> Participants() const override {
    return UnionOf(srcs_, dsts_);
  }

  std::vector<int> WaitingOn() const override {
    std::vector<int> missing;
    for (int r : srcs_)
      if (!pieces_.count(r)) missing.push_back(r);
    return missing;
  }

  void Start(OpContext& ctx) override {
    MessageHeader h = MakeHeader(0);
    h.dtype = input_.dtype;
    h.shape = input_.shape;
    for (int d : dsts_) {
      h.flags = AgreementFlags(srcs_, d);
      ctx.Send(d, h, input_.data, input_.bytes());
    }
    MaybeAssemble();
  }

  void OnData(OpContext&, Arrival& a) override {
    const MessageHeader& h = a.header;
    if (!CheckPeer(a, input_.dtype, nullptr)) return;
    if (std::find(srcs_.begin(), srcs_.end(), a.src) == srcs_.end()) {
      Fail(Status::Mismatch(Describe() + ": rank " + std::to_string(a.src) +
                            " sent data but is not among the sources " + ListString(srcs_)));
      return;
    }
    std::vector<int64_t> trailing(input_.shape.begin() + 1, input_.shape.end());
    if (h.shape.empty() || std::vector<int64_t>(h.shape.begin() + 1, h.shape.end()) != trailing) {
      Fail(Status::Mismatch(Describe() + ": mismatch between ranks: rank " +
                           std::to_string(a.src) + " has shape " + ShapeString(h.shape) +
                           "; all dimensions but the first must equal this rank's " +
                           ShapeString(input_.shape)));
      return;
    }
    size_t expected = DataTypeSize(input_.dtype);
    for (int64_t d : h.shape) expected *= static_cast<size_t>(d);
    if (pieces_.count(a.src) || a.bytes != expected) {
      Fail(Status::Invalid(Describe() + ": unexpected message from rank " +
                           std::to_string(a.src)));
      return;
    }
    std::string problem = AgreementProblem(a.src, h.flags, dsts_);
    if (!problem.empty()) {
      Fail(Status::Mismatch(Describe() + ": " + problem));
      return;
    }
    pieces_.emplace(a.src, std::move(a));
    MaybeAssemble();
  }

 private:
  void MaybeAssemble() {
    if (pieces_.size() < srcs_.size()) return;
    std::vector<int64_t> shape = input_.shape;
    shape[0] = 0;
    for (int r : srcs_) shape[0] += pieces_.at(r).header.shape[0];
    char* out = static_cast<char*>(allocate_(shape));
    for (int r : srcs_) {
      const Arrival& piece = pieces_.at(r);
      if (piece.bytes > 0) std::memcpy(out, piece.data, piece.bytes);
      out += piece.bytes;
    }
    pieces_.clear();
    Finish();
  }

  TensorView input_;
  OutputAllocator allocate_;
  std::vector<int> srcs_, dsts_;
  std::map<int, Arrival> pieces_;
};

}  // namespace

std::unique_ptr<Op> MakeNeighborAllgatherOp(OpIdentity id, int rank, int size,
                                            TensorView input, OutputAllocator allocate,
                                            std::vector<int> srcs, std::vector<int> dsts) {
  if (input.shape.empty())
    throw InvalidArgument(OpLabel(id) + ": needs a tensor with at least one dimension");
  CheckNeighborRanks(id, srcs, rank, size, "the source list");
  CheckNeighborRanks(id, dsts, rank, size, "the destination list");
  return std::make_unique<NeighborAllgatherOp>(std::move(id), input, std::move(allocate),
                                               std::move(srcs), std::move(dsts));
}

}  // namespace bluefog
