// Registers the timeline functions (timeline_*) on the module.
#pragma once
#include <pybind11/pybind11.h>

void BindTimeline(pybind11::module& m);
