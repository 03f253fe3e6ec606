// An append-only timeline file that a reader may parse at any moment.
//
// Linux makes a growing file visible page by page: a reader racing a write
// may see it end at any 4096-byte boundary the write has crossed. So no
// chunk of lines is let straddle such a boundary: when a chunk would, spaces
// pad the file up to the boundary first (whitespace between JSON array
// elements is valid). What a reader sees always ends at the end of a line
// or in padding, never inside an event.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bluefog {
namespace timeline {

constexpr size_t kPageBytes = 4096;

class TimelineFile {
 public:
  TimelineFile() = default;
  ~TimelineFile();
  TimelineFile(const TimelineFile&) = delete;
  TimelineFile& operator=(const TimelineFile&) = delete;

  // Creates or truncates `path`. Throws InvalidArgument naming the path and
  // the system's reason when it cannot.
  void Open(const std::string& path);
  bool is_open() const { return fd_ >= 0; }

  // Queues `chunk` (whole lines, at most kPageBytes long; a longer one may be
  // seen cut) after padding, if needed, to the next page boundary.
  void Append(std::string_view chunk);
  // Writes what Append queued, with as few write calls as the system allows.
  // Returns false (and keeps nothing) when the system refuses the write;
  // `error()` then says why.
  bool Write();
  void Close();

  const std::string& error() const { return error_; }
  int64_t bytes_written() const { return offset_; }

 private:
  int fd_ = -1;
  int64_t offset_ = 0;  // bytes in the file
  std::string pending_;
  std::string error_;
};

}  // namespace timeline
}  // namespace bluefog
