#include "bluefog/core/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "bluefog/core/status.h"

namespace bluefog {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return s;
}

[[noreturn]] void Malformed(const char* name, const std::string& value,
                            const std::string& expected) {
  throw InvalidArgument(std::string("environment variable ") + name + "='" +
                        value + "' is malformed: expected " + expected);
}

int64_t ParseInt(const char* name, const std::string& value, int64_t min,
                 int64_t max) {
  errno = 0;
  char* end = nullptr;
  long long parsed = std::strtoll(value.c_str(), &end, 10);
  bool range_ok = errno == 0 && parsed >= min && parsed <= max;
  if (value.empty() || *end != '\0' || !range_ok) {
    Malformed(name, value, "an integer in [" + std::to_string(min) + ", " +
                               std::to_string(max) + "]");
  }
  return parsed;
}

std::string Number(double x) {
  std::ostringstream out;
  out << x;
  return out.str();
}

// A finite number in [min, max] ((min, max] with `min_open`), of `unit`.
double ParseDouble(const char* name, const std::string& value, double min, double max,
                   const char* unit, bool min_open = false) {
  errno = 0;
  char* end = nullptr;
  double parsed = std::strtod(value.c_str(), &end);
  bool in_range = std::isfinite(parsed) && (min_open ? parsed > min : parsed >= min) &&
                  parsed <= max;
  if (value.empty() || *end != '\0' || errno != 0 || !in_range) {
    Malformed(name, value, std::string("a number of ") + unit + " in " + (min_open ? "(" : "[") +
                               Number(min) + ", " + Number(max) + "]");
  }
  return parsed;
}

bool ParseBool(const char* name, const std::string& value) {
  std::string v = Lower(value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off" || v.empty())
    return false;
  Malformed(name, value, "a boolean (1/0, true/false, yes/no, on/off)");
}

LogLevel ParseLogLevel(const char* name, const std::string& value) {
  std::string v = Lower(value);
  if (v == "trace") return LogLevel::kTrace;
  if (v == "debug") return LogLevel::kDebug;
  if (v == "info") return LogLevel::kInfo;
  if (v == "warning" || v == "warn") return LogLevel::kWarning;
  if (v == "error") return LogLevel::kError;
  if (v == "fatal") return LogLevel::kFatal;
  Malformed(name, value, "one of trace, debug, info, warning, error, fatal");
}

int ParseThreadLevel(const char* name, const std::string& value) {
  std::string v = Lower(value);
  if (v == "mpi_thread_single" || v == "single") return 0;
  if (v == "mpi_thread_funneled" || v == "funneled") return 1;
  if (v == "mpi_thread_serialized" || v == "serialized") return 2;
  if (v == "mpi_thread_multiple" || v == "multiple") return 3;
  return static_cast<int>(ParseInt(name, value, 0, 3));
}

}  // namespace

Config ParseConfig(const EnvLookup& lookup) {
  Config config;
  auto get = [&](const char* name, std::string* out) {
    const char* raw = lookup(name);
    if (raw == nullptr) return false;
    *out = raw;
    return true;
  };
  std::string v;
  if (get("BLUEFOG_LOG_LEVEL", &v) && !v.empty())
    config.log_level = ParseLogLevel("BLUEFOG_LOG_LEVEL", v);
  if (get("BLUEFOG_LOG_HIDE_TIME", &v))
    config.log_hide_time = ParseBool("BLUEFOG_LOG_HIDE_TIME", v);
  if (get("BLUEFOG_TIMELINE", &v)) config.timeline_prefix = v;
  if (get("BLUEFOG_FUSION_THRESHOLD", &v))
    config.fusion_threshold_bytes =
        ParseInt("BLUEFOG_FUSION_THRESHOLD", v, 0, int64_t(1) << 40);
  if (get("BLUEFOG_CYCLE_TIME", &v))
    config.cycle_time_ms =
        ParseDouble("BLUEFOG_CYCLE_TIME", v, 0.0, kMaxCycleTimeMs, "milliseconds");
  if (get("BLUEFOG_NODES_PER_MACHINE", &v))
    config.nodes_per_machine =
        static_cast<int>(ParseInt("BLUEFOG_NODES_PER_MACHINE", v, 1, 1 << 24));
  if (get("BLUEFOG_MPI_THREAD_LEVEL", &v))
    config.mpi_thread_level = ParseThreadLevel("BLUEFOG_MPI_THREAD_LEVEL", v);
  if (get("BLUEFOG_STALL_WARNING_SECONDS", &v))
    config.stall_warning_seconds = ParseDouble("BLUEFOG_STALL_WARNING_SECONDS", v, 0.0,
                                               kMaxWaitSeconds, "seconds", /*min_open=*/true);
  if (get("BLUEFOG_OP_TIMEOUT_SECONDS", &v))
    config.op_timeout_seconds =
        ParseDouble("BLUEFOG_OP_TIMEOUT_SECONDS", v, 0.0, kMaxWaitSeconds, "seconds");
  if (get("BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES", &v))
    config.max_unsynchronized_handles = ParseInt("BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES", v, 1,
                                                 kMaxUnsynchronizedHandles);
  return config;
}

Config ParseConfigFromEnvironment() {
  return ParseConfig([](const char* name) { return std::getenv(name); });
}

}  // namespace bluefog
