// Allreduce on real engines over the loopback fabric: exact sums and
// averages for each kind of dtype, which algorithm runs at which size, and
// every way the fabric can time payloads (copied at send, read at delivery,
// sends completing long after their data arrived).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <set>

#include "bluefog/core/collectives.h"
#include "loopback_world.h"
#include "rounding.h"

namespace bluefog {
namespace {

class EngineAllreduce : public LoopbackTest {};

constexpr size_t kEngineInlineLimit = 16 * 1024;  // engine_types.h's kInlineLimit
// Recursive doubling with inline messages and with separate payloads, and
// the ring with segments that travel apart from their headers.
constexpr int64_t kSmallCount = 13;
constexpr int64_t kMidCount = 3000;    // 24000 bytes of 8-byte elements
constexpr int64_t kRingCount = 40001;  // 320008 bytes, uneven segments
static_assert(kMidCount * 8 > kEngineInlineLimit && kMidCount * 8 <= kAllreduceRingThreshold,
              "the mid size must use recursive doubling with separate payloads");
static_assert(kRingCount * 8 / 4 > kEngineInlineLimit, "ring segments must travel apart");

double F64Value(int r, int64_t i) {
  return ((r * 37 + i * 11) % 101 - 50) * 0.25 + r * 1024.0 - 0.125 * (i % 3);
}

// Large magnitudes of both signs: the sum wraps around (two's complement).
uint64_t I64Value(int r, int64_t i) {
  return (static_cast<uint64_t>(r) + 1) * 0x0123456789ABCDEFull * static_cast<uint64_t>(i + 1) ^
         (static_cast<uint64_t>(r) << 60);
}

uint64_t Bits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

struct ExactCase {
  DataType dtype;  // kFloat64 or kInt64
  int64_t count;
  bool average;
  bool in_place;
};

std::string CaseName(const ExactCase& c) {
  return std::string(DataTypeName(c.dtype)) + "[" + std::to_string(c.count) + "]" +
         (c.average ? ".average" : ".sum") + (c.in_place ? ".in_place" : "");
}

uint64_t InputBits(const ExactCase& c, int r, int64_t i) {
  return c.dtype == DataType::kInt64 ? I64Value(r, i) : Bits(F64Value(r, i));
}

uint64_t ExpectedBits(const ExactCase& c, int n, int64_t i) {
  if (c.dtype == DataType::kInt64) {
    uint64_t sum = 0;
    for (int q = 0; q < n; ++q) sum += I64Value(q, i);
    return sum;
  }
  double sum = 0;  // exact: the values are multiples of 1/8 well below 2^40
  for (int q = 0; q < n; ++q) sum += F64Value(q, i);
  return Bits(c.average ? sum / n : sum);  // divided, not multiplied by 1/n
}

uint64_t Load8(const std::vector<char>& bytes, int64_t i) {
  uint64_t bits;
  std::memcpy(&bits, bytes.data() + i * 8, 8);
  return bits;
}

void RunExact(Engine& engine, int rank, const ExactCase& c) {
  const int n = engine.world().size;
  const size_t bytes = static_cast<size_t>(c.count) * 8;
  std::vector<char> in(bytes + 1, 0), out(bytes + 1, 0x55);
  for (int64_t i = 0; i < c.count; ++i) {
    uint64_t bits = InputBits(c, rank, i);
    std::memcpy(in.data() + i * 8, &bits, 8);
  }
  std::vector<char>& result = c.in_place ? in : out;
  ExpectOk(Allreduce(engine, CaseName(c), View(in, c.dtype, {c.count}),
                     View(result, c.dtype, {c.count}), c.average),
           rank);
  int bad = 0;
  for (int64_t i = 0; i < c.count && bad < 5; ++i) {
    uint64_t got = Load8(result, i), expected = ExpectedBits(c, n, i);
    if (got == expected) continue;
    ++bad;
    ADD_FAILURE() << CaseName(c) << " element " << i << ": got bits " << std::hex << got
                  << ", expected " << expected;
  }
  EXPECT_EQ(result[bytes], c.in_place ? 0 : 0x55) << CaseName(c) << " wrote past the end";
  if (c.in_place) return;
  for (int64_t i = 0; i < c.count; ++i)
    if (Load8(in, i) != InputBits(c, rank, i)) {
      ADD_FAILURE() << CaseName(c) << " modified its input at " << i;
      break;
    }
}

TEST_P(EngineAllreduce, Float64AndInt64ExactOnEveryDelivery) {
  ForEachSchedule({Delivery::kEager, Delivery::kRendezvous, Delivery::kLateCompletion},
                  [&](int rank, Engine& engine) {
                    int k = 0;
                    for (DataType dtype : {DataType::kFloat64, DataType::kInt64})
                      for (int64_t count : {int64_t(0), int64_t(1), kSmallCount, kMidCount,
                                            kRingCount})
                        for (bool average : {false, true}) {
                          if (average && dtype == DataType::kInt64) continue;
                          RunExact(engine, rank, {dtype, count, average, k++ % 2 == 1});
                        }
                  });
}

// Whom rank r sends data to. The ring: only the next rank. Recursive
// doubling over the largest power of two p <= n: ranks from p on fold into
// rank r - p (which sends the result back); the others exchange with r ^ mask.
std::set<int> DataTargets(int r, int n, bool ring) {
  if (ring) return {(r + 1) % n};
  int p = 1;
  while (p * 2 <= n) p *= 2;
  if (r >= p) return {r - p};
  std::set<int> targets;
  for (int mask = 1; mask < p; mask <<= 1) targets.insert(r ^ mask);
  if (r + p < n) targets.insert(r + p);
  return targets;
}

TEST_P(EngineAllreduce, RingAboveThresholdRecursiveDoublingBelow) {
  const int n = size();
  if (n < 3) GTEST_SKIP() << "up to two ranks, both algorithms exchange with the one peer";
  for (int64_t count : {kMidCount, kRingCount}) {
    const bool ring = static_cast<size_t>(count) * 8 > kAllreduceRingThreshold;
    LoopbackWorld world(n, 1);
    world.Run([&](int rank, Engine& engine) {
      std::vector<double> data(count, 1.0);
      TensorView view{data.data(), DataType::kFloat64, {count}};
      ExpectOk(Allreduce(engine, "algorithm", view, view, false), rank);
      EXPECT_EQ(data, std::vector<double>(count, n));
    });
    // Nothing but the allreduce ran, and every message it sent was needed.
    for (int r = 0; r < n; ++r) {
      std::set<int> expected, sources;
      for (int s = 0; s < n; ++s)
        if (DataTargets(s, n, ring).count(r)) expected.insert(s);
      MessageCounts counts = world.engine(r).Counts();
      for (int s = 0; s < n; ++s)
        if (counts.logical_from[s] > 0) sources.insert(s);
      EXPECT_EQ(sources, expected) << "rank " << r << (ring ? ", ring" : ", recursive doubling");
    }
  }
}

TEST_P(EngineAllreduce, Float32ResultsAreBitwiseIdenticalAcrossRanks) {
  const int n = size();
  const std::vector<int64_t> counts = {5, 6000, 50000};
  std::vector<std::vector<float>> inputs(n, std::vector<float>(counts.back()));
  for (int r = 0; r < n; ++r) {
    std::mt19937 gen(1000 + r);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (size_t i = 0; i < inputs[r].size(); ++i)
      inputs[r][i] = dist(gen) * (i % 7 == 0 ? 1000.0f : 1.0f);
  }
  for (uint64_t seed : kSeeds) {
    // [rank][case]: what each rank got.
    std::vector<std::vector<std::vector<float>>> results(n);
    LoopbackWorld world(n, seed);
    world.Run([&](int rank, Engine& engine) {
      for (int64_t count : counts)
        for (bool average : {false, true}) {
          std::vector<float> data(inputs[rank].begin(), inputs[rank].begin() + count);
          std::string name = "f32." + std::to_string(count) + (average ? ".average" : "");
          ExpectOk(Allreduce(engine, name, data, average), rank);
          results[rank].push_back(std::move(data));
        }
    });
    size_t k = 0;
    for (int64_t count : counts)
      for (bool average : {false, true}) {
        for (int r = 1; r < n; ++r)
          ASSERT_EQ(0, std::memcmp(results[r][k].data(), results[0][k].data(),
                                   count * sizeof(float)))
              << "rank " << r << " differs bitwise from rank 0, count " << count;
        for (int64_t i = 0; i < count; ++i) {
          double sum = 0;
          for (int q = 0; q < n; ++q) sum += inputs[q][i];
          double expected = average ? sum / n : sum;
          ASSERT_NEAR(results[0][k][i], expected, 1e-4 * (1 + std::fabs(expected)) * n)
              << "count " << count << " element " << i;
        }
        ++k;
      }
  }
}

// float16/bfloat16 are summed in float32 and rounded once at the end; an
// average divides the sum, correctly rounded to 16 bits.
void RunLowPrecision(Engine& engine, int rank, DataType dtype, int64_t count, bool average) {
  const int n = engine.world().size;
  const bool half = dtype == DataType::kFloat16;
  auto encode = [&](float v) { return EncodeLowPrecision(dtype, v); };
  auto decode = [&](uint16_t b) { return DecodeLowPrecision(dtype, b); };
  // Values exactly representable in the 16-bit type whose float32 sums are
  // exact. Element 0 is where 16-bit accumulation would go wrong: big + 1 +
  // 1 + ... loses the ones one at a time.
  const float big = half ? 2048.0f : 256.0f;
  auto value = [&](int r, int64_t i) -> float {
    if (i == 0) return r == 0 ? big : 1.0f;
    float v = static_cast<float>((r * 13 + i * 7) % 61 - 30) * 0.5f;
    if (i % 3 == 0) v += half ? 512.0f : 64.0f;
    return decode(encode(v));
  };
  std::vector<uint16_t> in(count), out(count, 0xFFFF);
  for (int64_t i = 0; i < count; ++i) in[i] = encode(value(rank, i));
  const std::string name = std::string(DataTypeName(dtype)) + "." + std::to_string(count) +
                           (average ? ".average" : ".sum");
  ExpectOk(Allreduce(engine, name, TensorView{in.data(), dtype, {count}},
                     TensorView{out.data(), dtype, {count}}, average),
           rank);
  int bad = 0;
  for (int64_t i = 0; i < count && bad < 5; ++i) {
    float sum = 0;  // exact in float32 by construction
    for (int q = 0; q < n; ++q) sum += value(q, i);
    uint16_t expected =
        average ? NearestLowPrecision(dtype, static_cast<double>(sum) / n) : encode(sum);
    if (out[i] != expected) {
      ++bad;
      ADD_FAILURE() << name << " element " << i << ": got " << decode(out[i]) << ", expected "
                    << decode(expected) << " (float32 sum " << sum << ")";
    }
    if (in[i] != encode(value(rank, i))) {
      ++bad;
      ADD_FAILURE() << name << " modified its input at " << i;
    }
  }
  if (n >= 3 && !average && count > 0) {  // what a 16-bit accumulator gets wrong
    EXPECT_EQ(decode(out[0]), decode(encode(big + (n - 1)))) << name;
    EXPECT_NE(decode(out[0]), big) << name;
  }
}

TEST_P(EngineAllreduce, Float16AndBFloat16ReducedInFloat32) {
  ForEachSeed([&](int rank, Engine& engine) {
    for (bool average : {false, true}) {
      for (int64_t count : {1, 31, 10000, 20000})
        RunLowPrecision(engine, rank, DataType::kFloat16, count, average);
      for (int64_t count : {31, 20000})
        RunLowPrecision(engine, rank, DataType::kBFloat16, count, average);
    }
  });
}

TEST_P(EngineAllreduce, Int32SumWraps) {
  const int n = size();
  auto value = [](int r, int64_t i) { return 0x7FFF0000u + r * 77777u + uint32_t(i); };
  ForEachSeed([&](int rank, Engine& engine) {
    for (int64_t count : {9, 30000}) {
      std::vector<int32_t> data(count);
      for (int64_t i = 0; i < count; ++i) data[i] = static_cast<int32_t>(value(rank, i));
      TensorView view{data.data(), DataType::kInt32, {count}};
      ExpectOk(Allreduce(engine, "i32." + std::to_string(count), view, view, false), rank);
      for (int64_t i = 0; i < count; ++i) {
        uint32_t expected = 0;
        for (int q = 0; q < n; ++q) expected += value(q, i);
        ASSERT_EQ(static_cast<uint32_t>(data[i]), expected) << "count " << count << " i " << i;
      }
    }
  });
}

TEST_P(EngineAllreduce, MultiDimensionalShapes) {
  const int n = size();
  // Empty, and large enough for the ring.
  const std::vector<std::vector<int64_t>> shapes = {{3, 0, 4}, {7, 50, 30}};
  ForEachSeed([&](int rank, Engine& engine) {
    for (const auto& shape : shapes) {
      TensorView view{nullptr, DataType::kFloat64, shape};
      std::vector<double> data(view.numel() + 1, -7.0);
      for (int64_t i = 0; i < view.numel(); ++i) data[i] = F64Value(rank, i);
      view.data = data.data();
      ExpectOk(Allreduce(engine, "shape" + ShapeString(shape), view, view, false), rank);
      for (int64_t i = 0; i < view.numel(); ++i) {
        double sum = 0;
        for (int q = 0; q < n; ++q) sum += F64Value(q, i);
        ASSERT_EQ(data[i], sum) << ShapeString(shape) << " element " << i;
      }
      EXPECT_EQ(data.back(), -7.0) << ShapeString(shape) << ": wrote past the end";
    }
  });
}

BLUEFOG_LOOPBACK_RANKS(EngineAllreduce);

}  // namespace
}  // namespace bluefog
