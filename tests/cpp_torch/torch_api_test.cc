// The LibTorch C++ API under MPI: each rank checks exact results.
// Run: mpirun -np N torch_api_test   (exit code 0 on success)
#include <bluefog/torch.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "check.h"

namespace api = bluefog::api;

// Ring neighbours: each rank gathers its predecessor's tensor; on one
// machine (mpiexec's local split) the hierarchical form is the average.
static int NeighborOps(int n, int me) {
  const int prev = (me + n - 1) % n, next = (me + 1) % n;
  at::Tensor mine = at::full({2, 3}, me + 1.0, at::kDouble);
  at::Tensor got = api::neighbor_allgather(mine, {{prev}, {next}, "cpp.ring"}).result();
  CHECK(at::equal(got, at::full({2, 3}, prev + 1.0, at::kDouble)));
  at::Tensor mean =
      api::hierarchical_neighbor_allreduce(mine, {1.0, {}, {}, "cpp.hier"}).result();
  CHECK(api::local_size() == n);
  CHECK(at::allclose(mean, at::full({2, 3}, (n + 1) / 2.0, at::kDouble)));
  return 0;
}

// A window per rank, its predecessor the in-neighbour: put, get, lock, mutex.
static int Windows(int n, int me) {
  const int prev = (me + n - 1) % n, next = (me + 1) % n;
  at::Tensor window = at::full({4}, me + 1.0, at::kDouble);
  api::win_create(window, "cpp.win", {prev}, false);
  api::barrier().wait();
  api::WinTransferOptions put;
  put.peers = {{next, 1.0}};
  api::win_transfer("cpp.win", window, put).result();  // in place at `next` once done
  api::barrier().wait();
  at::Tensor mixed = api::win_update("cpp.win", 0.5, {{prev, 0.5}}, false, true, false);
  CHECK(at::equal(mixed, at::full({4}, 0.5 * (me + 1) + 0.5 * (prev + 1), at::kDouble)));
  api::barrier().wait();  // every put has been read before the get overwrites the buffer
  window.fill_(10.0 * (me + 1));
  api::barrier().wait();
  api::WinTransferOptions get;
  get.kind = api::WinTransferKind::kGet;
  get.peers = {{prev, 0.5}};
  api::win_transfer("cpp.win", at::Tensor(), get).result();
  at::Tensor pulled = api::win_update("cpp.win", 0.0, {{prev, 1.0}}, false, true, false);
  CHECK(at::equal(pulled, at::full({4}, 0.5 * 10.0 * (prev + 1), at::kDouble)));
  CHECK(!api::win_lock("cpp.win").result().defined());
  api::win_lock("cpp.win", {false}).result();
  api::win_mutex("cpp.win", {{next}}).result();
  api::win_mutex("cpp.win", {{next}, false}).result();
  api::barrier().wait();
  CHECK(api::win_free("cpp.win"));
  return 0;
}

int main() {
  api::init();
  const int n = api::size(), me = api::rank();
  TestRank() = me;
  const double total = n * (n - 1) / 2.0;

  at::Tensor x = at::full({1000}, static_cast<double>(me), at::kDouble);
  at::Tensor sum = api::allreduce(x, {false, false, "sum"}).result();
  CHECK(at::equal(sum, at::full({1000}, total, at::kDouble)));
  CHECK(at::equal(x, at::full({1000}, static_cast<double>(me), at::kDouble)));

  at::Tensor big = at::full({300000}, static_cast<float>(me + 1));
  api::allreduce(big, {true, false, "avg_in_place", big}).result();
  CHECK(at::allclose(big, at::full({300000}, (n + 1) / 2.0f)));

  at::Tensor b = at::arange(10, at::kLong) * (me + 1);
  at::Tensor from_last = api::broadcast(b, {n - 1, "bcast"}).result();
  CHECK(at::equal(from_last, at::arange(10, at::kLong) * n));

  at::Tensor rows = at::full({me + 1, 2}, me, at::kInt);
  at::Tensor gathered = api::allgather(rows, {"gather"}).result();
  CHECK(gathered.size(0) == n * (n + 1) / 2);
  int64_t row = 0;
  for (int r = 0; r < n; ++r)
    for (int k = 0; k <= r; ++k, ++row)
      CHECK(gathered[row][0].item<int>() == r && gathered[row][1].item<int>() == r);

  bool threw = false;
  try {
    api::broadcast(b, {n, "bad_root"});
  } catch (const bluefog::InvalidArgument& e) {
    threw = std::string(e.what()).find("root_rank") != std::string::npos;
  }
  CHECK(threw);

  // Non-finite and absurd weights are refused at the call, naming op and argument.
  const double nan = std::nan("");
  at::Tensor y = at::ones({3}, at::kDouble);
  CHECK(Throws([&] { api::neighbor_allreduce(y, {nan, {}, {}, "w1"}); },
                {"neighbor_allreduce", "self_weight", "nan"}));
  CHECK(Throws([&] {
    api::neighbor_allreduce(y, {0.5, {{(me + 1) % n, 1e308}}, {}, "w2"});
  }, {"neighbor_allreduce", "srcs[", "1e+308"}));
  if (n >= 2)
    CHECK(Throws([&] { api::pair_gossip(y, (me + 1) % n, {0.5, INFINITY, "w3"}); },
                  {"pair_gossip", "pair_weight", "inf"}));
  CHECK(Throws([&] { api::pair_gossip(y, me, {0.5, 0.5, "w4"}); },
                {"pair_gossip", "target_rank"}));

  if (n >= 2) {  // pair_gossip between 0 and 1 (others sit out)
    if (me < 2) {
      at::Tensor mine = at::full({5}, static_cast<double>(me + 1), at::kDouble);
      at::Tensor avg = api::pair_gossip(mine, 1 - me, {0.5, 0.5, "pg"}).result();
      CHECK(at::equal(avg, at::full({5}, 1.5, at::kDouble)));
    }
  }

  if (n >= 2 && NeighborOps(n, me)) return 1;
  if (n >= 2 && Windows(n, me)) return 1;
  api::barrier().wait();
  api::shutdown();
  std::printf("rank %d: torch_api_test passed\n", me);
  return 0;
}
