#include "timeline_format.h"

namespace bluefog {
namespace timeline {
namespace {

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence starting at text[i] (a byte of
// 0x80 or more), or 0 when it is not one (overlong forms and surrogates
// included).
size_t Utf8SequenceLength(std::string_view text, size_t i) {
  auto at = [&](size_t k) -> unsigned char {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0;
  };
  unsigned char c = at(0);
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  size_t length;
  if (c >= 0xC2 && c <= 0xDF) {
    length = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    length = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    length = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (at(1) < lo || at(1) > hi) return 0;
  for (size_t k = 2; k < length; ++k)
    if (!IsContinuation(at(k))) return 0;
  return length;
}

// Appends the escaped form of the character at text[i]; returns how many
// input bytes it took.
size_t AppendEscapedChar(std::string* out, std::string_view text, size_t i) {
  unsigned char c = static_cast<unsigned char>(text[i]);
  switch (c) {
    case '"': out->append("\\\""); return 1;
    case '\\': out->append("\\\\"); return 1;
    case '\n': out->append("\\n"); return 1;
    case '\r': out->append("\\r"); return 1;
    case '\t': out->append("\\t"); return 1;
    case '\b': out->append("\\b"); return 1;
    case '\f': out->append("\\f"); return 1;
    default: break;
  }
  if (c < 0x20) {
    static const char kHex[] = "0123456789abcdef";
    out->append("\\u00");
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 0xF]);
    return 1;
  }
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
    return 1;
  }
  size_t length = Utf8SequenceLength(text, i);
  if (length == 0) {
    out->append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
    return 1;
  }
  out->append(text.substr(i, length));
  return length;
}

void AppendInt(std::string* out, int64_t value) { out->append(std::to_string(value)); }

// `"pid": P, "tid": T`
void AppendPidTid(std::string* out, int pid, int tid) {
  out->append("\"pid\": ");
  AppendInt(out, pid);
  out->append(", \"tid\": ");
  AppendInt(out, tid);
}

void AppendArgs(std::string* out, std::string_view args) {
  if (args.empty()) return;
  out->append(", \"args\": ");
  out->append(args);
}

// `{"name": "<metadata>", "ph": "M", "pid": P, "tid": T, "args": {"name": "<name>"}},`
void AppendNamingLine(std::string* out, const char* metadata, int pid, int tid,
                      std::string_view name) {
  out->append("{\"name\": \"");
  out->append(metadata);
  out->append("\", \"ph\": \"M\", ");
  AppendPidTid(out, pid, tid);
  out->append(", \"args\": {\"name\": ");
  AppendJsonString(out, name);
  out->append("}},\n");
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view text, size_t max_bytes) {
  static const char kEllipsis[] = "...";
  const size_t reserve = sizeof(kEllipsis) - 1;
  if (max_bytes < reserve) max_bytes = reserve;
  out->push_back('"');
  const size_t start = out->size();
  size_t cut = start;  // the last character boundary that leaves room for "..."
  bool truncated = false;
  for (size_t i = 0; i < text.size();) {
    if (out->size() - start <= max_bytes - reserve) cut = out->size();
    i += AppendEscapedChar(out, text, i);
    if (out->size() - start > max_bytes) {
      truncated = true;
      break;
    }
  }
  if (truncated) {
    out->resize(cut);
    out->append(kEllipsis);
  }
  out->push_back('"');
}

void AppendClockLine(std::string* out, const ClockOrigin& origin) {
  out->append("{\"name\": \"bluefog_clock\", \"ph\": \"M\", ");
  AppendPidTid(out, 0, 0);
  out->append(", \"args\": {\"rank\": ");
  AppendInt(out, origin.rank);
  out->append(", \"size\": ");
  AppendInt(out, origin.size);
  out->append(", \"hostname\": ");
  AppendJsonString(out, origin.hostname);
  out->append(", \"steady_origin_us\": ");
  AppendInt(out, origin.steady_origin_us);
  out->append(", \"system_origin_us\": ");
  AppendInt(out, origin.system_origin_us);
  out->append("}},\n");
}

void AppendTensorRowLines(std::string* out, int pid, int tid,
                          std::string_view tensor_name) {
  AppendNamingLine(out, "process_name", pid, tid, tensor_name);
  out->append("{\"name\": \"process_sort_index\", \"ph\": \"M\", ");
  AppendPidTid(out, pid, tid);
  out->append(", \"args\": {\"sort_index\": ");
  AppendInt(out, pid);
  out->append("}},\n");
}

void AppendThreadNameLine(std::string* out, int pid, int tid,
                          std::string_view thread_name) {
  AppendNamingLine(out, "thread_name", pid, tid, thread_name);
}

void AppendEventLine(std::string* out, char phase, std::string_view name,
                     int64_t ts_us, int pid, int tid, int64_t dur_us,
                     std::string_view args) {
  out->append("{\"ph\": \"");
  out->push_back(phase);
  out->push_back('"');
  if (phase != 'E') {
    out->append(", \"name\": ");
    AppendJsonString(out, name);
  }
  out->append(", \"ts\": ");
  AppendInt(out, ts_us);
  if (phase == 'X') {
    out->append(", \"dur\": ");
    AppendInt(out, dur_us);
  }
  out->append(", ");
  AppendPidTid(out, pid, tid);
  if (phase == 'i') out->append(", \"s\": \"t\"");
  AppendArgs(out, args);
  out->append("},\n");
}

void AppendMetadataLine(std::string* out, std::string_view name, std::string_view args) {
  out->append("{\"name\": ");
  AppendJsonString(out, name);
  out->append(", \"ph\": \"M\", ");
  AppendPidTid(out, 0, 0);
  AppendArgs(out, args);
  out->append("},\n");
}

}  // namespace timeline
}  // namespace bluefog
