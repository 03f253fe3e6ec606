// Registers the submodule `topology` (see topology_bindings.cc) on the module.
#pragma once
#include <pybind11/pybind11.h>

void BindTopology(pybind11::module& m);
