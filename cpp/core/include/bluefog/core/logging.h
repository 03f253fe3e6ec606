// Minimal leveled logging to stderr, prefixed with the rank.
#pragma once
#include <sstream>
#include <string>

namespace bluefog {

enum class LogLevel { kTrace = 0, kDebug, kInfo, kWarning, kError, kFatal };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void SetLogHideTime(bool hide);
void SetLogRank(int rank);
bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, const std::string& message);

class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { LogLine(level_, stream_.str()); }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace bluefog

#define BF_LOG(level)                                         \
  if (!::bluefog::LogEnabled(::bluefog::LogLevel::level)) {   \
  } else                                                      \
    ::bluefog::LogMessage(::bluefog::LogLevel::level).stream()
