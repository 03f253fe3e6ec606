// Python's integer handles (see handle_table.h): issuing them for the op
// bindings, and poll, synchronize and the table's counts on the module.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bluefog/work.h"

// A new handle for `work` (the GIL held: the table's first release warns).
int64_t IssueHandle(bluefog::api::Work work);

void BindHandles(pybind11::module& m);
