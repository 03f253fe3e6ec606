// Registers the one-sided window functions (win_*) on the module.
#pragma once
#include <pybind11/pybind11.h>

void BindWindows(pybind11::module& m);
