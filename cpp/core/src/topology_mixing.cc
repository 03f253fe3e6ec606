// Mixing analysis: spectral norms, consensus contraction, steps to a tolerance (see topology.h).
#include "bluefog/core/topology.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <numeric>

#include "topology_checks.h"

namespace bluefog {
namespace topology {
using namespace detail;

// ---------------------------------------------------------------------------
// Analysis

namespace {

// Householder reduction of the symmetric n x n matrix `a` (row-major, both
// triangles, destroyed) to tridiagonal form: diagonal d, subdiagonal e.
void Tridiagonalize(std::vector<double>& a, int n, std::vector<double>* d,
                    std::vector<double>* e) {
  const std::size_t N = static_cast<std::size_t>(n);
  d->assign(N, 0.0);
  e->assign(N > 0 ? N - 1 : 0, 0.0);
  std::vector<double> v(N, 0.0), p(N, 0.0);
  auto at = [&](std::size_t i, std::size_t j) -> double& { return a[i * N + j]; };
  for (std::size_t k = 0; k + 2 < N; ++k) {
    (*d)[k] = at(k, k);
    const double x0 = at(k + 1, k);
    double tail = 0.0;
    for (std::size_t i = k + 2; i < N; ++i) tail += at(i, k) * at(i, k);
    if (tail == 0.0) {
      (*e)[k] = x0;
      continue;
    }
    const double norm = std::sqrt(x0 * x0 + tail);
    const double alpha = x0 > 0 ? -norm : norm;
    v[k + 1] = x0 - alpha;
    for (std::size_t i = k + 2; i < N; ++i) v[i] = at(i, k);
    const double beta = 2.0 / (v[k + 1] * v[k + 1] + tail);
    // p = beta * S v over the trailing block S = a[k+1.., k+1..].
    double vp = 0.0;
    for (std::size_t i = k + 1; i < N; ++i) {
      const double* row = &a[i * N];
      double sum = 0.0;
      for (std::size_t j = k + 1; j < N; ++j) sum += row[j] * v[j];
      p[i] = beta * sum;
      vp += v[i] * p[i];
    }
    const double half_k = 0.5 * beta * vp;
    for (std::size_t i = k + 1; i < N; ++i) p[i] -= half_k * v[i];
    // S <- S - v p^T - p v^T  (= H S H with H = I - beta v v^T).
    for (std::size_t i = k + 1; i < N; ++i) {
      double* row = &a[i * N];
      const double vi = v[i], pi = p[i];
      for (std::size_t j = k + 1; j < N; ++j) row[j] -= vi * p[j] + pi * v[j];
    }
    (*e)[k] = alpha;
  }
  if (N >= 2) {
    (*d)[N - 2] = at(N - 2, N - 2);
    (*e)[N - 2] = at(N - 1, N - 2);
  }
  if (N >= 1) (*d)[N - 1] = at(N - 1, N - 1);
}

// Number of eigenvalues of the tridiagonal (d, e) below x (Sturm sequence).
int CountBelow(const std::vector<double>& d, const std::vector<double>& e, double x,
               double pivmin) {
  int count = 0;
  double q = 1.0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    q = d[i] - x - (i > 0 ? e[i - 1] * e[i - 1] / q : 0.0);
    if (std::fabs(q) <= pivmin) q = -pivmin;
    if (q < 0) ++count;
  }
  return count;
}

// Smallest and largest eigenvalue of the tridiagonal (d, e), by bisection.
std::pair<double, double> ExtremeEigenvalues(const std::vector<double>& d,
                                             const std::vector<double>& e) {
  const int n = static_cast<int>(d.size());
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  double max_e2 = 1.0;
  for (int i = 0; i < n; ++i) {
    double radius = 0.0;
    if (i > 0) radius += std::fabs(e[static_cast<std::size_t>(i - 1)]);
    if (i + 1 < n) radius += std::fabs(e[static_cast<std::size_t>(i)]);
    lo = std::min(lo, d[static_cast<std::size_t>(i)] - radius);
    hi = std::max(hi, d[static_cast<std::size_t>(i)] + radius);
  }
  for (double value : e) max_e2 = std::max(max_e2, value * value);
  const double pivmin = DBL_MIN * max_e2;
  const double tolerance = 4 * DBL_EPSILON * std::max(std::fabs(lo), std::fabs(hi));
  lo -= tolerance;
  hi += tolerance;
  auto bisect = [&](auto is_above) {  // is_above(x): the wanted eigenvalue is < x
    double a = lo, b = hi;
    for (int iteration = 0; iteration < 200 && b - a > tolerance; ++iteration) {
      const double mid = 0.5 * (a + b);
      if (mid <= a || mid >= b) break;
      if (is_above(mid)) {
        b = mid;
      } else {
        a = mid;
      }
    }
    return 0.5 * (a + b);
  };
  const double smallest = bisect([&](double x) { return CountBelow(d, e, x, pivmin) >= 1; });
  const double largest = bisect([&](double x) { return CountBelow(d, e, x, pivmin) >= n; });
  return {smallest, largest};
}

std::vector<std::vector<std::pair<int, double>>> RowNonzeros(const WeightMatrix& w) {
  std::vector<std::vector<std::pair<int, double>>> rows(static_cast<std::size_t>(w.size()));
  for (int i = 0; i < w.size(); ++i) {
    for (int j = 0; j < w.size(); ++j) {
      if (w(i, j) != 0.0) rows[static_cast<std::size_t>(i)].emplace_back(j, w(i, j));
    }
  }
  return rows;
}

// m <- m * w, skipping zeros (mixing matrices are sparse).
void MultiplyInPlace(WeightMatrix* m, const WeightMatrix& w) {
  const int n = m->size();
  const auto rows = RowNonzeros(w);
  std::vector<double> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    std::fill(out.begin(), out.end(), 0.0);
    for (int l = 0; l < n; ++l) {
      const double value = (*m)(i, l);
      if (value == 0.0) continue;
      for (const auto& [j, weight] : rows[static_cast<std::size_t>(l)]) {
        out[static_cast<std::size_t>(j)] += value * weight;
      }
    }
    std::copy(out.begin(), out.end(), m->data() + static_cast<std::size_t>(i) * n);
  }
}

int MaxDegree(const WeightMatrix& w) {
  int result = 0;
  for (int r = 0; r < w.size(); ++r) {
    int in = 0, out = 0;
    for (int o = 0; o < w.size(); ++o) {
      if (o == r) continue;
      if (w(o, r) != 0.0) ++in;
      if (w(r, o) != 0.0) ++out;
    }
    result = std::max({result, in, out});
  }
  return result;
}

int MaxDegree(const std::vector<SendRecv>& step) {
  int result = 0;
  for (const SendRecv& s : step) {
    result = std::max({result, static_cast<int>(s.send_ranks.size()),
                       static_cast<int>(s.recv_ranks.size())});
  }
  return result;
}

void CheckTolerance(double tolerance) {
  if (!(tolerance > 0.0 && tolerance < 1.0)) {
    Fail("AnalyzeMixing: tolerance must be in (0, 1), got ", tolerance);
  }
}

MixingAnalysis Summarise(const WeightMatrix& period_matrix, int64_t period, int max_degree,
                         double tolerance) {
  MixingAnalysis result;
  result.size = period_matrix.size();
  result.period = period;
  result.max_degree = max_degree;
  result.contraction = ConsensusContraction(period_matrix);
  result.spectral_gap = 1.0 - result.contraction;
  result.contraction_per_step =
      std::pow(result.contraction, 1.0 / static_cast<double>(period));
  if (result.size == 1) {
    result.periods = result.steps = 0;
  } else if (result.contraction >= 1.0 - 1e-12) {
    result.periods = result.steps = -1;
  } else if (result.contraction <= tolerance) {
    result.periods = 1;
    result.steps = period;
  } else {
    const double ratio = std::log(tolerance) / std::log(result.contraction);
    // A hair below an integer is that integer (log rounding).
    result.periods = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(ratio - 1e-9)));
    result.steps = result.periods > std::numeric_limits<int64_t>::max() / period
                       ? std::numeric_limits<int64_t>::max()
                       : result.periods * period;
  }
  return result;
}

}  // namespace

