#include "window_bindings.h"

#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "bluefog/torch.h"
#include "handle_bindings.h"

namespace py = pybind11;
namespace api = bluefog::api;

namespace {

api::WinTransferKind TransferKind(const std::string& op) {
  if (op == "put") return api::WinTransferKind::kPut;
  if (op == "accumulate") return api::WinTransferKind::kAccumulate;
  if (op == "get") return api::WinTransferKind::kGet;
  throw bluefog::InvalidArgument("unknown window transfer '" + op + "'");
}

}  // namespace

void BindWindows(py::module& m) {
  m.def("win_create", &api::win_create);
  m.def("win_free", &api::win_free);
  m.def("win_transfer_nonblocking",
        [](const std::string& op, const py::object& tensor, const std::string& name,
           const api::RankWeights& peers, std::optional<double> self_weight,
           bool require_mutex, bool with_p) {
          api::WinTransferOptions options;
          options.kind = TransferKind(op);
          options.peers = peers;
          options.self_weight = self_weight;
          options.require_mutex = require_mutex;
          options.with_p = with_p;
          at::Tensor payload = tensor.is_none() ? at::Tensor() : tensor.cast<at::Tensor>();
          return IssueHandle(api::win_transfer(name, payload, options));
        });
  m.def("win_mutex_nonblocking",
        [](const std::string& name, const std::vector<int>& ranks, bool lock) {
          return IssueHandle(api::win_mutex(name, {ranks, lock}));
        });
  m.def("win_lock_nonblocking", [](const std::string& name, bool lock) {
    return IssueHandle(api::win_lock(name, {lock}));
  });
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
