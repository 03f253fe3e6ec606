#include "bluefog/core/logging.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace bluefog {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kWarning)};
std::atomic<bool> g_hide_time{false};
std::atomic<int> g_rank{-1};
std::mutex g_write_mutex;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "TRACE";
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kError: return "ERROR";
    case LogLevel::kFatal: return "FATAL";
  }
  return "?";
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }
void SetLogHideTime(bool hide) { g_hide_time = hide; }
void SetLogRank(int rank) { g_rank = rank; }
bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level; }

void LogLine(LogLevel level, const std::string& message) {
  char stamp[32] = "";
  if (!g_hide_time) {
    auto now = std::chrono::system_clock::now();
    std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                      now.time_since_epoch()).count() % 1000000;
    std::tm local{};
    localtime_r(&seconds, &local);
    size_t n = std::strftime(stamp, sizeof(stamp), "%H:%M:%S", &local);
    std::snprintf(stamp + n, sizeof(stamp) - n, ".%06lld ",
                  static_cast<long long>(micros));
  }
  std::lock_guard<std::mutex> lock(g_write_mutex);
  std::fprintf(stderr, "[bluefog %s%s rank %d] %s\n", stamp, LevelName(level),
               g_rank.load(), message.c_str());
  std::fflush(stderr);
}

}  // namespace bluefog
