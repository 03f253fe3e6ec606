#include "handle_bindings.h"

#include <torch/csrc/utils/pybind.h>

#include <string>

#include "handle_table.h"

namespace py = pybind11;
namespace api = bluefog::api;

namespace {

// Waiting releases the GIL and wakes every 100 ms to let Ctrl-C through;
// an interrupted wait leaves the handle to be waited for again.
py::object Synchronize(int64_t handle) {
  HandleTable& table = HandleTable::Get();
  api::Work work = table.Find(handle);
  while (true) {
    bool done;
    {
      py::gil_scoped_release no_gil;
      done = work.wait(0.1);
    }
    if (done) break;
    if (PyErr_CheckSignals() != 0) {
      work.abandon();
      throw py::error_already_set();
    }
  }
  table.Remove(handle);
  at::Tensor result = work.result();  // throws the op's error
  if (!result.defined()) return py::none();
  return py::cast(result);
}

}  // namespace

int64_t IssueHandle(api::Work work) {
  bool first_release = false;
  int64_t handle = HandleTable::Get().Add(std::move(work), &first_release);
  if (first_release) {
    std::string message =
        "bluefog: more than " + std::to_string(HandleTable::Get().limit()) +
        " handles of *_nonblocking calls are waiting for synchronize; the oldest whose ops "
        "finished are being released with their results, and synchronize or poll on them "
        "raises InvalidArgumentError. Synchronize every handle, or raise "
        "BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES. (This warning is given once.)";
    if (PyErr_WarnEx(PyExc_RuntimeWarning, message.c_str(), 1) != 0)
      throw py::error_already_set();
  }
  return handle;
}

void BindHandles(py::module& m) {
  m.def("poll", [](int64_t handle) { return HandleTable::Get().Find(handle).test(); });
  m.def("synchronize", &Synchronize);
  // (handles kept: issued, neither synchronized nor released; handles
  // released unsynchronized so far; the limit), for tests of the bound.
  m.def("handle_counts", [] {
    HandleTable& table = HandleTable::Get();
    return py::make_tuple(table.kept(), table.released(), table.limit());
  });
  m.def("handle_kept", [](int64_t handle) { return HandleTable::Get().Holds(handle); });
}
