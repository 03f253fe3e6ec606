// Bindings of the topology core (bluefog/core/topology.h) and of the checks
// of neighbour lists (bluefog/core/neighbor_checks.h) as the submodule
// `bluefog._bluefog.topology`. python/bluefog/common/topology_*.py turn these
// into networkx graphs and generators; nothing here needs torch.
//
// Weight matrices cross as float64 numpy arrays of shape (n, n); schedules as
// DynamicSchedule objects with step(rank, k) -> (send_ranks, recv_ranks).
// InvalidArgument becomes bf.InvalidArgumentError, a ValueError (module.cc).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bluefog/core/neighbor_checks.h"
#include "bluefog/core/status.h"
#include "bluefog/core/topology.h"
#include "topology_bindings.h"

namespace py = pybind11;
namespace topo = bluefog::topology;

namespace {

using InputArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

py::array_t<double> ToNumpy(const topo::WeightMatrix& w) {
  const py::ssize_t n = w.size();
  py::array_t<double> out({n, n});
  if (n > 0) {
    std::memcpy(out.mutable_data(), w.data(), sizeof(double) * w.values().size());
  }
  return out;
}

topo::WeightMatrix FromNumpy(const InputArray& array, const char* what) {
  if (array.ndim() != 2 || array.shape(0) != array.shape(1)) {
    std::string shape;
    for (py::ssize_t d = 0; d < array.ndim(); ++d) {
      shape += (d ? ", " : "") + std::to_string(array.shape(d));
    }
    throw bluefog::InvalidArgument(std::string(what) + ": expected a square matrix, got shape (" +
                                   shape + ")");
  }
  const int n = static_cast<int>(array.shape(0));
  std::vector<double> values(array.data(), array.data() + array.size());
  return topo::WeightMatrix::FromRowMajor(n, std::move(values));
}

py::tuple StepTuple(const topo::SendRecv& step) {
  return py::make_tuple(py::cast(step.send_ranks), py::cast(step.recv_ranks));
}

using SchedulePtr = std::shared_ptr<topo::DynamicSchedule>;

// Binds the built-in graph `make` as `name`, returning its weight matrix.
template <typename... Args, typename... Extra>
void DefGraph(py::module& t, const char* name, topo::WeightMatrix (*make)(Args...),
              const Extra&... extra) {
  t.def(name, [make](Args... args) { return ToNumpy(make(args...)); }, extra...);
}

}  // namespace

