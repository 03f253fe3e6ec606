// Checks for the LibTorch API tests, which run under mpiexec: a failed
// CHECK prints the rank and the line, and returns 1 from the test function.
#pragma once
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <string>

#include "bluefog/core/status.h"

// This process's rank, set once bluefog is initialised (printing it must not
// need a running bluefog).
inline int& TestRank() {
  static int rank = -1;
  return rank;
}

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "rank %d: check failed at %s:%d: %s\n",            \
                   TestRank(), __FILE__, __LINE__, #cond);                   \
      return 1;                                                              \
    }                                                                        \
  } while (0)

// Whether `call` throws an E whose message holds every one of `words`.
template <typename E = bluefog::InvalidArgument>
bool Throws(const std::function<void()>& call, std::initializer_list<const char*> words) {
  try {
    call();
  } catch (const E& e) {
    for (const char* w : words)
      if (std::string(e.what()).find(w) == std::string::npos) return false;
    return true;
  } catch (...) {
    return false;
  }
  return false;
}
