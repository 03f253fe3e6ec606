// The timeline's part of init/shutdown (BLUEFOG_TIMELINE=prefix: this rank
// writes prefix<rank>.json) and the user-activity calls; no torch code.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bluefog/core/status.h"
#include "bluefog/core/timeline.h"
#include "torch_internal.h"

namespace bluefog {
namespace api {
namespace {

std::string Setting(const std::string& prefix) { return "BLUEFOG_TIMELINE='" + prefix + "'"; }

std::string DirectoryOf(const std::string& prefix) {
  size_t slash = prefix.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : prefix.substr(0, slash);
}

void FlushTimelineAtExit() { Timeline::Global().Flush(); }

}  // namespace

void CheckTimelinePrefix(const std::string& prefix) {
  if (prefix.empty()) return;
  std::string dir = DirectoryOf(prefix);
  std::string files = "the timeline files '" + prefix + "<rank>.json'";
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0)
    throw InvalidArgument(Setting(prefix) + ": cannot write " + files + ": directory '" + dir +
                          "': " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode))
    throw InvalidArgument(Setting(prefix) + ": cannot write " + files + ": '" + dir +
                          "' is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw InvalidArgument(Setting(prefix) + ": cannot write " + files + ": directory '" + dir +
                          "': " + std::strerror(errno));
}

void StartTimeline(const std::string& prefix, const WorldInfo& world) {
  if (prefix.empty()) return;
  std::string path = prefix + std::to_string(world.rank) + ".json";
  try {
    Timeline::Global().Start(path, world.rank, world.size);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(Setting(prefix) + ": " + e.what());
  }
  // For C++ programs that exit without shutdown(): the last 50 ms too.
  static bool flush_registered = false;
  if (!flush_registered) flush_registered = std::atexit(FlushTimelineAtExit) == 0;
}

void StopTimeline() { Timeline::Global().Stop(); }

bool timeline_enabled() { return Timeline::Global().enabled(); }

bool timeline_set_recording(bool on) { return Timeline::Global().SetRecording(on); }

bool timeline_start_activity(const std::string& tensor_name, const std::string& activity_name) {
  return Timeline::Global().BeginActivity(tensor_name, activity_name);
}

bool timeline_end_activity(const std::string& tensor_name) {
  return Timeline::Global().EndActivity(tensor_name);
}

}  // namespace api
}  // namespace bluefog
