// The Python extension `bluefog._bluefog`: thin bindings over bluefog/torch.h.
// Ops take Python's positional arguments and return an integer handle
// (handle_bindings.h) for the Work.
#include <torch/csrc/utils/pybind.h>

#include "bluefog/core/weights.h"
#include "bluefog/torch.h"
#include "handle_bindings.h"
#include "handle_table.h"
#include "timeline_bindings.h"
#include "topology_bindings.h"
#include "window_bindings.h"

namespace py = pybind11;
namespace api = bluefog::api;

namespace {

at::Tensor OptionalTensor(const py::object& obj) {
  if (obj.is_none()) return at::Tensor();
  return obj.cast<at::Tensor>();
}

}  // namespace

PYBIND11_MODULE(_bluefog, m) {
  m.doc() = "bluefog native module";
  // Subclasses of ValueError or RuntimeError as before the taxonomy, so that
  // existing `except` clauses keep working. A derived class is registered
  // after its base: pybind11 tries the translators newest first.
  auto invalid = py::register_exception<bluefog::InvalidArgument>(m, "InvalidArgumentError",
                                                                 PyExc_ValueError);
  py::register_exception<bluefog::MismatchError>(m, "MismatchError", invalid.ptr());
  py::register_exception<bluefog::TimeoutError>(m, "OpTimeoutError", PyExc_RuntimeError);
  py::register_exception<bluefog::PeerFailureError>(m, "PeerFailureError", PyExc_RuntimeError);
  py::register_exception<bluefog::ShutdownError>(m, "ShutdownError", PyExc_RuntimeError);
  py::register_exception<bluefog::InternalError>(m, "InternalError", PyExc_RuntimeError);
  BindTimeline(m);
  BindTopology(m);
  BindWindows(m);
  BindHandles(m);
  m.def("init", [] {
    {
      py::gil_scoped_release no_gil;
      api::init();
    }
    HandleTable::Get().set_limit(bluefog::Engine::Get().config().max_unsynchronized_handles);
  });
  m.def("abandon_init", [](const std::string& reason) {
    py::gil_scoped_release no_gil;
    api::abandon_init(reason);
  });
  m.def("shutdown", [] {
    py::gil_scoped_release no_gil;
    api::shutdown();
  });
  m.def("abort", [](const std::string& reason, bool consequence) {
    py::gil_scoped_release no_gil;
    api::abort(reason, consequence);
  });
  m.def("is_initialized", &api::is_initialized);
  m.def("size", &api::size);
  m.def("rank", &api::rank);
  m.def("local_size", &api::local_size);
  m.def("local_rank", &api::local_rank);
  m.def("machine_size", &api::machine_size);
  m.def("machine_rank", &api::machine_rank);
  m.def("is_homogeneous", &api::is_homogeneous);
  m.def("mpi_threads_supported", &api::mpi_threads_supported);
  m.def("unified_mpi_window_model_supported", &api::unified_mpi_window_model_supported);
  m.def("suspend", &api::suspend);
  m.def("resume", &api::resume);

  m.def("allreduce_nonblocking",
        [](const at::Tensor& tensor, const py::object& output, bool average,
           bool is_hierarchical_local, const std::string& name) {
          return IssueHandle(api::allreduce(
              tensor, {average, is_hierarchical_local, name, OptionalTensor(output)}));
        });
  m.def("broadcast_nonblocking",
        [](const at::Tensor& tensor, const py::object& output, int root_rank,
           const std::string& name) {
          return IssueHandle(api::broadcast(tensor, {root_rank, name, OptionalTensor(output)}));
        });
  m.def("allgather_nonblocking", [](const at::Tensor& tensor, const std::string& name) {
    return IssueHandle(api::allgather(tensor, {name}));
  });
  m.def("neighbor_allreduce_nonblocking",
        [](const at::Tensor& tensor, const py::object& output, double self_weight,
           const api::RankWeights& srcs, const api::RankWeights& dsts,
           const std::string& name) {
          return IssueHandle(api::neighbor_allreduce(
              tensor, {self_weight, srcs, dsts, name, OptionalTensor(output)}));
        });
  m.def("pair_gossip_nonblocking", [](const at::Tensor& tensor, int target_rank,
                                      double self_weight, double pair_weight,
                                      const std::string& name) {
    return IssueHandle(api::pair_gossip(tensor, target_rank, {self_weight, pair_weight, name}));
  });
  m.def("neighbor_allgather_nonblocking",
        [](const at::Tensor& tensor, const std::vector<int>& srcs, const std::vector<int>& dsts,
           const std::string& name) {
          return IssueHandle(api::neighbor_allgather(tensor, {srcs, dsts, name}));
        });
  m.def("hierarchical_neighbor_allreduce_nonblocking",
        [](const at::Tensor& tensor, double self_weight, const api::RankWeights& srcs,
           const api::RankWeights& dsts, const std::string& name) {
          return IssueHandle(
              api::hierarchical_neighbor_allreduce(tensor, {self_weight, srcs, dsts, name}));
        });
  // The one weight rule (ValueError naming op and argument), for the Python
  // checks that run before anything collective.
  m.def("check_weight", &bluefog::CheckWeight, py::arg("op"), py::arg("what"),
        py::arg("weight"));
  m.def("barrier_nonblocking", [] { return IssueHandle(api::barrier()); });
  m.def("message_counts", []() -> py::tuple {
    bluefog::MessageCounts counts = api::message_counts();
    return py::make_tuple(counts.logical_from, counts.mpi);
  });
}
