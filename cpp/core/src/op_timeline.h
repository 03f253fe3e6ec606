// The engine's timeline events for an op's life, in the row of its name
// (under Timeline::kEngineTid): ENQUEUE_<OP> from submit to start, then
// MPI_<OP> from start to completion, with an instant "FAILED: <message>"
// before the end of an op that failed. Each costs one relaxed atomic load
// when the timeline is off.
#pragma once
#include <cctype>
#include <string>

#include "bluefog/core/op.h"
#include "bluefog/core/status.h"
#include "bluefog/core/timeline.h"
#include "bluefog/core/wire.h"

namespace bluefog {
namespace op_timeline {

// "ENQUEUE_" + "neighbor_allreduce" -> "ENQUEUE_NEIGHBOR_ALLREDUCE" (0.3's names).
inline std::string Activity(const char* prefix, OpType type) {
  std::string name = prefix;
  for (const char* c = OpTypeName(type); *c; ++c)
    name.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(*c))));
  return name;
}

inline void Queued(const OpIdentity& id) {
  Timeline& t = Timeline::Global();
  if (!t.enabled()) return;
  t.Begin(id.display_name, Activity("ENQUEUE_", id.type), Timeline::kEngineTid);
}

inline void Started(const OpIdentity& id) {
  Timeline& t = Timeline::Global();
  if (!t.enabled()) return;
  t.End(id.display_name, Timeline::kEngineTid);
  t.Begin(id.display_name, Activity("MPI_", id.type), Timeline::kEngineTid);
}

// Ends the op's open span: MPI_<OP>, or ENQUEUE_<OP> for one failed before
// it started.
inline void Done(const OpIdentity& id, const Status& status) {
  Timeline& t = Timeline::Global();
  if (!t.enabled()) return;
  if (!status.ok())
    t.Instant(id.display_name, "FAILED: " + status.message(), Timeline::kEngineTid);
  t.End(id.display_name, Timeline::kEngineTid);
}

}  // namespace op_timeline
}  // namespace bluefog
