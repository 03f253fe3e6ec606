// The text of timeline files: Chrome trace events, one per line, written as
// BlueFog 0.3 wrote them (`"key": value` with a space, each line ending in
// "},\n"). Pure functions; the recorder is timeline.cc.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bluefog {
namespace timeline {

// Longest escaped text (without the quotes) that a name may take in a line,
// so that every line stays well under a page (see timeline_file.h).
constexpr size_t kMaxEscapedBytes = 1024;

// Appends `text` as a JSON string literal, quotes included: `"` and `\`
// escaped, control characters as \n, \t, ... or \u00XX, invalid UTF-8
// replaced by U+FFFD. Text whose escaped form exceeds `max_bytes` is cut at a
// character boundary and ends with "...".
void AppendJsonString(std::string* out, std::string_view text,
                      size_t max_bytes = kMaxEscapedBytes);

// The first event of every file: which rank wrote it and the clock origin,
// so that ranks can be aligned later. `steady_origin_us` is the steady
// (monotonic) clock at the origin of every "ts", `system_origin_us` the wall
// clock (microseconds since the Unix epoch) read at the same moment.
struct ClockOrigin {
  int rank = 0;
  int size = 1;
  std::string hostname;
  int64_t steady_origin_us = 0;
  int64_t system_origin_us = 0;
};
void AppendClockLine(std::string* out, const ClockOrigin& origin);

// Metadata making `pid` the row of `tensor_name` (process_name and
// process_sort_index), and naming the thread `tid` inside it.
void AppendTensorRowLines(std::string* out, int pid, int tid,
                          std::string_view tensor_name);
void AppendThreadNameLine(std::string* out, int pid, int tid,
                          std::string_view thread_name);

// One event: phase 'B' (with `name`), 'E' (no name), 'i' (instant, with
// `name`, thread scope) or 'X' (complete, with `name` and `dur_us`); `args`,
// when not empty, is a JSON object's text written as the event's "args".
void AppendEventLine(std::string* out, char phase, std::string_view name,
                     int64_t ts_us, int pid, int tid, int64_t dur_us = 0,
                     std::string_view args = {});

// A metadata line outside the rows (pid 0, tid 0): `name` with `args`, a
// JSON object's text.
void AppendMetadataLine(std::string* out, std::string_view name, std::string_view args);

}  // namespace timeline
}  // namespace bluefog
