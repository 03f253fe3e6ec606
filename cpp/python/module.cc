// The Python extension `bluefog._bluefog`: thin bindings over bluefog/torch.h.
// Waiting releases the GIL and wakes every 100 ms to let Ctrl-C through.
#include <torch/csrc/utils/pybind.h>

#include "bluefog/core/weights.h"
#include "bluefog/torch.h"
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

at::Tensor Synchronize(int64_t handle) {
  while (true) {
    bool done;
    {
      py::gil_scoped_release no_gil;
      done = api::wait_for(handle, 0.1);
    }
    if (done) break;
    if (PyErr_CheckSignals() != 0) {
      api::abandon(handle);
      throw py::error_already_set();
    }
  }
  return api::synchronize(handle);
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
  m.def("init", [] {
    py::gil_scoped_release no_gil;
    api::init();
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
          return api::allreduce_nonblocking(tensor, OptionalTensor(output), average,
                                            is_hierarchical_local, name);
        });
  m.def("broadcast_nonblocking",
        [](const at::Tensor& tensor, const py::object& output, int root_rank,
           const std::string& name) {
          return api::broadcast_nonblocking(tensor, OptionalTensor(output), root_rank, name);
        });
  m.def("allgather_nonblocking", &api::allgather_nonblocking);
  m.def("neighbor_allreduce_nonblocking",
        [](const at::Tensor& tensor, const py::object& output, double self_weight,
           const std::vector<std::pair<int, double>>& srcs,
           const std::vector<std::pair<int, double>>& dsts, const std::string& name) {
          return api::neighbor_allreduce_nonblocking(tensor, OptionalTensor(output),
                                                     self_weight, srcs, dsts, name);
        });
  m.def("pair_gossip_nonblocking", &api::pair_gossip_nonblocking);
  m.def("neighbor_allgather_nonblocking", &api::neighbor_allgather_nonblocking);
  m.def("hierarchical_neighbor_allreduce_nonblocking",
        &api::hierarchical_neighbor_allreduce_nonblocking);
  // The one weight rule (ValueError naming op and argument), for the Python
  // checks that run before anything collective.
  m.def("check_weight", &bluefog::CheckWeight, py::arg("op"), py::arg("what"),
        py::arg("weight"));
  m.def("barrier_nonblocking", &api::barrier_nonblocking);
  m.def("poll", &api::poll);
  m.def("synchronize", [](int64_t handle) -> py::object {
    at::Tensor result = Synchronize(handle);
    if (!result.defined()) return py::none();
    return py::cast(result);
  });
  m.def("message_counts", []() -> py::tuple {
    bluefog::MessageCounts counts = api::message_counts();
    return py::make_tuple(counts.logical_from, counts.mpi);
  });
}
