// Lists of transport requests that the engine thread polls.
#pragma once
#include <string>

#include "bluefog/core/transport.h"

namespace bluefog {

// Takes the entries of `list` whose request completed out of it and hands
// each to on_done(entry, error) (error empty on success); returns whether
// any did. on_done may add entries to the list.
template <typename List, typename RequestOf, typename OnDone>
bool TakeCompleted(Transport& transport, List* list, RequestOf request_of, OnDone on_done) {
  bool any = false;
  for (size_t i = 0; i < list->size();) {
    std::string error;
    if (!transport.Test(request_of((*list)[i]), &error)) {
      ++i;
      continue;
    }
    any = true;
    auto done = std::move((*list)[i]);
    if (i + 1 != list->size()) (*list)[i] = std::move(list->back());
    list->pop_back();
    on_done(done, error);
  }
  return any;
}

// Forgets the requests of `list` that completed (nothing waits on them).
template <typename List, typename RequestOf>
void DropCompleted(Transport& transport, List* list, RequestOf request_of) {
  TakeCompleted(transport, list, request_of, [](const auto&, const std::string&) {});
}

}  // namespace bluefog
