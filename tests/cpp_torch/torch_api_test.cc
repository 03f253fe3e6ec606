// The LibTorch C++ API under MPI: each rank checks exact results.
// Run: mpirun -np N torch_api_test   (exit code 0 on success)
#include <bluefog/torch.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>

namespace api = bluefog::api;

#define CHECK(cond)                                                      \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "rank %d: check failed at %s:%d: %s\n",        \
                   api::rank(), __FILE__, __LINE__, #cond);              \
      return 1;                                                          \
    }                                                                    \
  } while (0)

// Whether `call` throws InvalidArgument whose message holds every one of `words`.
static bool Refused(const std::function<void()>& call, std::initializer_list<const char*> words) {
  try {
    call();
  } catch (const bluefog::InvalidArgument& e) {
    for (const char* w : words)
      if (std::string(e.what()).find(w) == std::string::npos) return false;
    return true;
  }
  return false;
}

int main() {
  api::init();
  const int n = api::size(), me = api::rank();
  const double total = n * (n - 1) / 2.0;

  at::Tensor x = at::full({1000}, static_cast<double>(me), at::kDouble);
  at::Tensor sum = api::synchronize(api::allreduce_nonblocking(x, at::Tensor(), false, false, "sum"));
  CHECK(at::equal(sum, at::full({1000}, total, at::kDouble)));
  CHECK(at::equal(x, at::full({1000}, static_cast<double>(me), at::kDouble)));

  at::Tensor big = at::full({300000}, static_cast<float>(me + 1));
  api::synchronize(api::allreduce_nonblocking(big, big, true, false, "avg_in_place"));
  CHECK(at::allclose(big, at::full({300000}, (n + 1) / 2.0f)));

  at::Tensor b = at::arange(10, at::kLong) * (me + 1);
  at::Tensor from_last = api::synchronize(api::broadcast_nonblocking(b, at::Tensor(), n - 1, "bcast"));
  CHECK(at::equal(from_last, at::arange(10, at::kLong) * n));

  at::Tensor rows = at::full({me + 1, 2}, me, at::kInt);
  at::Tensor gathered = api::synchronize(api::allgather_nonblocking(rows, "gather"));
  CHECK(gathered.size(0) == n * (n + 1) / 2);
  int64_t row = 0;
  for (int r = 0; r < n; ++r)
    for (int k = 0; k <= r; ++k, ++row)
      CHECK(gathered[row][0].item<int>() == r && gathered[row][1].item<int>() == r);

  bool threw = false;
  try {
    api::broadcast_nonblocking(b, at::Tensor(), n, "bad_root");
  } catch (const bluefog::InvalidArgument& e) {
    threw = std::string(e.what()).find("root_rank") != std::string::npos;
  }
  CHECK(threw);

  // Non-finite and absurd weights are refused at the call, naming op and argument.
  const double nan = std::nan("");
  at::Tensor y = at::ones({3}, at::kDouble);
  CHECK(Refused([&] { api::neighbor_allreduce_nonblocking(y, at::Tensor(), nan, {}, {}, "w1"); },
                {"neighbor_allreduce", "self_weight", "nan"}));
  CHECK(Refused([&] {
    api::neighbor_allreduce_nonblocking(y, at::Tensor(), 0.5, {{(me + 1) % n, 1e308}}, {}, "w2");
  }, {"neighbor_allreduce", "srcs[", "1e+308"}));
  if (n >= 2)
    CHECK(Refused([&] { api::pair_gossip_nonblocking(y, (me + 1) % n, 0.5, INFINITY, "w3"); },
                  {"pair_gossip", "pair_weight", "inf"}));
  CHECK(Refused([&] { api::pair_gossip_nonblocking(y, me, 0.5, 0.5, "w4"); },
                {"pair_gossip", "target_rank"}));

  if (n >= 2) {  // pair_gossip between 0 and 1 (others sit out)
    if (me < 2) {
      at::Tensor mine = at::full({5}, static_cast<double>(me + 1), at::kDouble);
      at::Tensor avg = api::synchronize(api::pair_gossip_nonblocking(mine, 1 - me, 0.5, 0.5, "pg"));
      CHECK(at::equal(avg, at::full({5}, 1.5, at::kDouble)));
    }
  }

  api::synchronize(api::barrier_nonblocking());
  api::shutdown();
  std::printf("rank %d: torch_api_test passed\n", me);
  return 0;
}
