#include "timeline_bindings.h"

#include "bluefog/torch.h"

namespace py = pybind11;
namespace api = bluefog::api;

void BindTimeline(py::module& m) {
  m.def("timeline_enabled", &api::timeline_enabled);
  m.def("timeline_set_recording", &api::timeline_set_recording, py::arg("on"));
  m.def("timeline_start_activity", &api::timeline_start_activity, py::arg("tensor_name"),
        py::arg("activity_name"));
  m.def("timeline_end_activity", &api::timeline_end_activity, py::arg("tensor_name"));
}
