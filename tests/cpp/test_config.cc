// Tests for ParseConfig: defaults, accepted spellings, and errors that name
// the variable and the offending value.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "bluefog/core/config.h"
#include "bluefog/core/status.h"

namespace bluefog {
namespace {

using Env = std::map<std::string, std::string>;

Config Parse(const Env& env) {
  return ParseConfig([&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// Expects ParseConfig to throw InvalidArgument naming `name` and `value`.
void ExpectMalformed(const std::string& name, const std::string& value) {
  SCOPED_TRACE(name + "=" + value);
  try {
    Parse({{name, value}});
    ADD_FAILURE() << "no exception for " << name << "='" << value << "'";
  } catch (const InvalidArgument& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(name), std::string::npos) << message;
    EXPECT_NE(message.find("'" + value + "'"), std::string::npos) << message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
}

TEST(Config, DefaultsWhenUnset) {
  std::vector<std::string> asked;
  Config c = ParseConfig([&asked](const char* name) -> const char* {
    asked.push_back(name);
    return nullptr;
  });
  Config d;
  EXPECT_EQ(c.log_level, LogLevel::kWarning);
  EXPECT_FALSE(c.log_hide_time);
  EXPECT_EQ(c.timeline_prefix, "");
  EXPECT_EQ(c.fusion_threshold_bytes, 8 << 20);
  EXPECT_DOUBLE_EQ(c.cycle_time_ms, 1.0);
  EXPECT_EQ(c.nodes_per_machine, 0);
  EXPECT_EQ(c.mpi_thread_level, 3);
  EXPECT_DOUBLE_EQ(c.stall_warning_seconds, 60.0);
  EXPECT_DOUBLE_EQ(c.op_timeout_seconds, 1800.0);
  EXPECT_EQ(c.max_unsynchronized_handles, 4096);
  EXPECT_EQ(c.log_level, d.log_level);
  EXPECT_EQ(c.fusion_threshold_bytes, d.fusion_threshold_bytes);
  // Every documented variable is looked up.
  for (const char* name :
       {"BLUEFOG_LOG_LEVEL", "BLUEFOG_LOG_HIDE_TIME", "BLUEFOG_TIMELINE",
        "BLUEFOG_FUSION_THRESHOLD", "BLUEFOG_CYCLE_TIME",
        "BLUEFOG_NODES_PER_MACHINE", "BLUEFOG_MPI_THREAD_LEVEL",
        "BLUEFOG_STALL_WARNING_SECONDS", "BLUEFOG_OP_TIMEOUT_SECONDS",
        "BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES"}) {
    int count = 0;
    for (auto& a : asked) count += a == name;
    EXPECT_EQ(count, 1) << name;
  }
}

TEST(Config, UnrelatedVariablesAreIgnored) {
  Config c = Parse({{"BLUEFOG_NOT_A_SETTING", "garbage"}, {"PATH", "/bin"}});
  EXPECT_EQ(c.log_level, LogLevel::kWarning);
}

TEST(Config, LogLevelNamesCaseInsensitive) {
  const std::pair<const char*, LogLevel> cases[] = {
      {"trace", LogLevel::kTrace},     {"TRACE", LogLevel::kTrace},
      {"debug", LogLevel::kDebug},     {"Debug", LogLevel::kDebug},
      {"info", LogLevel::kInfo},       {"INFO", LogLevel::kInfo},
      {"warning", LogLevel::kWarning}, {"WARN", LogLevel::kWarning},
      {"warn", LogLevel::kWarning},    {"error", LogLevel::kError},
      {"ErRoR", LogLevel::kError},     {"fatal", LogLevel::kFatal},
      {"FATAL", LogLevel::kFatal},
  };
  for (auto& c : cases)
    EXPECT_EQ(Parse({{"BLUEFOG_LOG_LEVEL", c.first}}).log_level, c.second) << c.first;
  // Empty means unset.
  EXPECT_EQ(Parse({{"BLUEFOG_LOG_LEVEL", ""}}).log_level, LogLevel::kWarning);
}

TEST(Config, LogLevelMalformed) {
  for (const char* v : {"loud", "3", "warnings", " info", "info "})
    ExpectMalformed("BLUEFOG_LOG_LEVEL", v);
}

TEST(Config, Booleans) {
  for (const char* v : {"1", "true", "TRUE", "True", "yes", "YES", "on", "On"})
    EXPECT_TRUE(Parse({{"BLUEFOG_LOG_HIDE_TIME", v}}).log_hide_time) << v;
  for (const char* v : {"0", "false", "FALSE", "no", "No", "off", "OFF", ""})
    EXPECT_FALSE(Parse({{"BLUEFOG_LOG_HIDE_TIME", v}}).log_hide_time) << v;
}

TEST(Config, BooleanMalformed) {
  for (const char* v : {"maybe", "2", "-1", "y", "tru", "yes please"})
    ExpectMalformed("BLUEFOG_LOG_HIDE_TIME", v);
}

TEST(Config, TimelineIsTakenVerbatim) {
  EXPECT_EQ(Parse({{"BLUEFOG_TIMELINE", "/tmp/tl with space"}}).timeline_prefix,
            "/tmp/tl with space");
  EXPECT_EQ(Parse({{"BLUEFOG_TIMELINE", ""}}).timeline_prefix, "");
}

TEST(Config, FusionThreshold) {
  EXPECT_EQ(Parse({{"BLUEFOG_FUSION_THRESHOLD", "0"}}).fusion_threshold_bytes, 0);
  EXPECT_EQ(Parse({{"BLUEFOG_FUSION_THRESHOLD", "1048576"}}).fusion_threshold_bytes,
            1048576);
  EXPECT_EQ(Parse({{"BLUEFOG_FUSION_THRESHOLD", "1099511627776"}})
                .fusion_threshold_bytes,
            int64_t(1) << 40);
}

TEST(Config, FusionThresholdMalformed) {
  for (const char* v : {"abc", "-1", "1e3", "", "12abc", "1.5", "1099511627777",
                        "99999999999999999999999"})
    ExpectMalformed("BLUEFOG_FUSION_THRESHOLD", v);
}

TEST(Config, CycleTime) {
  EXPECT_DOUBLE_EQ(Parse({{"BLUEFOG_CYCLE_TIME", "0"}}).cycle_time_ms, 0.0);
  EXPECT_DOUBLE_EQ(Parse({{"BLUEFOG_CYCLE_TIME", "2.5"}}).cycle_time_ms, 2.5);
  EXPECT_DOUBLE_EQ(Parse({{"BLUEFOG_CYCLE_TIME", "1e1"}}).cycle_time_ms, 10.0);
  EXPECT_DOUBLE_EQ(Parse({{"BLUEFOG_CYCLE_TIME", "7"}}).cycle_time_ms, 7.0);
}

TEST(Config, CycleTimeMalformed) {
  for (const char* v : {"-1", "nan", "NaN", "inf", "-inf", "fast", "", "1ms",
                        "1e999", "-0.001"})
    ExpectMalformed("BLUEFOG_CYCLE_TIME", v);
}

TEST(Config, CycleTimeUpToOneSecond) {
  EXPECT_DOUBLE_EQ(Parse({{"BLUEFOG_CYCLE_TIME", "1000"}}).cycle_time_ms, 1000.0);
  for (const char* v : {"1000.001", "1e100", "1e308", "1e4"})
    ExpectMalformed("BLUEFOG_CYCLE_TIME", v);
}

// Numbers out of range: the message gives the allowed range and its unit.
TEST(Config, NumberErrorsNameTheRange) {
  const std::pair<const char*, const char*> cases[] = {
      {"BLUEFOG_CYCLE_TIME", "a number of milliseconds in [0, 1000]"},
      {"BLUEFOG_STALL_WARNING_SECONDS", "a number of seconds in (0, 1e+07]"},
      {"BLUEFOG_OP_TIMEOUT_SECONDS", "a number of seconds in [0, 1e+07]"},
  };
  for (const auto& c : cases) {
    for (const char* v : {"1e100", "-1", "nan", "inf"}) {
      try {
        Parse({{c.first, v}});
        ADD_FAILURE() << c.first << "=" << v << " accepted";
      } catch (const InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find(c.second), std::string::npos) << e.what();
      }
    }
  }
}

TEST(Config, WaitsUpToSixteenWeeks) {
  EXPECT_DOUBLE_EQ(Parse({{"BLUEFOG_OP_TIMEOUT_SECONDS", "1e7"}}).op_timeout_seconds, 1e7);
  EXPECT_DOUBLE_EQ(Parse({{"BLUEFOG_STALL_WARNING_SECONDS", "1e7"}}).stall_warning_seconds,
                   1e7);
  for (const char* v : {"1.0000001e7", "1e100"}) {
    ExpectMalformed("BLUEFOG_OP_TIMEOUT_SECONDS", v);
    ExpectMalformed("BLUEFOG_STALL_WARNING_SECONDS", v);
  }
}

TEST(Config, NodesPerMachine) {
  EXPECT_EQ(Parse({{"BLUEFOG_NODES_PER_MACHINE", "1"}}).nodes_per_machine, 1);
  EXPECT_EQ(Parse({{"BLUEFOG_NODES_PER_MACHINE", "4"}}).nodes_per_machine, 4);
  EXPECT_EQ(Parse({{"BLUEFOG_NODES_PER_MACHINE", "16777216"}}).nodes_per_machine,
            1 << 24);
}

TEST(Config, NodesPerMachineMalformed) {
  for (const char* v : {"0", "-2", "two", "", "4.0", "16777217"})
    ExpectMalformed("BLUEFOG_NODES_PER_MACHINE", v);
}

TEST(Config, ThreadLevelNamesAndNumbers) {
  const std::pair<const char*, int> cases[] = {
      {"0", 0},
      {"1", 1},
      {"2", 2},
      {"3", 3},
      {"single", 0},
      {"FUNNELED", 1},
      {"Serialized", 2},
      {"multiple", 3},
      {"MPI_THREAD_SINGLE", 0},
      {"mpi_thread_funneled", 1},
      {"MPI_THREAD_SERIALIZED", 2},
      {"MPI_THREAD_MULTIPLE", 3},
  };
  for (auto& c : cases)
    EXPECT_EQ(Parse({{"BLUEFOG_MPI_THREAD_LEVEL", c.first}}).mpi_thread_level,
              c.second)
        << c.first;
}

TEST(Config, ThreadLevelMalformed) {
  for (const char* v : {"7", "4", "-1", "multi", "thread_multiple", ""})
    ExpectMalformed("BLUEFOG_MPI_THREAD_LEVEL", v);
}

TEST(Config, StallWarningSeconds) {
  EXPECT_DOUBLE_EQ(
      Parse({{"BLUEFOG_STALL_WARNING_SECONDS", "0.5"}}).stall_warning_seconds, 0.5);
  EXPECT_DOUBLE_EQ(
      Parse({{"BLUEFOG_STALL_WARNING_SECONDS", "600"}}).stall_warning_seconds, 600);
}

TEST(Config, StallWarningSecondsMalformed) {
  for (const char* v : {"0", "-1", "0.0", "nan", "inf", "soon", ""})
    ExpectMalformed("BLUEFOG_STALL_WARNING_SECONDS", v);
}

TEST(Config, OpTimeoutSeconds) {
  EXPECT_DOUBLE_EQ(Parse({{"BLUEFOG_OP_TIMEOUT_SECONDS", "2.5"}}).op_timeout_seconds, 2.5);
  // 0 turns the deadline off.
  EXPECT_DOUBLE_EQ(Parse({{"BLUEFOG_OP_TIMEOUT_SECONDS", "0"}}).op_timeout_seconds, 0.0);
  for (const char* v : {"-1", "nan", "inf", "never", ""})
    ExpectMalformed("BLUEFOG_OP_TIMEOUT_SECONDS", v);
}

TEST(Config, MaxUnsynchronizedHandles) {
  EXPECT_EQ(Parse({{"BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES", "1"}}).max_unsynchronized_handles, 1);
  EXPECT_EQ(Parse({{"BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES", "1073741824"}})
                .max_unsynchronized_handles,
            int64_t(1) << 30);
  for (const char* v : {"0", "-5", "1073741825", "2.5", "many", ""})
    ExpectMalformed("BLUEFOG_MAX_UNSYNCHRONIZED_HANDLES", v);
}

TEST(Config, AllVariablesTogether) {
  Config c = Parse({{"BLUEFOG_LOG_LEVEL", "debug"},
                    {"BLUEFOG_LOG_HIDE_TIME", "1"},
                    {"BLUEFOG_TIMELINE", "/tmp/t"},
                    {"BLUEFOG_FUSION_THRESHOLD", "123"},
                    {"BLUEFOG_CYCLE_TIME", "0.25"},
                    {"BLUEFOG_NODES_PER_MACHINE", "2"},
                    {"BLUEFOG_MPI_THREAD_LEVEL", "serialized"},
                    {"BLUEFOG_STALL_WARNING_SECONDS", "5"}});
  EXPECT_EQ(c.log_level, LogLevel::kDebug);
  EXPECT_TRUE(c.log_hide_time);
  EXPECT_EQ(c.timeline_prefix, "/tmp/t");
  EXPECT_EQ(c.fusion_threshold_bytes, 123);
  EXPECT_DOUBLE_EQ(c.cycle_time_ms, 0.25);
  EXPECT_EQ(c.nodes_per_machine, 2);
  EXPECT_EQ(c.mpi_thread_level, 2);
  EXPECT_DOUBLE_EQ(c.stall_warning_seconds, 5.0);
}

TEST(Config, OneBadVariableAmongGoodOnesIsNamed) {
  try {
    Parse({{"BLUEFOG_LOG_LEVEL", "debug"},
           {"BLUEFOG_CYCLE_TIME", "0.25"},
           {"BLUEFOG_FUSION_THRESHOLD", "lots"}});
    FAIL() << "no exception";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("BLUEFOG_FUSION_THRESHOLD"),
              std::string::npos);
    EXPECT_NE(std::string(e.what()).find("lots"), std::string::npos);
  }
}

TEST(Config, ErrorIsAnInvalidArgument) {
  // Python maps std::invalid_argument to ValueError.
  EXPECT_THROW(Parse({{"BLUEFOG_FUSION_THRESHOLD", "abc"}}), std::invalid_argument);
}

TEST(Config, FromEnvironment) {
  ASSERT_EQ(setenv("BLUEFOG_FUSION_THRESHOLD", "4242", 1), 0);
  ASSERT_EQ(setenv("BLUEFOG_LOG_LEVEL", "error", 1), 0);
  Config c = ParseConfigFromEnvironment();
  EXPECT_EQ(c.fusion_threshold_bytes, 4242);
  EXPECT_EQ(c.log_level, LogLevel::kError);
  ASSERT_EQ(setenv("BLUEFOG_FUSION_THRESHOLD", "x", 1), 0);
  EXPECT_THROW(ParseConfigFromEnvironment(), InvalidArgument);
  unsetenv("BLUEFOG_FUSION_THRESHOLD");
  unsetenv("BLUEFOG_LOG_LEVEL");
}

}  // namespace
}  // namespace bluefog
