#include "bluefog/core/status.h"

namespace bluefog {

void Status::ThrowIfError() const {
  switch (code_) {
    case StatusCode::kOk:
      return;
    case StatusCode::kInvalidArgument:
      throw InvalidArgument(message_);
    case StatusCode::kTimeout:
      throw TimeoutError(message_);
    case StatusCode::kPeerFailure:
      throw PeerFailureError(message_);
    case StatusCode::kMismatch:
      throw MismatchError(message_);
    case StatusCode::kShutdown:
      throw ShutdownError(message_);
    case StatusCode::kInternal:
      break;
  }
  throw InternalError(message_);
}

}  // namespace bluefog
