// The text of timeline lines: BlueFog 0.3's `"key": value` form, JSON
// escaping of any name, UTF-8 repair, and the cap on long names.
#include <gtest/gtest.h>

#include <string>

#include "json_reader.h"
#include "timeline_format.h"

namespace bluefog {
namespace timeline {
namespace {

using testing::Json;
using testing::ParseJson;

std::string Quoted(const std::string& text, size_t max_bytes = kMaxEscapedBytes) {
  std::string out;
  AppendJsonString(&out, text, max_bytes);
  return out;
}

// The line without its trailing ",\n", parsed.
Json ParseLine(const std::string& line) {
  EXPECT_GE(line.size(), 2u);
  EXPECT_EQ(line.substr(line.size() - 2), ",\n");
  return ParseJson(line.substr(0, line.size() - 2));
}

TEST(TimelineFormat, EscapesQuotesBackslashesAndControlCharacters) {
  std::string name = "a\"b\\c\nd\te\rf\bg\fh\x01i\x1fj/k\x7f";
  std::string quoted = Quoted(name);
  EXPECT_EQ(quoted, "\"a\\\"b\\\\c\\nd\\te\\rf\\bg\\fh\\u0001i\\u001fj/k\x7f\"");
  EXPECT_EQ(ParseJson(quoted).string, name);
}

TEST(TimelineFormat, UnicodePassesThroughUnchanged) {
  std::string name = "w\xC3\xA9ight \xE6\xBC\xA2\xE5\xAD\x97 \xF0\x9F\x98\x80";  // é, 漢字, 😀
  EXPECT_EQ(Quoted(name), "\"" + name + "\"");
  EXPECT_EQ(ParseJson(Quoted(name)).string, name);
}

TEST(TimelineFormat, InvalidUtf8BecomesReplacementCharacters) {
  const std::string kFffd = "\xEF\xBF\xBD";
  EXPECT_EQ(Quoted("a\xFF" "b"), "\"a" + kFffd + "b\"");
  EXPECT_EQ(Quoted("\xC0\xAF"), "\"" + kFffd + kFffd + "\"");          // overlong '/'
  EXPECT_EQ(Quoted("\xED\xA0\x80"), "\"" + kFffd + kFffd + kFffd + "\"");  // surrogate
  EXPECT_EQ(Quoted("x\xE2\x82"), "\"x" + kFffd + kFffd + "\"");        // cut short
  EXPECT_EQ(Quoted("\xF4\x90\x80\x80"),                                 // above U+10FFFF
            "\"" + kFffd + kFffd + kFffd + kFffd + "\"");
  EXPECT_EQ(Quoted(std::string("a\0b", 3)), "\"a\\u0000b\"");
}

TEST(TimelineFormat, LongNamesAreCutAtACharacterBoundary) {
  EXPECT_EQ(Quoted(std::string(100, 'x'), 100), "\"" + std::string(100, 'x') + "\"");
  EXPECT_EQ(Quoted(std::string(101, 'x'), 100), "\"" + std::string(97, 'x') + "...\"");
  // Escapes and multi-byte characters are never split.
  for (const std::string unit : {"\"", "\n", "\x01", "\xE6\xBC\xA2", "\xF0\x9F\x98\x80"}) {
    std::string name;
    for (int k = 0; k < 3000; ++k) name += unit;
    std::string quoted = Quoted(name);
    EXPECT_LE(quoted.size(), kMaxEscapedBytes + 2);
    std::string decoded = ParseJson(quoted).string;
    ASSERT_GE(decoded.size(), 3u);
    EXPECT_EQ(decoded.substr(decoded.size() - 3), "...");
    std::string kept = decoded.substr(0, decoded.size() - 3);
    EXPECT_EQ(kept.size() % unit.size(), 0u);
    EXPECT_EQ(name.compare(0, kept.size(), kept), 0);
    EXPECT_GT(kept.size(), 100u);
  }
}

TEST(TimelineFormat, EventLinesHaveBlueFog03sTextForm) {
  std::string b, e, i;
  AppendEventLine(&b, 'B', "MPI_ALLREDUCE", 1234, 3, 1);
  AppendEventLine(&e, 'E', "ignored", 1300, 3, 1);
  AppendEventLine(&i, 'i', "queued", 1301, 3, 0);
  EXPECT_EQ(b, "{\"ph\": \"B\", \"name\": \"MPI_ALLREDUCE\", \"ts\": 1234, \"pid\": 3, \"tid\": 1},\n");
  EXPECT_EQ(e, "{\"ph\": \"E\", \"ts\": 1300, \"pid\": 3, \"tid\": 1},\n");
  EXPECT_EQ(i, "{\"ph\": \"i\", \"name\": \"queued\", \"ts\": 1301, \"pid\": 3, \"tid\": 0, \"s\": \"t\"},\n");
  Json parsed = ParseLine(i);
  EXPECT_EQ(parsed.Str("ph"), "i");
  EXPECT_EQ(parsed.Int("ts"), 1301);
}

TEST(TimelineFormat, CompleteEventsCarryTheirDurationAndArgs) {
  std::string x, i;
  AppendEventLine(&x, 'X', "WAIT_FOR_RANK_3", 50, 2, 100003, 25);
  AppendEventLine(&i, 'i', "FUSED_FRAME_TO_RANK_1", 60, 2, 100001, 0,
                  "{\"messages\": 2, \"bytes\": 96}");
  EXPECT_EQ(x, "{\"ph\": \"X\", \"name\": \"WAIT_FOR_RANK_3\", \"ts\": 50, \"dur\": 25, "
               "\"pid\": 2, \"tid\": 100003},\n");
  Json parsed = ParseLine(i);
  EXPECT_EQ(parsed.At("args").Int("messages"), 2);
  EXPECT_EQ(parsed.At("args").Int("bytes"), 96);
  EXPECT_EQ(parsed.Str("s"), "t");
}

TEST(TimelineFormat, MetadataOutsideTheRows) {
  std::string line;
  AppendMetadataLine(&line, "bluefog_clock_offset", "{\"offset_us\": -4}");
  EXPECT_EQ(line, "{\"name\": \"bluefog_clock_offset\", \"ph\": \"M\", \"pid\": 0, "
                  "\"tid\": 0, \"args\": {\"offset_us\": -4}},\n");
}

TEST(TimelineFormat, MetadataLines) {
  std::string rows;
  AppendTensorRowLines(&rows, 2, 1, "grad \"w\"");
  EXPECT_EQ(rows,
            "{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 2, \"tid\": 1, "
            "\"args\": {\"name\": \"grad \\\"w\\\"\"}},\n"
            "{\"name\": \"process_sort_index\", \"ph\": \"M\", \"pid\": 2, \"tid\": 1, "
            "\"args\": {\"sort_index\": 2}},\n");
  std::string thread;
  AppendThreadNameLine(&thread, 2, 0, "engine");
  Json parsed = ParseLine(thread);
  EXPECT_EQ(parsed.Str("name"), "thread_name");
  EXPECT_EQ(parsed.At("args").Str("name"), "engine");
  EXPECT_EQ(parsed.Int("tid"), 0);
}

TEST(TimelineFormat, ClockLineCarriesRankAndBothClocks) {
  ClockOrigin origin;
  origin.rank = 3;
  origin.size = 4;
  origin.hostname = "node\"1";
  origin.steady_origin_us = 987654321;
  origin.system_origin_us = 1700000000123456;
  std::string line;
  AppendClockLine(&line, origin);
  Json parsed = ParseLine(line);
  EXPECT_EQ(parsed.Str("name"), "bluefog_clock");
  EXPECT_EQ(parsed.Str("ph"), "M");
  const Json& args = parsed.At("args");
  EXPECT_EQ(args.Int("rank"), 3);
  EXPECT_EQ(args.Int("size"), 4);
  EXPECT_EQ(args.Str("hostname"), "node\"1");
  EXPECT_EQ(args.Int("steady_origin_us"), 987654321);
  EXPECT_EQ(args.Int("system_origin_us"), 1700000000123456);
  EXPECT_NE(line.find("\"system_origin_us\": 1700000000123456}"), std::string::npos) << line;
}

}  // namespace
}  // namespace timeline
}  // namespace bluefog
