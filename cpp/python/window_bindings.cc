#include "window_bindings.h"

#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "bluefog/torch.h"

namespace py = pybind11;
namespace api = bluefog::api;

void BindWindows(py::module& m) {
  m.def("win_create", &api::win_create);
  m.def("win_free", &api::win_free);
  m.def("win_transfer_nonblocking",
        [](const std::string& op, const py::object& tensor, const std::string& name,
           const std::vector<std::pair<int, double>>& peers, std::optional<double> self_weight,
           bool require_mutex, bool with_p) {
          at::Tensor payload = tensor.is_none() ? at::Tensor() : tensor.cast<at::Tensor>();
          return api::win_transfer_nonblocking(op, payload, name, peers, self_weight,
                                               require_mutex, with_p);
        });
  m.def("win_mutex_nonblocking", &api::win_mutex_nonblocking);
  m.def("win_lock_nonblocking", &api::win_lock_nonblocking);
  m.def("win_update", [](const std::string& name, double self_weight,
                         const std::vector<std::pair<int, double>>& weights, bool reset,
                         bool clone, bool with_p) {
    py::gil_scoped_release no_gil;  // may wait for the engine applying a put
    return api::win_update(name, self_weight, weights, reset, clone, with_p);
  });
  m.def("win_update_then_collect", [](const std::string& name, bool with_p) {
    py::gil_scoped_release no_gil;
    return api::win_update_then_collect(name, with_p);
  });
  m.def("win_versions", &api::win_versions);
  m.def("win_p", &api::win_p);
}
