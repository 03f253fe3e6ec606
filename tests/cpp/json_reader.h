// A small strict JSON reader for the timeline tests: parses what a trace
// viewer or Python's json module would, and fails on anything else.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace bluefog {
namespace testing {

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;  // decoded (UTF-8)
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  // The member `key` of an object, or nullptr.
  const Json* Find(const std::string& key) const {
    for (const auto& m : members)
      if (m.first == key) return &m.second;
    return nullptr;
  }
  const Json& At(const std::string& key) const {
    const Json* j = Find(key);
    if (j == nullptr) throw std::runtime_error("no member '" + key + "'");
    return *j;
  }
  int64_t Int(const std::string& key) const { return static_cast<int64_t>(At(key).number); }
  const std::string& Str(const std::string& key) const { return At(key).string; }
};

// Throws std::runtime_error with the offset on malformed input.
Json ParseJson(const std::string& text);

// What a reader of a live timeline does (Python:
// json.loads(text.rstrip().rstrip(',') + ']')).
inline Json ParseOpenArray(const std::string& text) {
  size_t end = text.size();
  while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == '\n' || text[end - 1] == '\t' ||
                     text[end - 1] == '\r'))
    --end;
  while (end > 0 && text[end - 1] == ',') --end;
  return ParseJson(text.substr(0, end) + "]");
}

}  // namespace testing
}  // namespace bluefog