void BindTopology(py::module& m) {
  py::module t = m.def_submodule(
      "topology", "Topology core: built-in weight matrices, dynamic schedules, mixing analysis.");

  // The checks of ranks that Python runs before anything collective, so that
  // C++ and Python word each mistake alike.
  t.def("check_rank", &topo::CheckRank, py::arg("function"), py::arg("what"), py::arg("rank"),
        py::arg("size"));
  t.def("check_ranks_in_range", &bluefog::CheckRanksInRange, py::arg("op"), py::arg("what"),
        py::arg("ranks"), py::arg("count"), py::arg("unit") = "rank");
  t.def("check_neighbor_ranks",
        py::overload_cast<const std::string&, const std::string&, const std::vector<int>&, int,
                          int, const std::string&>(&bluefog::CheckNeighborRanks),
        py::arg("op"), py::arg("what"), py::arg("ranks"), py::arg("me"), py::arg("count"),
        py::arg("unit") = "rank");

  // Graphs: W[i, j] = weight of edge i -> j.
  DefGraph(t, "exponential_two_graph", &topo::ExponentialTwoGraph, py::arg("size"));
  DefGraph(t, "exponential_graph", &topo::ExponentialGraph, py::arg("size"),
           py::arg("base") = 2);
  DefGraph(t, "symmetric_exponential_graph", &topo::SymmetricExponentialGraph, py::arg("size"),
           py::arg("base") = 4);
  t.def("default_mesh_grid_shape",
        [](int size) {
          const topo::GridShape shape = topo::DefaultMeshGridShape(size);
          return py::make_tuple(shape.rows, shape.cols);
        },
        py::arg("size"));
  t.def("mesh_grid_2d_graph",
        [](int size, int rows, int cols) {
          return ToNumpy(topo::MeshGrid2DGraph(size, topo::GridShape{rows, cols}));
        },
        py::arg("size"), py::arg("rows"), py::arg("cols"));
  DefGraph(t, "star_graph", &topo::StarGraph, py::arg("size"), py::arg("center_rank") = 0);
  DefGraph(t, "ring_graph", &topo::RingGraph, py::arg("size"), py::arg("connect_style") = 0);
  DefGraph(t, "fully_connected_graph", &topo::FullyConnectedGraph, py::arg("size"));

  // Schedules.
  py::class_<topo::DynamicSchedule, SchedulePtr>(
      t, "DynamicSchedule",
      "A time-varying topology: step(rank, k) -> (send_ranks, recv_ranks); steps repeat "
      "after `period`.")
      .def_property_readonly("name", &topo::DynamicSchedule::name)
      .def_property_readonly("size", &topo::DynamicSchedule::size)
      .def_property_readonly("period", &topo::DynamicSchedule::period)
      .def("step", [](const topo::DynamicSchedule& s, int rank,
                      int64_t k) { return StepTuple(s.Step(rank, k)); },
           py::arg("rank"), py::arg("k"))
      .def("step_all",
           [](const topo::DynamicSchedule& s, int64_t k) {
             py::list result;
             for (const topo::SendRecv& step : s.StepAll(k)) result.append(StepTuple(step));
             return result;
           },
           py::arg("k"))
      .def("mixing_matrix",
           [](const topo::DynamicSchedule& s, int64_t k) {
             return ToNumpy(topo::StepMixingMatrix(s, k));
           },
           py::arg("k"))
      .def("__repr__", [](const topo::DynamicSchedule& s) {
        return "<DynamicSchedule " + s.name() + " size=" + std::to_string(s.size()) +
               " period=" + std::to_string(s.period()) + ">";
      });
  t.def("one_peer_schedule",
        [](const std::vector<std::vector<int>>& out_neighbors) -> SchedulePtr {
          return std::make_shared<topo::OnePeerSchedule>(out_neighbors);
        },
        py::arg("out_neighbors"));
  t.def("exp2_machine_schedule",
        [](int world_size, int local_size) -> SchedulePtr {
          return std::make_shared<topo::Exp2MachineSchedule>(world_size, local_size);
        },
        py::arg("world_size"), py::arg("local_size"));
  t.def("inner_outer_ring_schedule",
        [](int world_size, int local_size) -> SchedulePtr {
          return std::make_shared<topo::InnerOuterRingSchedule>(world_size, local_size);
        },
        py::arg("world_size"), py::arg("local_size"));
  t.def("inner_outer_expo2_schedule",
        [](int world_size, int local_size) -> SchedulePtr {
          return std::make_shared<topo::InnerOuterExpo2Schedule>(world_size, local_size);
        },
        py::arg("world_size"), py::arg("local_size"));

  // Analysis. Large matrices take a while (n = 1024: about a second), so the
  // GIL is released while the core works on its own copies.
  py::class_<topo::MixingAnalysis>(t, "MixingAnalysis")
      .def_readonly("size", &topo::MixingAnalysis::size)
      .def_readonly("period", &topo::MixingAnalysis::period)
      .def_readonly("max_degree", &topo::MixingAnalysis::max_degree)
      .def_readonly("contraction", &topo::MixingAnalysis::contraction)
      .def_readonly("spectral_gap", &topo::MixingAnalysis::spectral_gap)
      .def_readonly("contraction_per_step", &topo::MixingAnalysis::contraction_per_step)
      .def_readonly("periods", &topo::MixingAnalysis::periods)
      .def_readonly("steps", &topo::MixingAnalysis::steps);
  t.def("analyze_matrix",
        [](const InputArray& w, double tolerance) {
          topo::WeightMatrix matrix = FromNumpy(w, "analyze_matrix");
          py::gil_scoped_release no_gil;
          return topo::AnalyzeMixing(matrix, tolerance);
        },
        py::arg("w"), py::arg("tolerance") = 1e-6);
  t.def("analyze_schedule",
        [](const SchedulePtr& schedule, double tolerance) {
          if (!schedule) throw bluefog::InvalidArgument("analyze_schedule: schedule is None");
          py::gil_scoped_release no_gil;
          return topo::AnalyzeMixing(*schedule, tolerance);
        },
        py::arg("schedule"), py::arg("tolerance") = 1e-6);
  t.def("analyze_steps",
        [](const std::vector<InputArray>& steps, double tolerance) {
          std::vector<topo::WeightMatrix> matrices;
          for (const InputArray& step : steps) matrices.push_back(FromNumpy(step, "analyze_steps"));
          py::gil_scoped_release no_gil;
          return topo::AnalyzeMixing(matrices, tolerance);
        },
        py::arg("steps"), py::arg("tolerance") = 1e-6);
}