double SpectralNorm(const WeightMatrix& a) {
  const int n = a.size();
  if (n == 0) return 0.0;
  double scale = 0.0;
  for (double value : a.values()) {
    if (!std::isfinite(value)) Fail("SpectralNorm: the matrix has a non-finite entry ", value);
    scale = std::max(scale, std::fabs(value));
  }
  if (scale == 0.0) return 0.0;
  const std::size_t N = static_cast<std::size_t>(n);
  // Scaled so that the largest entry is 1: the norm is then in [1, n].
  std::vector<double> s(a.values());
  for (double& value : s) value /= scale;
  bool symmetric = true;
  for (std::size_t i = 0; i < N && symmetric; ++i) {
    for (std::size_t j = i + 1; j < N; ++j) {
      if (s[i * N + j] != s[j * N + i]) {
        symmetric = false;
        break;
      }
    }
  }
  std::vector<double> d, e;
  if (symmetric) {
    Tridiagonalize(s, n, &d, &e);
    const auto [smallest, largest] = ExtremeEigenvalues(d, e);
    return scale * std::max(std::fabs(smallest), std::fabs(largest));
  }
  // B = S^T S (upper triangle accumulated row by row of S, then mirrored).
  std::vector<double> b(N * N, 0.0);
  for (std::size_t k = 0; k < N; ++k) {
    const double* row = &s[k * N];
    for (std::size_t i = 0; i < N; ++i) {
      const double ski = row[i];
      if (ski == 0.0) continue;
      double* out = &b[i * N];
      for (std::size_t j = i; j < N; ++j) out[j] += ski * row[j];
    }
  }
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t j = 0; j < i; ++j) b[i * N + j] = b[j * N + i];
  }
  Tridiagonalize(b, n, &d, &e);
  const double largest = ExtremeEigenvalues(d, e).second;
  return scale * std::sqrt(std::max(0.0, largest));
}

