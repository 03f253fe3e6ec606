#include "timeline_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bluefog/core/status.h"

namespace bluefog {
namespace timeline {

TimelineFile::~TimelineFile() { Close(); }

void TimelineFile::Open(const std::string& path) {
  Close();
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw InvalidArgument("cannot open the timeline file '" + path +
                          "' for writing: " + std::strerror(errno));
  offset_ = 0;
  pending_.clear();
  error_.clear();
}

void TimelineFile::Append(std::string_view chunk) {
  size_t in_page = static_cast<size_t>(offset_ + pending_.size()) % kPageBytes;
  if (in_page != 0 && in_page + chunk.size() > kPageBytes)
    pending_.append(kPageBytes - in_page, ' ');
  pending_.append(chunk);
}

bool TimelineFile::Write() {
  if (fd_ < 0) {
    pending_.clear();
    return false;
  }
  size_t done = 0;
  while (done < pending_.size()) {
    ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = std::strerror(n < 0 ? errno : EIO);
      pending_.clear();
      return false;
    }
    done += static_cast<size_t>(n);
    offset_ += n;
  }
  pending_.clear();
  return true;
}

void TimelineFile::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  pending_.clear();
}

}  // namespace timeline
}  // namespace bluefog
