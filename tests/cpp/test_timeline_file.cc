// TimelineFile: page boundaries never fall inside a chunk, so a reader racing
// a write never sees half an event; open errors name the path.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "bluefog/core/status.h"
#include "timeline_file.h"

namespace bluefog {
namespace timeline {
namespace {

std::string TempPath(const std::string& leaf) {
  std::string dir = ::testing::TempDir();
  if (!dir.empty() && dir.back() != '/') dir += '/';
  return dir + leaf + "_" + std::to_string(::getpid());
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST(TimelineFile, PageBoundariesFallBetweenChunks) {
  std::string path = TempPath("tl_pages");
  TimelineFile file;
  file.Open(path);
  std::mt19937 random(7);
  std::string expected_lines;
  for (int round = 0; round < 20; ++round) {
    for (int k = 0; k < 50; ++k) {
      size_t length = 1 + random() % kPageBytes;  // up to a whole page
      std::string chunk(length - 1, 'a' + static_cast<char>(k % 26));
      chunk += '\n';
      file.Append(chunk);
      expected_lines += chunk;
    }
    ASSERT_TRUE(file.Write()) << file.error();
  }
  file.Close();
  std::string text = ReadAll(path);
  EXPECT_EQ(static_cast<int64_t>(text.size()), file.bytes_written());
  EXPECT_GT(text.size(), 20 * kPageBytes);
  for (size_t boundary = kPageBytes; boundary <= text.size(); boundary += kPageBytes) {
    size_t end = boundary;
    while (end > 0 && text[end - 1] == ' ') --end;
    ASSERT_TRUE(end == 0 || text[end - 1] == '\n') << "a chunk straddles offset " << boundary;
  }
  // Padding is the only addition: removing it gives back the chunks.
  std::string unpadded;
  for (char c : text)
    if (c != ' ') unpadded += c;
  EXPECT_EQ(unpadded, expected_lines);
  std::remove(path.c_str());
}

TEST(TimelineFile, ChunkThatFitsIsNotPadded) {
  std::string path = TempPath("tl_nopad");
  TimelineFile file;
  file.Open(path);
  file.Append(std::string(kPageBytes - 10, 'x'));
  file.Append(std::string(10, 'y'));  // ends exactly at the boundary
  file.Append(std::string(5, 'z'));
  ASSERT_TRUE(file.Write());
  file.Close();
  EXPECT_EQ(ReadAll(path), std::string(kPageBytes - 10, 'x') + std::string(10, 'y') + "zzzzz");
  std::remove(path.c_str());
}

TEST(TimelineFile, OpenTruncatesAnOldFile) {
  std::string path = TempPath("tl_trunc");
  {
    std::ofstream old(path);
    old << "old contents that must go";
  }
  TimelineFile file;
  file.Open(path);
  file.Append("[\n");
  ASSERT_TRUE(file.Write());
  file.Close();
  EXPECT_EQ(ReadAll(path), "[\n");
  std::remove(path.c_str());
}

TEST(TimelineFile, OpenErrorNamesThePathAndTheReason) {
  std::string path = TempPath("no_such_dir") + "/timeline0.json";
  TimelineFile file;
  try {
    file.Open(path);
    FAIL() << "no exception";
  } catch (const InvalidArgument& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("No such file or directory"), std::string::npos) << message;
  }
  EXPECT_FALSE(file.is_open());
  file.Append("x\n");
  EXPECT_FALSE(file.Write());
}

}  // namespace
}  // namespace timeline
}  // namespace bluefog