double ConsensusContraction(const WeightMatrix& w) {
  const int n = w.size();
  if (n == 0) Fail("ConsensusContraction: empty matrix");
  WeightMatrix deviation = w;
  const double average = 1.0 / n;
  for (double* p = deviation.data(); p != deviation.data() + deviation.values().size(); ++p) {
    *p -= average;
  }
  return SpectralNorm(deviation);
}

WeightMatrix StepMixingMatrix(const DynamicSchedule& schedule, int64_t k) {
  const std::vector<SendRecv> step = schedule.StepAll(k);
  WeightMatrix m(schedule.size());
  for (int j = 0; j < schedule.size(); ++j) {
    const std::vector<int>& recv = step[static_cast<std::size_t>(j)].recv_ranks;
    const double weight = 1.0 / static_cast<double>(recv.size() + 1);
    m(j, j) = weight;
    for (int i : recv) m(i, j) = weight;
  }
  return m;
}

namespace {
void CheckAnalysisPeriod(const DynamicSchedule& schedule) {
  if (schedule.period() > kMaxAnalysisPeriod) {
    Fail("AnalyzeMixing: the ", schedule.name(), " schedule repeats only after ",
         schedule.period(), " steps; at most ", kMaxAnalysisPeriod, " can be analysed");
  }
}
}  // namespace

WeightMatrix PeriodMixingMatrix(const DynamicSchedule& schedule) {
  CheckAnalysisPeriod(schedule);
  WeightMatrix product = WeightMatrix::Identity(schedule.size());
  for (int64_t k = 0; k < schedule.period(); ++k) {
    MultiplyInPlace(&product, StepMixingMatrix(schedule, k));
  }
  return product;
}

MixingAnalysis AnalyzeMixing(const WeightMatrix& w, double tolerance) {
  CheckTolerance(tolerance);
  if (w.size() < 1) Fail("AnalyzeMixing: empty matrix");
  return Summarise(w, 1, MaxDegree(w), tolerance);
}

MixingAnalysis AnalyzeMixing(const DynamicSchedule& schedule, double tolerance) {
  CheckTolerance(tolerance);
  CheckAnalysisPeriod(schedule);
  WeightMatrix product = WeightMatrix::Identity(schedule.size());
  int max_degree = 0;
  for (int64_t k = 0; k < schedule.period(); ++k) {
    max_degree = std::max(max_degree, MaxDegree(schedule.StepAll(k)));
    MultiplyInPlace(&product, StepMixingMatrix(schedule, k));
  }
  return Summarise(product, schedule.period(), max_degree, tolerance);
}

MixingAnalysis AnalyzeMixing(const std::vector<WeightMatrix>& steps, double tolerance) {
  CheckTolerance(tolerance);
  if (steps.empty()) Fail("AnalyzeMixing: no steps given");
  const int n = steps.front().size();
  if (n < 1) Fail("AnalyzeMixing: empty matrix");
  WeightMatrix product = WeightMatrix::Identity(n);
  int max_degree = 0;
  for (std::size_t k = 0; k < steps.size(); ++k) {
    if (steps[k].size() != n) {
      Fail("AnalyzeMixing: step ", k, " is ", steps[k].size(), "x", steps[k].size(),
           ", step 0 is ", n, "x", n);
    }
    max_degree = std::max(max_degree, MaxDegree(steps[k]));
    MultiplyInPlace(&product, steps[k]);
  }
  return Summarise(product, static_cast<int64_t>(steps.size()), max_degree, tolerance);
}

}  // namespace topology
}  // namespace bluefog
