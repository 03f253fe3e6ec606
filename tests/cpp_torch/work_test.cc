// bluefog::api::Work under MPI: pending ops, results, typed errors, and
// tensors and Works the caller dropped. Every rank checks exact values.
// Run: mpirun -np N work_test   (exit code 0 on success)
#include <bluefog/torch.h>

#include <ATen/ATen.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "check.h"

namespace api = bluefog::api;

namespace {

// Large enough that MPI sends it by rendezvous, not eagerly.
constexpr int64_t kLarge = int64_t(1) << 20;

// A float64 tensor of `value`s whose memory counts `*freed` up when released.
at::Tensor Tracked(int64_t count, double value, std::atomic<int>* freed) {
  auto* data = new double[count];
  for (int64_t i = 0; i < count; ++i) data[i] = value;
  return at::from_blob(
      data, {count},
      [freed](void* p) {
        delete[] static_cast<double*>(p);
        ++*freed;
      },
      at::kDouble);
}

at::Tensor Full(int64_t count, double value) { return at::full({count}, value, at::kDouble); }

// Submits local ops (each lets the dropped Works that finished go) until
// `done()` holds; false after 30 s.
bool SweepUntil(const std::function<bool()>& done) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    api::neighbor_allreduce(at::zeros({1}), {1.0, {}, {}, "work.sweep"}).wait();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// The other side of rank 0's op `name`, which receives from rank 1: every
// other rank enters a barrier, which rank 0 enters after its checks, and
// rank 1 posts its part only then.
int PeerSide(int me, const char* name) {
  api::barrier().wait();
  if (me != 1) return 0;
  at::Tensor out =
      api::neighbor_allreduce(Full(kLarge, 2.0), {0.5, {{0, 0.5}}, {{0, 1.0}}, name}).result();
  CHECK(at::equal(out, Full(kLarge, 0.5 * 2.0 + 0.5 * 1.0)));
  return 0;
}

// Rank 0's op cannot have finished at its checks (see PeerSide).
int PendingUntilPeerPosts(int me) {
  if (me != 0) return PeerSide(me, "work.pending");
  api::Work work = api::neighbor_allreduce(Full(kLarge, 1.0),
                                           {0.25, {{1, 0.75}}, {{1, 1.0}}, "work.pending"});
  CHECK(!work.test());
  CHECK(!work.wait(0.0));
  CHECK(!work.wait(0.05));
  api::barrier().wait();
  at::Tensor out = work.result();
  CHECK(at::equal(out, Full(kLarge, 0.25 * 1.0 + 0.75 * 2.0)));
  CHECK(work.test());
  CHECK(work.wait(0.0));
  CHECK(work.status().ok());
  CHECK(!work.error());
  api::Work copy = work;  // copies share the op and its result
  CHECK(copy.result().is_same(out));
  return 0;
}

// A queued op cannot start while bluefog is suspended: test() says so, and
// a wait refuses (it would block until someone resumes).
int PendingWhileSuspended(int me) {
  api::suspend();
  api::Work work = api::neighbor_allreduce(Full(5, me + 1.0), {2.0, {}, {}, "work.suspended"});
  CHECK(!work.test());
  CHECK(Throws<bluefog::Error>([&] { work.wait(0.01); }, {"suspended"}));
  CHECK(!work.test());
  api::resume();
  CHECK(at::equal(work.result(), Full(5, 2.0 * (me + 1))));
  return 0;
}

// The caller keeps only the Work: the Work keeps input and output alive,
// and lets them go once the op settled.
int CallerDropsItsTensors(int n, int me) {
  std::atomic<int> freed{0};
  api::Work work;
  {
    at::Tensor input = Tracked(kLarge, me + 1.0, &freed);
    at::Tensor output = at::empty({kLarge}, at::kDouble);
    work = api::allreduce(input, {false, false, "work.caller_dropped", output});
  }
  at::Tensor sum = work.result();
  CHECK(at::equal(sum, Full(kLarge, n * (n + 1) / 2.0)));
  CHECK(freed.load() == 1);  // the input, released when the op settled
  return 0;
}

// In place on a non-contiguous tensor: wait() settles the op, which copies
// the result back into it.
int InPlaceNonContiguous(int n, int me) {
  at::Tensor x = (at::arange(6, at::kDouble).reshape({2, 3}) + me).t();
  CHECK(!x.is_contiguous());
  api::Work work = api::allreduce(x, {false, false, "work.in_place", x});
  work.wait();
  at::Tensor expected = (n * at::arange(6, at::kDouble) + n * (n - 1) / 2.0).reshape({2, 3}).t();
  CHECK(at::equal(x, expected));
  CHECK(work.result().is_same(x));
  return 0;
}

// Rank 0 drops an unfinished Work and its tensor at once; rank 1, which
// posts after a barrier, still gets rank 0's data, and rank 0's memory goes
// only after the op finished.
int DroppedUnfinishedWork(int me) {
  if (me != 0) return PeerSide(me, "work.dropped");
  std::atomic<int> freed{0};
  api::neighbor_allreduce(Tracked(kLarge, 1.0, &freed),
                          {0.25, {{1, 0.75}}, {{1, 1.0}}, "work.dropped"});
  CHECK(api::dropped_works_pending() == 1);
  CHECK(freed.load() == 0);
  api::barrier().wait();
  CHECK(SweepUntil([&] { return freed.load() == 1; }));
  CHECK(api::dropped_works_pending() == 0);
  return 0;
}

int DroppedWhileSuspended() {
  std::atomic<int> freed{0};
  api::suspend();
  api::neighbor_allreduce(Tracked(1000, 3.0, &freed), {1.0, {}, {}, "work.dropped_suspended"});
  CHECK(api::dropped_works_pending() == 1);
  CHECK(freed.load() == 0);
  api::resume();
  CHECK(SweepUntil([&] { return freed.load() == 1; }));
  CHECK(api::dropped_works_pending() == 0);
  return 0;
}

int TypedErrors(int n, int me) {
  api::Work empty;
  CHECK(!empty.valid());
  CHECK(Throws([&] { empty.test(); }, {"holds no op"}));
  CHECK(Throws([&] { empty.result(); }, {"holds no op"}));
  api::Work done = api::barrier();
  CHECK(Throws([&] { done.wait(-1.0); }, {"timeout_seconds"}));
  CHECK(Throws([&] { done.wait(std::nan("")); }, {"timeout_seconds"}));
  done.wait();
  CHECK(!done.result().defined());  // a barrier has no output
  if (n < 2) return 0;
  // Ranks disagree on the shape: every rank's Work fails with MismatchError.
  api::Work work = api::allreduce(at::ones({me == 0 ? 3 : 4}), {false, false, "work.mismatch"});
  CHECK(Throws<bluefog::MismatchError>([&] { work.result(); }, {"work.mismatch", "shape"}));
  CHECK(work.test());
  CHECK(work.status().code() == bluefog::StatusCode::kMismatch);
  CHECK(Throws<bluefog::MismatchError>([&] { std::rethrow_exception(work.error()); }, {"shape"}));
  // The next op works.
  CHECK(at::equal(api::allreduce(Full(3, me), {false}).result(), Full(3, n * (n - 1) / 2.0)));
  return 0;
}

// A Work outlives shutdown: its result stays readable; new ops are refused.
int AfterShutdown(int n, int me) {
  api::Work work = api::allreduce(Full(7, me + 1.0), {true, false, "work.last"});
  api::shutdown();
  CHECK(at::equal(work.result(), Full(7, (n + 1) / 2.0)));
  CHECK(Throws<bluefog::ShutdownError>([] { api::allreduce(at::ones({1})); }, {"shut down"}));
  return 0;
}

}  // namespace

int main() {
  api::init();
  const int n = api::size(), me = api::rank();
  TestRank() = me;
  if (n >= 2 && PendingUntilPeerPosts(me)) return 1;
  if (PendingWhileSuspended(me)) return 1;
  if (CallerDropsItsTensors(n, me)) return 1;
  if (InPlaceNonContiguous(n, me)) return 1;
  if (n >= 2 && DroppedUnfinishedWork(me)) return 1;
  if (DroppedWhileSuspended()) return 1;
  if (TypedErrors(n, me)) return 1;
  if (AfterShutdown(n, me)) return 1;
  std::printf("rank %d: work_test passed\n", me);
  return 0;
}
